"""Numba fragments of the plasticity mechanisms (see :mod:`snn.backends.numba_plasticity`).

A trace ``x`` is stored scaled to a per-mechanism epoch step ``e``: ``xs = x exp((k - e) dt/tau)``
is constant between the neuron's spikes, so reading ``x`` at step ``k`` is one load and one
multiply by ``exp(-(k - e) dt/tau)``, a factor computed once per spike (not per synapse), and
nothing is done for neurons that do not spike. A jump at step ``k`` adds (or sets)
``increment * exp((k - e) dt/tau)``. Before ``(k - e) dt/tau`` reaches 500 (far from overflow),
every stored value is rescaled and the epoch moves to the current step (a pass over the
neurons every ``500 tau/dt`` steps).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from plasticity import expressions
from plasticity._shared import epoch_arrays
from plasticity.homeostasis import SynapticScaling, TargetRateScaling
from plasticity.modulation import ThreeFactor
from plasticity.stdp import TraceRule
from snn.backends import implements
from snn.backends.numba_plasticity import NumbaPlasticity


def trace_arrays(side: str, traces: dict, used: list[str], n: int, dt: float) -> dict[str, object]:
    """The scaled traces of one side as one ``(n, len(used))`` array (a synapse reads one
    cache line) and each trace's rate ``dt / tau``."""
    out: dict[str, object] = {f"{side}_tr": np.zeros((n, max(1, len(used))), np.float64)}
    for name in used:
        out[f"{side}_rate_{name}"] = dt / traces[name].tau
    return out


def factors(rule: TraceRule, key: str) -> str:
    """Locals ``%E_side_name = exp(-(k - epoch) rate)`` of every trace expression ``key`` reads."""
    c = rule.compiled()
    return "\n".join(f"%E_{side}_{name} = np.exp(-($k - @epoch[0]) * @{side}_rate_{name})"
                     for side in ("pre", "post") for name in c[f"{key}_{side}"])


def own(rule: TraceRule, key: str, side: str, neuron: str) -> str:
    """Locals ``%side_name``: the traces of ``side`` that ``key`` reads, for ``neuron``."""
    c = rule.compiled()
    used = c[f"{side}_uses"]
    return "\n".join(f"%{side}_{name} = @{side}_tr[{neuron}, {used.index(name)}] * %E_{side}_{name}"
                     for name in c[f"{key}_{side}"])


def jump_traces(side: str, traces: dict, names: list[str]) -> str:
    """After the updates: the traces of the neurons of ``side`` that fired jump."""
    if not names:
        return ""
    lines = [f"%G_{side}_{name} = np.exp(($k - @epoch[0]) * @{side}_rate_{name})" for name in names]
    lines += [f"for s in range(@{side}_nspikes):", f"    %u = @{side}_spikes[s]"]
    for col, name in enumerate(names):
        tr, arr = traces[name], f"@{side}_tr[%u, {col}]"
        step = f"{tr.increment!r} * %G_{side}_{name}"
        lines.append(f"    {arr} = {step}" if tr.mode == "set" else f"    {arr} = {arr} + {step}")
    return "\n".join(lines)


def rescale(rule: TraceRule) -> str:
    """Every ``@renorm`` steps: rescale the stored traces to a new epoch ``k + 1``."""
    c = rule.compiled()
    if not (c["pre_uses"] or c["post_uses"]):
        return ""
    lines = ["if $k + 1 - @epoch[0] >= @renorm:", "    %d = $k + 1 - @epoch[0]"]
    for side in ("pre", "post"):
        for col, name in enumerate(c[f"{side}_uses"]):
            lines += [f"    %f = np.exp(-%d * @{side}_rate_{name})",
                      f"    for %u in range(@{side}_tr.shape[0]):",
                      f"        @{side}_tr[%u, {col}] = @{side}_tr[%u, {col}] * %f"]
    lines.append("    @epoch[0] = $k + 1")
    return "\n".join(lines)


