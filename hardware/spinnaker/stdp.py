"""On-chip STDP as sPyNNaker runs it: deferred, event-driven, s4.11 traces and lookup tables
(``shared/design/spinnaker.md`` §5, ``synapse_dynamics_stdp_mad_impl.c``).

A plasticity mechanism runs on the SpiNNaker target through an implementation registered
with ``@implements(Mechanism, "spinnaker")`` (a :class:`SpiNNakerPlasticity`); the backend
places its fragments around a plastic row's delivery. Tokens: ``$k`` the tick, ``$i`` the
pre neuron, ``$j`` the post neuron, ``$q`` the synapse, ``$d`` its delay (dendritic, as
sPyNNaker treats every STDP delay), ``@w16`` the 16-bit weights, ``@name`` the mechanism's
arrays, ``@prov``/``@core``/``@PEV`` the per-core counters, the post neuron's core and the
plastic-event counter index.

:class:`PairSTDP` (``interaction="all"``) maps onto sPyNNaker's ``SpikePairRule`` with
``AdditiveWeightDependence`` or ``MultiplicativeWeightDependence``:

* each post neuron keeps its last 16 spike times and traces (slot 0 a placeholder at time
  0, so 15 real events survive; older ones are shifted out); a post spike sets
  ``o = (o·LUT−[Δt] >> 11) + 2048``;
* each pre neuron keeps its last spike time and trace, ``r = (r·LUT+[Δt] >> 11) + 2048``;
* nothing happens to a weight until a pre spike fetches its row at tick ``t``. Then, per
  synapse with delay ``d``, the weight ``w = w16 << r_shift`` (s16.15) is potentiated by
  every post event at ``t_post`` in the window ``(t_last_pre − d, t − d]`` with the old pre
  trace decayed over ``t_post + d − t_last_pre`` (if > 0), then depressed, if any post event
  precedes the window end, by the trace of the last one decayed over ``t − (t_post + d)``
  (if > 0); LUT entries beyond the table are 0;
* additive: ``w ± (A± · trace) >> 11`` clamped to ``[w_min, w_max]`` after each event;
  multiplicative: ``w += ((w_max − w)·A+) · trace >> 11``, ``w −= ((w − w_min)·A−) ·
  trace >> 11``; the result is shifted right by ``r_shift`` (truncation) into the 16-bit
  row word, which then goes to the ring buffer.

Differences from the float engine's :class:`~plasticity.PairSTDP` (which pairs firing steps,
delays ignored, and updates at every pre and post spike): the delay shifts the post spike by
``d`` ticks; updates are deferred to the next pre spike, so ``sim.weights`` shows a weight as
of its last pre spike (as reading a real board's SDRAM would; ``sim.flush_plasticity()``
applies the pending potentiation, :meth:`SpiNNakerPlasticity.flush`); traces and table entries
are s4.11 and the amplitudes s16.15.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hardware.spinnaker import fixed
from plasticity.stdp import PairSTDP
from snn.backends import implements

BACKEND = "spinnaker"
POST_HISTORY = 16  # MAX_POST_SYNAPTIC_EVENTS (slot 0 is the time-0 placeholder)
_REGISTERED: list[str] = []


def supported_mechanisms() -> list[str]:
    """Names of the plasticity mechanisms with an on-chip implementation."""
    return sorted(_REGISTERED)


class SpiNNakerPlasticity:
    """Base class of a plasticity mechanism's on-chip implementation (fragments optional)."""

    def arrays(self, mech, proj, n_pre: int, n_post: int, dt: float, shifts: tuple[int, int],
               scale: np.ndarray, w16: np.ndarray) -> dict[str, object]:
        """The mechanism's arrays and constants (``@name``); ``shifts`` are the post
        population's ``(r_exc, r_inh)``, ``scale`` each synapse's on-core units per unit of
        our weight, ``w16`` the encoded weights (the mechanism may check them)."""
        return {}

    def pre_row(self, mech) -> str:
        """Once per pre spike ``$i``, before its rows."""
        return ""

    def synapse(self, mech) -> str:
        """Per synapse ``$q`` of a fetched row, before its weight goes to the ring buffer."""
        return ""

    def after_row(self, mech) -> str:
        """Once per pre spike, after its rows."""
        return ""

    def post_spike(self, mech) -> str:
        """Once per post spike ``$j`` (before the tick's packets are processed)."""
        return ""

    def tick_end(self, mech) -> str:
        """Once per tick ``$k``, after every packet (``@ind`` the post neuron of each
        synapse, ``@n_post`` the post population's size)."""
        return ""

    def flush(self, mech, k: int, proj, arrays: dict, w16: np.ndarray) -> None:
        """Apply the updates the mechanism has deferred, at tick ``k`` (between runs;
        ``arrays`` are its arrays as :meth:`arrays` made them, updated by the run). Nothing is
        deferred by default."""


