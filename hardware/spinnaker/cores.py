"""The core programs: how each neuron model and spike source runs on an emulated SpiNNaker core.

Each implementation is registered with ``@snn.backends.implements(Model, "spinnaker")`` and
contributes integer code fragments that :class:`~hardware.spinnaker.backend.SpiNNakerSimulation`
assembles into one compiled run loop (the numba backend's pattern, with sPyNNaker's
arithmetic from :mod:`hardware.spinnaker.fixed`). Tokens are those of
:func:`snn.backends.common.render_fragment`: ``$name`` an on-core state variable or constant
(``array[j]`` when per neuron), ``@name`` the raw argument, ``%name`` a local; ``$k`` is the
tick, ``$j`` the neuron, ``$in_exc``/``$in_inh`` the s16.15 input read from the ring buffer
this tick (weights already shifted left by the synapse type's ``r``). A body assigns
``spiked``; a source with ``per_neuron = False`` fills ``@spikes``/``@nspikes`` itself.

Units on the core are sPyNNaker's: mV, nA, ms, nF. Our :class:`~snn.models.LIF` keeps its
currents in volts (R·I); as in :mod:`hardware.pynn`, ``cm = 1 nF``, so ``R = tau_m / cm`` MΩ and
a weight ``w`` (V) is ``w * 1e3 / R`` nA (``weight_scale``).
"""

from __future__ import annotations

import numpy as np

from hardware.spinnaker import fixed
from snn.backends import implements
from snn.backends.common import SPIKE_ARRAY_BODY
from snn.models import IF, LIF, PoissonSource, SpikeSource

BACKEND = "spinnaker"
CM_NF = 1.0
_REGISTERED: list[str] = []

# Cycle costs per neuron per tick (estimates; see hardware.spinnaker.timing for the sources).
LIF_CYCLES = 100
IF_CYCLES = 60
SOURCE_CYCLES = 30


def supported_models() -> list[str]:
    """Names of the models with a core program."""
    return sorted(_REGISTERED)


def _register(model_type):
    _REGISTERED.append(model_type.__name__)
    return implements(model_type, BACKEND)


def _per_neuron(value, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)))


def _s1615(name: str, value, n: int) -> np.ndarray:
    return np.asarray(fixed.encode_s1615(name, _per_neuron(value, n)), dtype=np.int64)


class SpiNNakerNeuron:
    """Base class of a model's core program."""

    per_neuron = True
    cycles_per_neuron = LIF_CYCLES

    def weight_scale(self, model, n: int) -> np.ndarray:
        """Per post neuron: on-core input units (s16.15 value) per unit of our weight."""
        raise ValueError(f"{type(model).__name__} takes no synaptic input")

    def state(self, model, initial: dict[str, np.ndarray], n: int, dt: float
              ) -> dict[str, np.ndarray]:
        """The on-core state arrays (int32), encoded from our initial state."""
        return {}

    def constants(self, model, n: int, dt: float, seed: int, core_of: np.ndarray
                  ) -> dict[str, object]:
        """Values the fragments read (``core_of``: the population-local core of each neuron)."""
        return {}

    def prologue(self, model) -> str:
        """Code run once per tick before the neuron loop."""
        return ""

    def body(self, model) -> str:
        """Per-neuron update code (or the whole population's if not ``per_neuron``)."""
        raise NotImplementedError

    def decode(self, model, name: str, raw: np.ndarray, indices: np.ndarray, steps: np.ndarray
               ) -> np.ndarray:
        """Our state variable ``name`` (our units) from the recorded on-core values ``raw``
        (``(rows, len(indices))``) at ticks ``steps``."""
        raise KeyError(name)

    def recorded(self, model, name: str) -> str:
        """The on-core variable a monitor of our variable ``name`` reads."""
        raise KeyError(name)


_MV = 1.0 / (fixed.S1615_ONE * 1e3)  # raw s16.15 mV -> V


