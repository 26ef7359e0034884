"""How the built-in neuron models run on the numba backend.

Each implementation contributes code fragments that the backend assembles into one compiled
run loop (see :mod:`snn.backends.numba`). Fragments use three kinds of token:

* ``$name``: a state variable or constant of this population; per-neuron arrays become
  ``array[j]``, scalars stay scalars. ``$k`` is the step, ``$j`` the neuron, ``$seed`` the seed.
* ``@name``: the raw argument (whole array or scalar); ``@stream`` is the population's RNG
  stream, ``@n`` its size, ``@spikes`` / ``@nspikes`` its spike list and count.
* ``%name``: a local variable private to this population.

A per-neuron ``body`` assigns the boolean ``spiked`` (it starts False); a ``prologue`` runs once
per step before the neuron loop. Implementations with ``per_neuron = False`` write ``@spikes``
and ``@nspikes`` themselves.

Write bodies so LLVM can vectorise them: read state into locals, use ``if`` blocks that only
assign locals, combine conditions with ``&`` (not ``and``), and store every state variable
unconditionally at the end. A refractory period is kept as the step at which it ends
(``refractory_until``), which costs no store unless the neuron spikes.
"""

from __future__ import annotations

import numpy as np

from snn.backends import implements
from snn.backends.common import SPIKE_ARRAY_BODY
from snn.backends.constants import (
    adaptive_conductance_lif_constants,
    adaptive_lif_constants,
    conductance_lif_constants,
    if_constants,
    li_constants,
    lif_constants,
    meta_neuron_constants,
    poisson_constants,
    ultra_dlif_constants,
    ultra_lif_constants,
)
from snn.models import (
    IF,
    LI,
    LIF,
    AdaptiveConductanceLIF,
    AdaptiveLIF,
    ConductanceLIF,
    MetaNeuron,
    PoissonSource,
    SettablePoissonSource,
    SpikeSource,
    UltraDLIF,
    UltraLIF,
)


class NumbaNeuron:
    """Base class of a model's numba implementation."""

    per_neuron = True

    def constants(self, model, n: int, dt: float) -> dict[str, object]:
        """Values the fragments read: scalars, per-neuron arrays, or other arrays."""
        return {}

    def prologue(self, model) -> str:
        """Code run once per step before the neuron loop."""
        return ""

    def body(self, model) -> str:
        """Per-neuron update code (or the whole population's code if not ``per_neuron``)."""
        raise NotImplementedError


def _fire_code(model) -> str:
    """Shared tail of integrate-and-fire bodies: given the candidate ``v`` (from ``v0``) and
    ``r`` (refractory end), hold v while refractory, fire, reset, and store v and r."""
    reset = "v = $v_reset" if model.reset == "value" else "v -= $v_thresh - $v_reset"
    return f"""
active = $k >= r
if not active:
    v = v0
spiked = active & (v > $v_thresh)
if spiked:
    {reset}
    r = $k + $n_ref + 1
$v = v
$refractory_until = r
"""


def _adaptive_fire_code(model, base: str) -> str:
    """Shared tail of adaptive-threshold bodies: like :func:`_fire_code` with the threshold
    ``base + theta`` (``%th``, already decayed this step), which a spike raises by
    ``theta_plus``; also stores theta."""
    reset = "v = $v_reset" if model.reset == "value" else "v -= %thr - $v_reset"
    return f"""
active = $k >= r
if not active:
    v = v0
%thr = {base} + %th
spiked = active & (v > %thr)
if spiked:
    {reset}
    %th += $theta_plus
    r = $k + $n_ref + 1
$v = v
$theta = %th
$refractory_until = r
"""


@implements(LIF, "numba")
class NumbaLIF(NumbaNeuron):
    """Exact integration: v, i_exc, i_inh are a linear system solved over one step."""

    def constants(self, model, n, dt):
        return lif_constants(model, n, dt)

    def body(self, model):
        return """
ie = $i_exc
ii = $i_inh
v0 = $v
r = $refractory_until
v = v0 * $em + $c0 + ie * $ke + ii * $ki
$i_exc = ie * $de
$i_inh = ii * $di
""" + _fire_code(model)


@implements(IF, "numba")
class NumbaIF(NumbaNeuron):
    """Delta synapses: the input of one step is added to v unless refractory."""

    def constants(self, model, n, dt):
        return if_constants(model, n, dt)

    def body(self, model):
        return """
v0 = $v
r = $refractory_until
v = v0 + $i_syn + $drive
$i_syn = 0.0
""" + _fire_code(model)