def rule_names(rule: TraceRule) -> dict[str, str]:
    """How the expressions' names read in a fragment."""
    rename = {"w": "$w"}
    rename.update({name: f"%pre_{name}" for name in rule.pre_traces()})
    rename.update({name: f"%post_{name}" for name in rule.post_traces()})
    rename.update({name: f"@c_{name}" for name in rule.constants()})
    return rename


@implements(TraceRule, "numba")
class NumbaTraceRule(NumbaPlasticity):
    """Event-driven STDP: ``w = clip(w + on_pre)`` along a firing pre neuron's row,
    ``w = clip(w + on_post)`` along a firing post neuron's column, then trace jumps."""

    def arrays(self, mech, proj, n_pre, n_post, dt):
        c = mech.compiled()
        out = {**trace_arrays("pre", c["pre_traces"], c["pre_uses"], n_pre, dt),
               **trace_arrays("post", c["post_traces"], c["post_uses"], n_post, dt),
               **epoch_arrays(mech, dt)}
        out.update({f"c_{name}": value for name, value in mech.constants().items()})
        return out

    def _update(self, mech, key: str) -> str:
        expr = expressions.to_source(mech.compiled()[key], rule_names(mech))
        return f"$w = min(max($w + {expr}, @c_w_min), @c_w_max)"

    def pre_row(self, mech):
        return factors(mech, "on_pre") + "\n" + own(mech, "on_pre", "pre", "$i")

    def pre_synapse(self, mech):
        return own(mech, "on_pre", "post", "$j") + "\n" + self._update(mech, "on_pre")

    def post_neuron(self, mech):
        return factors(mech, "on_post") + "\n" + own(mech, "on_post", "post", "$j")

    def post_synapse(self, mech):
        return own(mech, "on_post", "pre", "$i") + "\n" + self._update(mech, "on_post")

    def after(self, mech):
        c = mech.compiled()
        return "\n".join(part for part in (
            jump_traces("pre", c["pre_traces"], c["pre_uses"]),
            jump_traces("post", c["post_traces"], c["post_uses"]), rescale(mech)) if part)


def _integrate(mech) -> str:
    """Bring synapse ``$q``'s weight and eligibility from its last update to step ``$k``."""
    return """
%n = $k - @elast[$q]
%a = @elast[$q] - @mod_step[0]
%ml = @mod[0] * (@tab_m[%a] if %a < @tab_m.shape[0] else np.exp(-%a * @rate_m))
%g = (@tab_g[%n] if %n < @tab_g.shape[0] else @tau_c * (1.0 - np.exp(-%n * @rate_c)))
$w = min(max($w + @lr * %ml * @elig[$q] * %g, @c_w_min), @c_w_max)
@elig[$q] = @elig[$q] * (@tab_e[%n] if %n < @tab_e.shape[0] else np.exp(-%n * @rate_e))
@elast[$q] = $k
"""


@njit(cache=True, nogil=True, error_model="numpy")
def flush_three_factor(k, w, elig, elast, mod, mod_step, tab_e, rate_e, tab_g, tau_c, rate_c,
                       tab_m, rate_m, lr, w_min, w_max):
    """Every synapse brought up to step ``k`` (the same operations as :func:`_integrate`)."""
    for q in range(w.shape[0]):
        n = k - elast[q]
        a = elast[q] - mod_step[0]
        ml = mod[0] * (tab_m[a] if a < tab_m.shape[0] else np.exp(-a * rate_m))
        g = (tab_g[n] if n < tab_g.shape[0] else tau_c * (1.0 - np.exp(-n * rate_c)))
        w[q] = min(max(w[q] + lr * ml * elig[q] * g, w_min), w_max)
        elig[q] = elig[q] * (tab_e[n] if n < tab_e.shape[0] else np.exp(-n * rate_e))
        elast[q] = k