@_register(LIF)
class CoreLIF(SpiNNakerNeuron):
    """IF_curr_exp in sPyNNaker's order (design §3): input ``I += in·init`` (truncating u0.32),
    then, if not refractory, ``alpha = V_rest + R·I`` and ``V = alpha − exp_TC·(alpha − V)``
    (both multiplies rounded half up and saturated), else the timer counts down; spike when
    ``V >= V_thresh``, then ``V = V_reset`` and the timer is set to ``ceil(tau_ref/dt)``;
    finally ``I *= decay`` (truncating). Synaptic currents keep decaying and accumulating
    while refractory."""

    def _check(self, model) -> None:
        if model.reset != "value":
            raise ValueError("LIF(reset='subtract') has no IF_curr_exp equivalent on the SpiNNaker "
                             "target; use reset='value'")
        if np.any(np.asarray(model.tau_syn_exc) <= 0) or np.any(np.asarray(model.tau_syn_inh) <= 0):
            raise ValueError("IF_curr_exp on the SpiNNaker target needs tau_syn_exc, tau_syn_inh "
                             "> 0 (exponential currents); delta synapses are not emulated for LIF")

    def weight_scale(self, model, n):
        return 1.0 / _per_neuron(model.tau_m, n)  # w * 1e3 mV / (tau_m[ms] / 1 nF) nA

    def state(self, model, initial, n, dt):
        self._check(model)
        r_mohm = _per_neuron(model.tau_m, n) * 1e3 / CM_NF
        v = fixed.encode_s1615("LIF initial v (mV)", np.asarray(initial["v"]) * 1e3)
        ie = fixed.encode_s1615("LIF initial i_exc (nA)", np.asarray(initial["i_exc"]) * 1e3 / r_mohm)
        ii = fixed.encode_s1615("LIF initial i_inh (nA)", -np.asarray(initial["i_inh"]) * 1e3 / r_mohm)
        return {"V": np.atleast_1d(v).astype(np.int32).copy(),
                "I_exc": np.atleast_1d(ie).astype(np.int32).copy(),
                "I_inh": np.atleast_1d(ii).astype(np.int32).copy(),
                "refract": np.zeros(n, np.int32)}

    def constants(self, model, n, dt, seed, core_of):
        self._check(model)
        dt_ms = dt * 1e3
        tau_m = _per_neuron(model.tau_m, n) * 1e3
        r_mohm = tau_m / CM_NF
        exp_tc = np.array([fixed.lif_exp_tc(t, dt_ms) for t in tau_m], np.int64)
        out = {
            "v_rest": _s1615("LIF.v_rest (mV)", np.asarray(model.v_rest) * 1e3, n),
            "v_reset": _s1615("LIF.v_reset (mV)", np.asarray(model.v_reset) * 1e3, n),
            "v_thresh": _s1615("LIF.v_thresh (mV)", np.asarray(model.v_thresh) * 1e3, n),
            "r_membrane": _s1615("LIF.tau_m / cm (MOhm)", r_mohm, n),
            "i_offset": _s1615("LIF.i_bias as i_offset (nA)",
                               _per_neuron(model.i_bias, n) * 1e3 / r_mohm, n),
            "exp_tc": exp_tc,
            "t_refract": np.broadcast_to(fixed.refractory_ticks(model.tau_ref, dt), (n,))
            .astype(np.int64).copy(),
        }
        for port, tau in (("exc", model.tau_syn_exc), ("inh", model.tau_syn_inh)):
            pairs = [fixed.synapse_decay_init(t * 1e3, dt_ms) for t in _per_neuron(tau, n)]
            out[f"decay_{port}"] = np.array([p[0] for p in pairs], np.int64)
            out[f"init_{port}"] = np.array([p[1] for p in pairs], np.int64)
        return out

    def body(self, model):
        # Written without branches on the state (both paths computed, then selected), so
        # LLVM vectorises the neuron loop; the arithmetic is that of the C code.
        return """
%ie = np.int64($I_exc) + ((np.int64($in_exc) * $init_exc) >> 32)
%ii = np.int64($I_inh) + ((np.int64($in_inh) * $init_inh) >> 32)
%v0 = np.int64($V)
%t = np.int64($refract)
%inp = %ie - %ii + $i_offset
%alpha = min(max((%inp * $r_membrane + 16384) >> 15, -2147483648), 2147483647) + $v_rest
%vn = %alpha - min(max(($exp_tc * (%alpha - %v0) + 16384) >> 15, -2147483648), 2147483647)
%act = %t <= 0
%v = %vn if %act else %v0
%t = %t if %act else %t - 1
spiked = %v >= $v_thresh
$V = $v_reset if spiked else %v
$refract = $t_refract if spiked else %t
$I_exc = (%ie * $decay_exc) >> 32
$I_inh = (%ii * $decay_inh) >> 32
"""

    def recorded(self, model, name):
        return {"v": "V", "i_exc": "I_exc", "i_inh": "I_inh", "refractory_until": "refract"}[name]

    def decode(self, model, name, raw, indices, steps):
        if name == "v":
            return raw * _MV
        if name == "refractory_until":
            return steps[:, None] + raw
        r = (_per_neuron(model.tau_m, int(indices.max()) + 1)[indices] * 1e3) / CM_NF
        sign = -1.0 if name == "i_inh" else 1.0
        return sign * raw * _MV * r