@implements(LI, "numba")
class NumbaLI(NumbaNeuron):
    """Leaky integration of delta inputs; never spikes."""

    def constants(self, model, n, dt):
        return li_constants(model, n, dt)

    def body(self, model):
        return """
$v = $v * $em + $i_in
$i_in = 0.0
"""


@implements(PoissonSource, "numba")
class NumbaPoisson(NumbaNeuron):
    """Constant rates: geometric inter-spike steps (no draw per neuron per step).
    Time-varying rates: one Bernoulli draw per neuron per step."""

    def constants(self, model, n, dt):
        return poisson_constants(model, n, dt)

    def prologue(self, model):
        if not model.time_varying:
            return ""
        return "%row = min($k // @steps_per_row, @p_table.shape[0] - 1)\n"

    def body(self, model):
        if model.time_varying:
            return """
if uniform01($seed, @stream, $k, $j) < @p_table[%row, $j]:
    spiked = True
"""
        return """
nxt = $next_spike
if nxt < 0:
    nxt = $k + geometric_steps(uniform01($seed, @stream, $j, $count), $p) - 1
if nxt == $k:
    spiked = True
    $count += 1
    nxt = $k + geometric_steps(uniform01($seed, @stream, $j, $count), $p)
$next_spike = nxt
"""


@implements(SettablePoissonSource, "numba")
class NumbaSettablePoisson(NumbaNeuron):
    """Geometric inter-spike steps drawn with the per-step probability ``rate * dt``; the
    rate is state, and a negative ``next_spike`` (as :func:`snn.models.set_rates` leaves it)
    makes the neuron draw afresh."""

    def constants(self, model, n, dt):
        return {"dt": float(dt)}

    def body(self, model):
        return """
nxt = $next_spike
if nxt < 0:
    nxt = $k + geometric_steps(uniform01($seed, @stream, $j, $count), $rate * $dt) - 1
    $count += 1
if nxt == $k:
    spiked = True
    nxt = $k + geometric_steps(uniform01($seed, @stream, $j, $count), $rate * $dt)
    $count += 1
$next_spike = nxt
"""


@implements(SpikeSource, "numba")
class NumbaSpikeSource(NumbaNeuron):
    """Walks a step-sorted event list with a persistent pointer."""

    per_neuron = False

    def constants(self, model, n, dt):
        steps, idx = model.events(dt)
        return {"ev_steps": steps, "ev_idx": idx, "ptr": np.zeros(1, np.int64)}

    def body(self, model):
        return SPIKE_ARRAY_BODY


@implements(AdaptiveLIF, "numba")
class NumbaAdaptiveLIF(NumbaNeuron):
    """LIF's exact integration (its constants) plus the threshold ``theta``: decayed exactly
    each step, tested as ``v > v_thresh + theta``, raised by ``theta_plus`` at a spike."""

    def constants(self, model, n, dt):
        return adaptive_lif_constants(model, n, dt)

    def body(self, model):
        return """
ie = $i_exc
ii = $i_inh
v0 = $v
r = $refractory_until
%th = $theta * $eth
v = v0 * $em + $c0 + ie * $ke + ii * $ki
$i_exc = ie * $de
$i_inh = ii * $di""" + _adaptive_fire_code(model, "$v_thresh")


# exp(-y) without a libm call, so the neuron loop vectorises and torch reproduces it bit for bit:
# the (3,3) Pade approximant at y / 16, squared four times. Relative error below 2e-11 for
# y <= 1.6 (a synaptic conductance of 320 leak units at dt / tau_m = 0.005); y is capped at 50,
# where exp(-y) < 2e-22 and the approximation is as negligible.
_EXP_NEG = """
%y = min(gs * $dt_tau, 50.0) * 0.0625
%y2 = %y * %y
%p = 1.0 + %y2 * 0.1
%q = %y * (0.5 + %y2 * (1.0 / 120.0))
%f = (%p - %q) / (%p + %q)
%f = %f * %f
%f = %f * %f
%f = %f * %f
%f = %f * %f
"""

# One exponential-Euler step of a conductance-based membrane (ConductanceLIF's fragment up to
# the spike test): the candidate ``v`` from ``v0`` and the step-mean conductances, which decay.
_CONDUCTANCE_STEP = """
ge = $g_exc
gi = $g_inh
v0 = $v
r = $refractory_until
gem = ge * $fe
gim = gi * $fi
gs = gem + gim
a = $a0 + gs
vinf = ($b0 + gem * $e_exc + gim * $e_inh) / a
""" + _EXP_NEG + """
v = vinf + (v0 - vinf) * ($e0 * %f)
$g_exc = ge * $de
$g_inh = gi * $di
"""


