"""A plain NumPy per-step implementation of trace rules, to check the event-driven backends.

It walks every step, decays every trace by ``exp(-dt/tau)`` each step (not lazily), and
applies the rule's expressions to the synapses whose pre or post neuron fired, in the order
the backends promise (pre updates, post updates, trace jumps). Spikes are given, not
simulated, so the weights it returns depend only on the rule and the spike trains.
"""

from __future__ import annotations

import numpy as np

from plasticity import expressions
from plasticity.stdp import TraceRule


def _fired(spikes: list, n: int, n_steps: int) -> np.ndarray:
    out = np.zeros((n_steps, n), dtype=bool)
    for i, steps in enumerate(spikes):
        steps = np.asarray(steps, dtype=np.int64)
        out[steps[steps < n_steps], i] = True
    return out


def reference_weights(rule: TraceRule, pre: np.ndarray, post: np.ndarray, w0: np.ndarray,
                      pre_spikes: list, post_spikes: list, n_steps: int, dt: float) -> np.ndarray:
    """Weights after ``n_steps`` steps of ``dt`` seconds.

    Args:
        rule: the STDP rule.
        pre, post: presynaptic and postsynaptic neuron of each synapse.
        w0: initial weight of each synapse.
        pre_spikes, post_spikes: one sequence of firing steps per pre (post) neuron.
    """
    pre, post = np.asarray(pre, np.int64), np.asarray(post, np.int64)
    w = np.array(w0, dtype=np.float64)
    c = rule.compiled()
    fp = _fired(pre_spikes, len(pre_spikes), n_steps)
    fq = _fired(post_spikes, len(post_spikes), n_steps)
    sides = [(rule.pre_traces(), len(pre_spikes)), (rule.post_traces(), len(post_spikes))]
    traces = [{k: np.zeros(n) for k in tr} for tr, n in sides]
    decay = [{k: np.exp(-dt / t.tau) for k, t in tr.items()} for tr, _ in sides]
    consts = rule.constants()
    for k in range(n_steps):
        for side in (0, 1):
            for name in traces[side]:
                traces[side][name] *= decay[side][name]
        for key, fired, idx in (("on_pre", fp[k], pre), ("on_post", fq[k], post)):
            sel = np.flatnonzero(fired[idx])
            if sel.size == 0:
                continue
            values = {"w": w[sel], **consts}
            values.update({n: v[pre[sel]] for n, v in traces[0].items()})
            values.update({n: v[post[sel]] for n, v in traces[1].items()})
            dw = expressions.evaluate(c[key], values, expressions.NUMPY_FUNCTIONS)
            w[sel] = np.minimum(np.maximum(w[sel] + dw, rule.w_min), rule.w_max)
        for side, fired in ((0, fp[k]), (1, fq[k])):
            for name, tr in sides[side][0].items():
                x = traces[side][name]
                x[fired] = tr.increment if tr.mode == "set" else x[fired] + tr.increment
    return w


__all__ = ["reference_weights"]