@_register(IF)
class CoreIF(SpiNNakerNeuron):
    """Non-leaky integrate-and-fire with delta synapses: ``V += in_exc − in_inh + drive`` unless
    refractory (then the input is lost and the timer counts down); spike on ``V >= V_thresh``
    (the core's static threshold), reset to ``v_reset`` or by subtraction."""

    cycles_per_neuron = IF_CYCLES

    def weight_scale(self, model, n):
        return np.full(n, 1e3)  # V -> mV

    def state(self, model, initial, n, dt):
        v = fixed.encode_s1615("IF initial v (mV)", np.asarray(initial["v"]) * 1e3)
        return {"V": np.atleast_1d(v).astype(np.int32).copy(), "refract": np.zeros(n, np.int32)}

    def constants(self, model, n, dt, seed, core_of):
        return {
            "v_reset": _s1615("IF.v_reset (mV)", np.asarray(model.v_reset) * 1e3, n),
            "v_thresh": _s1615("IF.v_thresh (mV)", np.asarray(model.v_thresh) * 1e3, n),
            "drive": _s1615("IF.i_bias * dt (mV per tick)", np.asarray(model.i_bias) * dt * 1e3, n),
            "t_refract": np.broadcast_to(fixed.refractory_ticks(model.tau_ref, dt), (n,))
            .astype(np.int64).copy(),
        }

    def body(self, model):
        reset = "$v_reset" if model.reset == "value" else "%v - ($v_thresh - $v_reset)"
        return f"""
%v0 = np.int64($V)
%t = np.int64($refract)
%act = %t <= 0
%v = %v0 + $in_exc - $in_inh + $drive if %act else %v0
%t = %t if %act else %t - 1
spiked = %v >= $v_thresh
$V = {reset} if spiked else %v
$refract = $t_refract if spiked else %t
"""

    def recorded(self, model, name):
        return {"v": "V", "refractory_until": "refract"}[name]

    def decode(self, model, name, raw, indices, steps):
        if name == "v":
            return raw * _MV
        return steps[:, None] + raw


