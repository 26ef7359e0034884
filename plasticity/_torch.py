"""Torch implementations of the plasticity mechanisms (see :mod:`snn.backends.torch.plasticity`).

They follow the numba fragments (:mod:`plasticity._numba`) operation for operation on the
tensors of the synapses that see a spike, so float64 CPU runs agree bit for bit.
"""

from __future__ import annotations

import math

import torch

from plasticity import expressions
from plasticity._shared import epoch_arrays, used_in
from plasticity.homeostasis import SynapticScaling, TargetRateScaling
from plasticity.modulation import ThreeFactor
from plasticity.stdp import TraceRule
from snn.backends import implements
from snn.backends.torch import libm as torch_libm
from snn.backends.torch.plasticity import TorchPlasticity


def _exp(x):
    return torch_libm.exp(x) if isinstance(x, torch.Tensor) else math.exp(x)


def _pair(fn_tensors, fn_scalars):
    def apply(a, b):
        ta, tb = isinstance(a, torch.Tensor), isinstance(b, torch.Tensor)
        if ta and tb:
            return fn_tensors(a, b)
        if ta or tb:
            t, s = (a, b) if ta else (b, a)
            return fn_tensors(t, torch.full_like(t, s))
        return fn_scalars(a, b)
    return apply


TORCH_FUNCTIONS = {"exp": _exp, "min": _pair(torch.minimum, min), "max": _pair(torch.maximum, max),
                   "abs": abs}


def trace_state(side: str, traces: dict, used: list[str], n: int, dt: float, device) -> dict:
    """The scaled traces of one side (``(n, len(used))``) and each trace's rate ``dt / tau``."""
    st = {f"{side}_tr": torch.zeros((n, max(1, len(used))), dtype=torch.float64, device=device),
          f"{side}_uses": list(used)}
    for name in used:
        st[f"{side}_rate_{name}"] = dt / traces[name].tau
    return st


def read(st: dict, side: str, names: list[str], idx: torch.Tensor, k: int) -> dict:
    """The traces ``names`` of neurons ``idx`` at step ``k`` (stored value times
    ``exp(-(k - epoch) rate)``)."""
    used, tr = st[f"{side}_uses"], st[f"{side}_tr"]
    return {name: tr[idx, used.index(name)] * math.exp(-(k - st["epoch"]) * st[f"{side}_rate_{name}"])
            for name in names}


def jump(st: dict, side: str, traces: dict, names: list[str], fired: torch.Tensor, k: int) -> None:
    """The traces of the neurons ``fired`` jump at step ``k``."""
    if not names or fired.numel() == 0:
        return
    tr = st[f"{side}_tr"]
    for col, name in enumerate(names):
        step = traces[name].increment * math.exp((k - st["epoch"]) * st[f"{side}_rate_{name}"])
        if traces[name].mode == "set":
            tr[fired, col] = step
        else:
            tr[fired, col] = tr[fired, col] + step


def rescale(st: dict, k: int) -> None:
    """Every ``renorm`` steps: rescale the stored traces to a new epoch ``k + 1``."""
    if k + 1 - st["epoch"] < st["renorm"]:
        return
    d = k + 1 - st["epoch"]
    for side in ("pre", "post"):
        for col, name in enumerate(st[f"{side}_uses"]):
            st[f"{side}_tr"][:, col] *= math.exp(-d * st[f"{side}_rate_{name}"])
    st["epoch"] = k + 1


@implements(TraceRule, "torch")
class TorchTraceRule(TorchPlasticity):
    """Event-driven STDP on tensors (see :class:`plasticity._numba.NumbaTraceRule`)."""

    def setup(self, mech, proj, n_pre, n_post, dt, device):
        c = mech.compiled()
        epoch = epoch_arrays(mech, dt)
        return {**trace_state("pre", c["pre_traces"], c["pre_uses"], n_pre, dt, device),
                **trace_state("post", c["post_traces"], c["post_uses"], n_post, dt, device),
                "epoch": 0, "renorm": epoch["renorm"]}

    def _apply(self, mech, st, w, q, i, j, k, key):
        values = {"w": w[q], **mech.compiled()["constants"]}
        values.update(read(st, "pre", used_in(mech, key, "pre"), i, k))
        values.update(read(st, "post", used_in(mech, key, "post"), j, k))
        dw = expressions.evaluate(mech.compiled()[key], values, TORCH_FUNCTIONS)
        w[q] = torch.clamp(w[q] + dw, mech.w_min, mech.w_max)

    def on_pre(self, mech, st, w, q, i, j, k):
        self._apply(mech, st, w, q, i, j, k, "on_pre")

    def on_post(self, mech, st, w, q, i, j, k):
        self._apply(mech, st, w, q, i, j, k, "on_post")

    def after(self, mech, st, w, pre, post, k, others):
        c = mech.compiled()
        jump(st, "pre", c["pre_traces"], c["pre_uses"], pre, k)
        jump(st, "post", c["post_traces"], c["post_uses"], post, k)
        rescale(st, k)