def register_mechanism(mechanism_type):
    """Class decorator: register an on-chip implementation of ``mechanism_type`` (and list it
    among the supported mechanisms)."""

    def register(impl):
        _REGISTERED.append(mechanism_type.__name__)
        return implements(mechanism_type, BACKEND)(impl)

    return register


def _lut(tau: float, dt: float) -> np.ndarray:
    return fixed.stdp_lut(tau, dt).astype(np.int64)


def _decay(lut: str, delta: str) -> str:
    return f"({lut}[{delta}] if {delta} < {lut}.shape[0] else 0)"


@register_mechanism(PairSTDP)
class SpiNNakerPairSTDP(SpiNNakerPlasticity):
    """sPyNNaker's ``SpikePairRule`` with additive or multiplicative weight dependence."""

    def arrays(self, mech, proj, n_pre, n_post, dt, shifts, scale, w16):
        where = f"PairSTDP on projection {proj.name!r}"
        if mech.interaction != "all":
            raise ValueError(f"{where}: the SpiNNaker target emulates all-to-all pairing "
                             "(SpikePairRule); use interaction='all'")
        if mech.w_min < 0 or np.any(proj.synapse_weights() < 0):
            raise ValueError(f"{where}: plastic weights are excitatory 16-bit magnitudes on the "
                             "chip; use w_min >= 0 and non-negative weights")
        if scale.size and np.ptp(scale) > 1e-12 * np.max(scale):
            raise ValueError(f"{where}: the post neurons differ in tau_m, so one STDP amplitude "
                             "in nA does not fit them all; give them one tau_m")
        s = float(scale[0]) if scale.size else 1.0
        if mech.weight_dependence == "additive":
            a_plus, a_minus = mech.a_plus * s, mech.a_minus * s
        else:
            a_plus, a_minus = mech.a_plus, mech.a_minus
        return {
            "lut_p": _lut(mech.tau_plus, dt), "lut_m": _lut(mech.tau_minus, dt),
            "pre_time": np.zeros(n_pre, np.int64), "pre_trace": np.zeros(n_pre, np.int64),
            "post_t": np.zeros((n_post, POST_HISTORY), np.int64),
            "post_tr": np.zeros((n_post, POST_HISTORY), np.int64),
            "post_n": np.ones(n_post, np.int64),
            "a_plus": fixed.encode_s1615(f"{where}: a_plus", a_plus),
            "a_minus": fixed.encode_s1615(f"{where}: a_minus", a_minus),
            "w_min": fixed.encode_s1615(f"{where}: w_min", mech.w_min * s),
            "w_max": fixed.encode_s1615(f"{where}: w_max", min(mech.w_max * s, 65535.0)),
            "shift": int(shifts[0]),
        }

    def pre_row(self, mech):
        return f"""
%lpt = @pre_time[$i]
%lptr = @pre_trace[$i]
%dtp = $k - %lpt
%ntr = ((%lptr * {_decay('@lut_p', '%dtp')}) >> 11) + 2048
%ntr = ((%ntr + 32768) & 0xFFFF) - 32768
"""

    def _potentiate(self, mech) -> str:
        if mech.weight_dependence == "additive":
            return "%w = min(%w + ((@a_plus * %dec) >> 11), @w_max)"
        return ("%sc = min(max(((@w_max - %w) * @a_plus) >> 15, -2147483648), 2147483647)\n"
                "%w = %w + ((%sc * %dec) >> 11)")

    def _depress(self, mech) -> str:
        if mech.weight_dependence == "additive":
            return "%w = max(%w - ((@a_minus * %dec) >> 11), @w_min)"
        return ("%sc = min(max(((%w - @w_min) * @a_minus) >> 15, -2147483648), 2147483647)\n"
                "%w = %w - ((%sc * %dec) >> 11)")

    def synapse(self, mech):
        pot = "\n".join("        " + line for line in self._potentiate(mech).splitlines())
        dep = "        " + self._depress(mech).replace("\n", "\n        ")
        return f"""
@prov[@core[$j], @PEV] += 1
%w = np.int64(@w16[$q]) << @shift
%beg = %lpt - $d if %lpt >= $d else 0
%end = $k - $d if $k >= $d else 0
%n = @post_n[$j]
%e = %n - 1
while %e > 0 and @post_t[$j, %e] > %beg:
    %e -= 1
%pvt = @post_t[$j, %e]
%pvtr = @post_tr[$j, %e]
%valid = %e > 0
%e += 1
while %e < %n and @post_t[$j, %e] <= %end:
    %tp = @post_t[$j, %e] + $d - %lpt
    if %tp > 0:
        %dec = (%lptr * {_decay('@lut_p', '%tp')}) >> 11
{pot}
    %pvt = @post_t[$j, %e]
    %pvtr = @post_tr[$j, %e]
    %valid = True
    %e += 1
if %valid:
    %tm = $k - (%pvt + $d)
    if %tm > 0:
        %dec = (%pvtr * {_decay('@lut_m', '%tm')}) >> 11
{dep}
@w16[$q] = (%w >> @shift) & 0xFFFF
"""

    def after_row(self, mech):
        return """
@pre_time[$i] = $k
@pre_trace[$i] = %ntr
"""

    def flush(self, mech, k, proj, arrays, w16):
        """Every plastic row processed as if its pre neuron were fetched at tick ``k`` without
        spiking (sPyNNaker issue #1492's proposal; sPyNNaker 7.4.1 itself leaves these updates
        pending until the next pre spike): each synapse is potentiated by the post events of
        its window ``(t_last_pre - d, k - d]`` exactly as at a pre spike, nothing is depressed
        and nothing reaches a ring buffer; the pre trace is decayed to ``k`` (no new spike) and
        ``k`` becomes the row's last time, so no pairing is applied twice."""
        delays = proj.delays if proj.delays is not None else np.zeros(0, np.int64)
        _flush_pair(int(k), proj.indptr.astype(np.int64), proj.indices.astype(np.int64),
                    delays.astype(np.int64), int(proj.delay), w16, arrays["pre_time"],
                    arrays["pre_trace"], arrays["post_t"], arrays["post_n"], arrays["lut_p"],
                    int(arrays["a_plus"]), int(arrays["w_max"]), int(arrays["shift"]),
                    mech.weight_dependence == "additive")

    def post_spike(self, mech):
        return f"""
%pn = @post_n[$j]
%pdt = $k - @post_t[$j, %pn - 1]
%ptr = ((@post_tr[$j, %pn - 1] * {_decay('@lut_m', '%pdt')}) >> 11) + 2048
%ptr = ((%ptr + 32768) & 0xFFFF) - 32768
if %pn < {POST_HISTORY}:
    @post_t[$j, %pn] = $k
    @post_tr[$j, %pn] = %ptr
    @post_n[$j] = %pn + 1
else:
    for %e2 in range(2, {POST_HISTORY}):
        @post_t[$j, %e2 - 1] = @post_t[$j, %e2]
        @post_tr[$j, %e2 - 1] = @post_tr[$j, %e2]
    @post_t[$j, {POST_HISTORY - 1}] = $k
    @post_tr[$j, {POST_HISTORY - 1}] = %ptr
"""


