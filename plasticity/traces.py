"""Exponential spike traces, their lazy decay tables, and their fixed-point lookup tables.

A trace belongs to one neuron (shared by all its synapses in a projection). Between the
neuron's spikes it decays as ``x(t) = x(t0) exp(-(t - t0)/tau)``; at a spike it jumps:
``mode="add"`` adds ``increment`` (all-to-all interaction: every earlier spike counts) and
``mode="set"`` sets it to ``increment`` (nearest-spike interaction: only the latest counts).

The backends store a trace scaled to an epoch step ``e`` (``x exp((k - e) dt/tau)``, constant
between the neuron's spikes), so reading it at step ``k`` is one load times a factor
``exp(-(k - e) dt/tau)`` computed once per spike, and nothing is done for neurons that do not
spike (see :mod:`plasticity._numba`). :func:`decay_table` gives the lookup tables of the
eligibility traces of :class:`~plasticity.modulation.ThreeFactor`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snn.validate import check_positive_time

#: Longest decay table (entries); beyond it the factor is computed with ``exp``.
MAX_TABLE = 1 << 16
#: s4.11 fixed point of sPyNNaker's STDP traces and lookup tables (1.0 = 2048).
STDP_FIXED_POINT = 11


@dataclass(frozen=True)
class Trace:
    """An exponential trace: time constant ``tau`` (s), jump ``increment`` (dimensionless) at
    the neuron's spike, ``mode`` ``"add"`` (all-to-all) or ``"set"`` (nearest spike)."""

    tau: float
    increment: float = 1.0
    mode: str = "add"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", check_positive_time("Trace.tau", self.tau))
        inc = self.increment
        if isinstance(inc, bool) or not isinstance(inc, (int, float)) or not math.isfinite(inc):
            raise TypeError(f"Trace.increment must be a finite number, got {inc!r}")
        object.__setattr__(self, "increment", float(inc))
        if self.mode not in ("add", "set"):
            raise ValueError(
                f"Trace.mode must be 'add' (all-to-all) or 'set' (nearest spike), got {self.mode!r}")

    def hardware_spec(self, dt: float) -> dict[str, object]:
        """What a fixed-point target needs: tau, increment and mode, and sPyNNaker's s4.11
        lookup table ``floor(2048 exp(-k dt/tau))`` of ``ceil(ln(2048) tau/dt)`` entries
        rounded up to an even count (zero beyond it)."""
        length = math.ceil(math.log(1 << STDP_FIXED_POINT) * self.tau / dt)
        length += length % 2
        lut = np.floor((1 << STDP_FIXED_POINT) * np.exp(-np.arange(length) * dt / self.tau))
        return {"tau": self.tau, "increment": self.increment, "mode": self.mode,
                "increment_s4_11": int(round(self.increment * (1 << STDP_FIXED_POINT))),
                "lut_s4_11": lut.astype(np.int16)}


def decay_table(tau: float, dt: float) -> np.ndarray:
    """``exp(-n dt / tau)`` for ``n = 0, 1, ...`` until it falls below 2**-64 (at most
    :data:`MAX_TABLE` entries). Both backends read the same table, so they agree bit for bit."""
    length = min(MAX_TABLE, math.ceil(64 * math.log(2) * tau / dt) + 2)
    return np.exp(-np.arange(length, dtype=np.float64) * (dt / tau))


__all__ = ["MAX_TABLE", "Trace", "decay_table"]