@implements(ThreeFactor, "numba")
class NumbaThreeFactor(NumbaPlasticity):
    """The rule's terms feed ``elig``; weights integrate ``lr M e`` lazily per synapse."""

    def arrays(self, mech, proj, n_pre, n_post, dt):
        rule = mech.rule
        out = NumbaTraceRule().arrays(rule, proj, n_pre, n_post, dt)
        out.update(mech.tables(dt))
        out.update({"elig": np.zeros(proj.n_synapses), "elast": np.zeros(proj.n_synapses, np.int64),
                    "mod": np.array([mech.initial]), "mod_step": np.zeros(1, np.int64),
                    "lr": mech.lr, "increment": mech.increment})
        return out

    def populations(self, mech):
        return {"src": mech.source} if mech.source is not None else {}

    def _event(self, mech, key: str) -> str:
        expr = expressions.to_source(mech.rule.compiled()[key], rule_names(mech.rule))
        return _integrate(mech) + f"@elig[$q] = @elig[$q] + {expr}"

    def pre_row(self, mech):
        return NumbaTraceRule().pre_row(mech.rule)

    def pre_synapse(self, mech):
        return own(mech.rule, "on_pre", "post", "$j") + "\n" + self._event(mech, "on_pre")

    def post_neuron(self, mech):
        return NumbaTraceRule().post_neuron(mech.rule)

    def post_synapse(self, mech):
        return own(mech.rule, "on_post", "pre", "$i") + "\n" + self._event(mech, "on_post")

    def after(self, mech):
        code = NumbaTraceRule().after(mech.rule)
        if mech.source is None:
            return code
        flush = "\n".join("        " + line for line in _integrate(mech).strip().splitlines())
        return code + f"""
if @src_nspikes > 0:
    for q in range(@w.shape[0]):
{flush}
    %ms = $k - @mod_step[0]
    @mod[0] = @mod[0] * (@tab_m[%ms] if %ms < @tab_m.shape[0] else np.exp(-%ms * @rate_m)) \\
        + @src_nspikes * @increment
    @mod_step[0] = $k
"""

    def finish(self, mech, arrays: dict, k: int) -> None:
        a = arrays
        flush_three_factor(k, a["w"], a["elig"], a["elast"], a["mod"], a["mod_step"], a["tab_e"],
                           a["rate_e"], a["tab_g"], a["tau_c"], a["rate_c"], a["tab_m"], a["rate_m"],
                           a["lr"], mech.rule.w_min, mech.rule.w_max)

    def set_modulator(self, mech, arrays: dict, k: int, value: float) -> None:
        self.finish(mech, arrays, k)
        arrays["mod"][0] = value
        arrays["mod_step"][0] = k




@implements(SynapticScaling, "numba")
class NumbaSynapticScaling(NumbaPlasticity):
    """Column sums in CSR order, then one factor per post neuron."""

    def arrays(self, mech, proj, n_pre, n_post, dt):
        return {"sums": np.zeros(n_post), "target": mech.target, "every": mech.every}

    def after(self, mech):
        return """
if ($k + 1) % @every == 0:
    for %j in range(@n_post):
        @sums[%j] = 0.0
    for q in range(@w.shape[0]):
        @sums[@indices[q]] += $w
    for q in range(@w.shape[0]):
        %s = @sums[@indices[q]]
        if %s > 0.0:
            $w = $w * (@target / %s)
"""


@implements(TargetRateScaling, "numba")
class NumbaTargetRateScaling(NumbaPlasticity):
    """Counts post spikes; at the end of each period scales the columns."""

    def arrays(self, mech, proj, n_pre, n_post, dt):
        return {"counts": np.zeros(n_post), "factor": np.zeros(n_post), "period_s": mech.every * dt,
                "target_rate": mech.target_rate, "gain": mech.gain, "every": mech.every}

    def after(self, mech):
        return """
for s in range(@post_nspikes):
    @counts[@post_spikes[s]] += 1.0
if ($k + 1) % @every == 0:
    for %j in range(@n_post):
        @factor[%j] = max(0.0, 1.0 + @gain * (@target_rate - @counts[%j] / @period_s) / @target_rate)
        @counts[%j] = 0.0
    for q in range(@w.shape[0]):
        $w = $w * @factor[@indices[q]]
"""


__all__ = ["NumbaSynapticScaling", "NumbaTargetRateScaling", "NumbaThreeFactor", "NumbaTraceRule",
           "factors", "flush_three_factor", "jump_traces", "own", "rescale", "trace_arrays"]