@njit(cache=True, nogil=True)
def _flush_pair(k, ptr, ind, delays, delay, w16, pre_time, pre_trace, post_t, post_n, lut_p,
                a_plus, w_max, shift, additive):
    """:meth:`SpiNNakerPairSTDP.flush` over a CSR projection (the potentiation loop of the
    ``synapse`` fragment, without the depression and the ring-buffer add)."""
    for i in range(ptr.size - 1):
        lpt, lptr = pre_time[i], pre_trace[i]
        for q in range(ptr[i], ptr[i + 1]):
            j = ind[q]
            d = delays[q] if delays.size else delay
            w = np.int64(w16[q]) << shift
            beg = lpt - d if lpt >= d else 0
            end = k - d if k >= d else 0
            n = post_n[j]
            e = n - 1
            while e > 0 and post_t[j, e] > beg:
                e -= 1
            e += 1
            while e < n and post_t[j, e] <= end:
                tp = post_t[j, e] + d - lpt
                if tp > 0:
                    dec = (lptr * (lut_p[tp] if tp < lut_p.shape[0] else 0)) >> 11
                    if additive:
                        w = min(w + ((a_plus * dec) >> 11), w_max)
                    else:
                        sc = min(max(((w_max - w) * a_plus) >> 15, -2147483648), 2147483647)
                        w = w + ((sc * dec) >> 11)
                e += 1
            w16[q] = (w >> shift) & 0xFFFF
        dt = k - lpt
        pre_trace[i] = (lptr * (lut_p[dt] if dt < lut_p.shape[0] else 0)) >> 11
        pre_time[i] = k


__all__ = ["POST_HISTORY", "SpiNNakerPairSTDP", "SpiNNakerPlasticity", "register_mechanism",
           "supported_mechanisms"]