@implements(ConductanceLIF, "numba")
class NumbaConductanceLIF(NumbaNeuron):
    """Exponential Euler with the step-mean conductances (see :class:`ConductanceLIF`): the
    conductances decay exactly; ``v`` relaxes towards ``v_inf`` by the factor
    ``exp(-a dt / tau_m) = e0 exp(-(g_mean) dt / tau_m)``, where ``e0`` (tonic and leak
    conductance) is exact and the synaptic part is :data:`_EXP_NEG`."""

    def constants(self, model, n, dt):
        return conductance_lif_constants(model, n, dt)

    def body(self, model):
        return _CONDUCTANCE_STEP + _fire_code(model)


@implements(AdaptiveConductanceLIF, "numba")
class NumbaAdaptiveConductanceLIF(NumbaConductanceLIF):
    """:class:`NumbaConductanceLIF`'s integration with the threshold
    ``v_thresh + theta - theta_offset`` (``v_base + theta``); ``theta`` decays exactly by
    ``eth`` each step and rises by ``theta_plus`` at a spike."""

    def constants(self, model, n, dt):
        return adaptive_conductance_lif_constants(model, n, dt)

    def body(self, model):
        return "\n%th = $theta * $eth" + _CONDUCTANCE_STEP + _adaptive_fire_code(model, "$v_base")


@implements(MetaNeuron, "numba")
class NumbaMetaNeuron(NumbaNeuron):
    """Leaky integration, then a Bernoulli spike with probability
    ``sigmoid((v - v_thresh) / kappa)`` drawn with ``uniform01(seed, stream, step, neuron)``."""

    def constants(self, model, n, dt):
        return meta_neuron_constants(model, n, dt)

    def body(self, model):
        reset = "v = $v_reset" if model.reset == "value" else "v -= $v_thresh - $v_reset"
        return f"""
v = $v * $em + $c0 + $i_in
$i_in = 0.0
%p = 1.0 / (1.0 + np.exp(($v_thresh - v) / $kappa))
spiked = uniform01($seed, @stream, $k, $j) < %p
if spiked:
    {reset}
$v = v
$p = %p
"""


_ULTRA_SPIKE = """
%s = 1.0 / (1.0 + np.exp(($theta - %V) / $eps))
$s = %s
$v = %V * (1.0 - %s)
"""


@implements(UltraLIF, "numba")
class NumbaUltraLIF(NumbaNeuron):
    """``V = LSE_eps(u + log tau, I)`` computed as ``max + eps log1p(exp(-|a - b| / eps))``
    (no overflow for small eps); spike event when ``s > 0.5``."""

    def constants(self, model, n, dt):
        return ultra_lif_constants(model, n, dt)

    def body(self, model):
        return """
%a = $v + $log_tau
%b = $i_in
$i_in = 0.0
%V = max(%a, %b) + $eps * np.log1p(np.exp(-abs(%a - %b) / $eps))
""" + _ULTRA_SPIKE + """
spiked = %s > 0.5
"""


@implements(UltraDLIF, "numba")
class NumbaUltraDLIF(NumbaNeuron):
    """The whole population in one fragment: each neuron reads its circular neighbours'
    previous potentials from a scratch copy ``u_prev``, so the update order does not matter."""

    per_neuron = False

    def constants(self, model, n, dt):
        # u_prev: scratch copy of the previous potentials (neighbours read it)
        return {**ultra_dlif_constants(model, n, dt), "u_prev": np.zeros(n, np.float64)}

    def body(self, model):
        return """
for j in range(@n):
    @u_prev[j] = $v
for j in range(@n):
    %l = @u_prev[j - 1 if j > 0 else @n - 1]
    %c = @u_prev[j] * $tau_c
    %r = @u_prev[j + 1 if j < @n - 1 else 0]
    %m = max(%l, %c, %r)
    %V = %m + $eps * np.log(np.exp((%l - %m) / $eps) + np.exp((%c - %m) / $eps)
                            + np.exp((%r - %m) / $eps)) + $i_in
    $i_in = 0.0
""" + "\n".join("    " + line for line in _ULTRA_SPIKE.strip("\n").splitlines()) + """
    if %s > 0.5:
        @spikes[@nspikes] = j
        @nspikes += 1
"""