def _lookup(table: torch.Tensor, n: torch.Tensor, far) -> torch.Tensor:
    """``table[n]``, or ``far(n)`` where ``n`` is past the table's end."""
    size = table.shape[0]
    out = table[torch.clamp(n, max=size - 1)]
    beyond = n >= size
    if bool(beyond.any()):
        out = torch.where(beyond, far(n.to(torch.float64)), out)
    return out


@implements(ThreeFactor, "torch")
class TorchThreeFactor(TorchPlasticity):
    """Eligibility x modulator (see :class:`plasticity._numba.NumbaThreeFactor`)."""

    def setup(self, mech, proj, n_pre, n_post, dt, device):
        st = TorchTraceRule().setup(mech.rule, proj, n_pre, n_post, dt, device)
        for name, value in mech.tables(dt).items():
            st[name] = torch.as_tensor(value, device=device) if hasattr(value, "shape") else value
        st.update({"elig": torch.zeros(proj.n_synapses, dtype=torch.float64, device=device),
                   "elast": torch.zeros(proj.n_synapses, dtype=torch.int64, device=device),
                   "mod": mech.initial, "mod_step": 0})
        return st

    def _integrate(self, mech, st, w, q, k):
        last = st["elast"][q]
        n, a = k - last, last - st["mod_step"]
        ml = st["mod"] * _lookup(st["tab_m"], a, lambda x: torch_libm.exp(-x * st["rate_m"]))
        g = _lookup(st["tab_g"], n, lambda x: st["tau_c"] * (1.0 - torch_libm.exp(-x * st["rate_c"])))
        w[q] = torch.clamp(w[q] + mech.lr * ml * st["elig"][q] * g, mech.rule.w_min, mech.rule.w_max)
        st["elig"][q] = st["elig"][q] * _lookup(st["tab_e"], n,
                                                lambda x: torch_libm.exp(-x * st["rate_e"]))
        st["elast"][q] = k

    def _event(self, mech, st, w, q, i, j, k, key):
        self._integrate(mech, st, w, q, k)
        rule = mech.rule
        values = {"w": w[q], **rule.compiled()["constants"]}
        values.update(read(st, "pre", used_in(rule, key, "pre"), i, k))
        values.update(read(st, "post", used_in(rule, key, "post"), j, k))
        st["elig"][q] = st["elig"][q] + expressions.evaluate(rule.compiled()[key], values,
                                                             TORCH_FUNCTIONS)

    def on_pre(self, mech, st, w, q, i, j, k):
        self._event(mech, st, w, q, i, j, k, "on_pre")

    def on_post(self, mech, st, w, q, i, j, k):
        self._event(mech, st, w, q, i, j, k, "on_post")

    def populations(self, mech):
        return {"src": mech.source} if mech.source is not None else {}

    def after(self, mech, st, w, pre, post, k, others):
        TorchTraceRule().after(mech.rule, st, w, pre, post, k, others)
        count = int(others["src"].numel()) if "src" in others else 0
        if count:
            self.finish(mech, st, w, k)
            ms = k - st["mod_step"]
            tab = st["tab_m"]
            decay = float(tab[ms]) if ms < tab.shape[0] else math.exp(-ms * st["rate_m"])
            st["mod"] = st["mod"] * decay + count * mech.increment
            st["mod_step"] = k

    def finish(self, mech, st, w, k):
        self._integrate(mech, st, w, torch.arange(w.shape[0], device=w.device), k)

    def set_modulator(self, mech, st, w, k, value):
        self.finish(mech, st, w, k)
        st["mod"], st["mod_step"] = float(value), k




@implements(SynapticScaling, "torch")
class TorchSynapticScaling(TorchPlasticity):
    """Column sums with ``index_add_`` (CSR order on the CPU, as numba), then one factor each."""

    def setup(self, mech, proj, n_pre, n_post, dt, device):
        return {"indices": torch.as_tensor(proj.indices.astype("int64"), device=device), "n": n_post}

    def after(self, mech, st, w, pre, post, k, others):
        if (k + 1) % mech.every:
            return
        sums = torch.zeros(st["n"], dtype=torch.float64, device=w.device).index_add_(0, st["indices"], w)
        s = sums[st["indices"]]
        factor = torch.div(torch.full_like(s, mech.target), s)
        w.copy_(torch.where(s > 0.0, w * factor, w))


@implements(TargetRateScaling, "torch")
class TorchTargetRateScaling(TorchPlasticity):
    """Spike counts per post neuron; at the end of each period scales the columns."""

    def setup(self, mech, proj, n_pre, n_post, dt, device):
        return {"indices": torch.as_tensor(proj.indices.astype("int64"), device=device),
                "counts": torch.zeros(n_post, dtype=torch.float64, device=device),
                "period_s": mech.every * dt}

    def after(self, mech, st, w, pre, post, k, others):
        st["counts"][post] += 1.0
        if (k + 1) % mech.every:
            return
        rate = st["counts"] / st["period_s"]
        factor = torch.clamp(1.0 + mech.gain * (mech.target_rate - rate) / mech.target_rate, min=0.0)
        w.mul_(factor[st["indices"]])
        st["counts"].zero_()


__all__ = ["TORCH_FUNCTIONS", "TorchSynapticScaling", "TorchTargetRateScaling", "TorchThreeFactor",
           "TorchTraceRule", "jump", "read", "rescale", "trace_state"]