def kiss_seeds(seed: int, n_cores: int) -> np.ndarray:
    """Per-core state ``(x, y, z, w, c)`` of the JKISS32 generator (spinn_common's
    ``mars_kiss``), seeded reproducibly from ``seed``; ``y`` is never 0."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5B1E,)))
    s = rng.integers(1, 2**31 - 1, size=(n_cores, 5), dtype=np.int64)
    s[:, 4] = 0
    return s


_KISS = """
%c = @core_of[$j]
%y = @kiss[%c, 1]
%y ^= (%y << 5) & 0xFFFFFFFF
%y ^= %y >> 7
%y ^= (%y << 22) & 0xFFFFFFFF
%s = (@kiss[%c, 2] + @kiss[%c, 3] + @kiss[%c, 4]) & 0xFFFFFFFF
@kiss[%c, 2] = @kiss[%c, 3]
@kiss[%c, 4] = %s >> 31
@kiss[%c, 3] = %s & 0x7FFFFFFF
@kiss[%c, 1] = %y
@kiss[%c, 0] = (@kiss[%c, 0] + 1411392427) & 0xFFFFFFFF
%u = (@kiss[%c, 0] + %y + @kiss[%c, 3]) & 0xFFFFFFFF
"""


def _indent(code: str, pad: str) -> str:
    return "\n".join(pad + line for line in code.strip("\n").splitlines())


@_register(PoissonSource)
class CorePoisson(SpiNNakerNeuron):
    """Poisson source core, one JKISS32 generator per core (spinn_common's ``mars_kiss``).

    Constant rates, as sPyNNaker's slow sources, draw the ticks to the next spike: with ``p``
    the u0.32 ``rate·dt``, ``1 + floor(ln u / ln(1 - p))`` ticks for a draw ``u`` in (0, 1]
    (the geometric law of a Bernoulli-per-tick process), so a tick costs a comparison, not a
    draw. Time-varying rates draw each tick: a spike when the draw is below ``p``. The process
    is sPyNNaker's; the draws are not (it draws exponential variates in fixed point)."""

    cycles_per_neuron = SOURCE_CYCLES

    def state(self, model, initial, n, dt):
        return {"next": np.full(n, -1, np.int64)}

    def constants(self, model, n, dt, seed, core_of):
        if model.time_varying:
            rates = np.asarray(model.rate, dtype=np.float64)
            rates = np.broadcast_to(rates.reshape(rates.shape[0], -1), (rates.shape[0], n))
            steps_per_row = int(round(model.rate_interval / dt))
        else:
            rates = _per_neuron(model.rate, n)[None, :]
            steps_per_row = 1 << 62
        p = np.minimum(np.rint(rates * dt * fixed.U032_ONE), fixed.U032_ONE).astype(np.int64)
        out = {"p_table": np.ascontiguousarray(p), "steps_per_row": steps_per_row,
               "core_of": core_of.astype(np.int64),
               "kiss": kiss_seeds(seed, int(core_of.max()) + 1 if n else 1)}
        if not model.time_varying:
            with np.errstate(divide="ignore"):
                out["log_q"] = np.log1p(-p[0] / fixed.U032_ONE)  # ln(1 - p); -inf at p = 1
        return out

    def prologue(self, model):
        return "" if not model.time_varying else \
            "%row = min($k // @steps_per_row, @p_table.shape[0] - 1)\n"

    def body(self, model):
        if model.time_varying:
            return _KISS + "spiked = %u < @p_table[%row, $j]\n"
        draw = _indent(_KISS, "    ") + """
    %g = np.log((%u + 1.0) * 2.3283064365386963e-10) / $log_q if $log_q < 0.0 else 4.0e18
    %nx = %nx + 1 + np.int64(min(%g, 4.0e18))"""
        return f"""
%nx = $next
if %nx < 0:
    %nx = $k - 1
{draw}
spiked = %nx == $k
if spiked:
{draw}
$next = %nx
"""


@_register(SpikeSource)
class CoreSpikeSource(SpiNNakerNeuron):
    """Spike-source array: walks the step-sorted event list with a persistent pointer."""

    per_neuron = False
    cycles_per_neuron = SOURCE_CYCLES

    def constants(self, model, n, dt, seed, core_of):
        steps, idx = model.events(dt)
        return {"ev_steps": steps, "ev_idx": idx, "ptr": np.zeros(1, np.int64)}

    def body(self, model):
        return SPIKE_ARRAY_BODY


__all__ = ["CM_NF", "CoreIF", "CoreLIF", "CorePoisson", "CoreSpikeSource", "SpiNNakerNeuron",
           "kiss_seeds", "supported_models"]
