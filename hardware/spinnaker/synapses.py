"""Synaptic matrices as the SpiNNaker target stores them: 16-bit weights, synapse types and
the per-type ring-buffer left shift (``shared/design/spinnaker.md`` §2, §8.2).

sPyNNaker carries the sign of a weight in the synapse type: excitatory inputs add to
``I_exc``, inhibitory ones are stored positive and subtracted. A projection of ours may mix
signs on one port (the engine adds the weight to the port's variable), so each synapse goes
to the excitatory type when its weight is >= 0 and to the inhibitory type otherwise, exactly
as :mod:`hardware.pynn` splits projections by sign; the two are the same wherever both
ports share ``tau_syn``.

:func:`ring_buffer_shifts` follows sPyNNaker's ``get_ring_buffer_shifts``: per synapse type,
with constant delays the bound is the worst case, the sum over incoming projections of
``max(1, spikes per tick) * w_max * fan-in`` (fan-in: the most synapses of that projection
onto one neuron; ``w_max`` of a plastic projection is the larger of its biggest weight and
its rule's upper bound, as sPyNNaker's ``SynapseDynamicsSTDP.get_weight_maximum``); with any
variable delay a Poisson estimate ``mean + 5 SD`` at 30 Hz (weight mean and variance
pooled over projections by fan-in as sPyNNaker's ``RunningStats``; a plastic projection
counts at its maximum with no variance) clipped between the biggest weight and the worst
case. Spikes per tick are ``max(1, 30 Hz · dt)`` for every pre
population, as sPyNNaker 1!7.4.1 computes them (``poisson_quantile`` for what it means to). The
shift is :func:`~hardware.spinnaker.fixed.weight_shift` of the bound. A user fixes the bound
with ``max_expected_summed_weight`` (sPyNNaker's answer to its issue #434).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from hardware.spinnaker import fixed

EXC, INH = 0, 1
TYPES = ("exc", "inh")
#: Below this many spikes per tick a Poisson source counts one (``SpikeSourcePoissonVertex``).
SLOW_RATE_PER_TICK_CUTOFF = 0.01


def synapse_types(weights: np.ndarray) -> np.ndarray:
    """Synapse type of each synapse: 0 (excitatory) for ``w >= 0``, 1 (inhibitory) otherwise."""
    return (np.asarray(weights) < 0).astype(np.uint8)


def _spikes_per_tick(model, dt: float, poisson_quantile: bool) -> tuple[float, float]:
    """``(spikes per tick, spikes per second)`` a pre population is assumed to send.

    sPyNNaker 1!7.4.1 assumes ``spikes_per_second`` (30) for every pre population: its Poisson
    estimate (``max_spikes_per_ts``: the 1 - 1/1000 quantile of a Poisson count + 1, or 1
    below 0.01 spikes per tick) lives on the source's machine vertex while ``_Stats`` asks the
    application vertex whether it has one, so it is never used. ``poisson_quantile=True``
    applies it to :class:`~snn.models.PoissonSource` populations as the code intends."""
    from snn.models import PoissonSource

    if poisson_quantile and isinstance(model, PoissonSource) and np.size(model.rate):
        rate = float(np.max(model.rate))
        if rate * dt < SLOW_RATE_PER_TICK_CUTOFF:
            return 1.0, rate if rate > 0 else fixed.SPIKES_PER_SECOND
        from scipy.stats import poisson

        return float(math.ceil(poisson.ppf(1.0 - 1.0 / 1000, rate * dt)) + 1), rate
    return max(1.0, fixed.SPIKES_PER_SECOND * dt), fixed.SPIKES_PER_SECOND


def ring_buffer_shifts(built, post: int, scale: np.ndarray, dt: float,
                       max_expected_summed_weight=None, poisson_quantile: bool = False
                       ) -> tuple[int, int]:
    """The left shift ``(r_exc, r_inh)`` of population index ``post`` of ``built``.

    Args:
        scale: on-core input units per unit of our weight, per post neuron.
        max_expected_summed_weight: ``None`` (sPyNNaker's rule), a number (both types) or a
            dict ``{"exc": x, "inh": y}``: the largest sum one ring-buffer slot must hold, in
            our weight unit (V for LIF).
        poisson_quantile: bound a Poisson source's spikes per tick by its Poisson quantile,
            as sPyNNaker means to (default: what sPyNNaker 1!7.4.1 does, 30 Hz for every
            pre population; see :func:`_spikes_per_tick`).
    """
    total = [0.0, 0.0]
    biggest = [0.0, 0.0]
    variable = [False, False]
    weights = [_RunningStats(), _RunningStats()]  # weight mean and variance, by fan-in
    rates = [_RunningStats(), _RunningStats()]
    for proj in built.projections:
        if proj.post != post or proj.n_synapses == 0:
            continue
        w = np.abs(proj.synapse_weights().astype(np.float64)) * scale[proj.indices]
        types = synapse_types(proj.synapse_weights())
        spt, rate = _spikes_per_tick(built.populations[proj.pre].model, dt, poisson_quantile)
        for t in (EXC, INH):
            sel = types == t
            if not sel.any():
                continue
            fan_in = int(np.bincount(proj.indices[sel]).max())
            w_max = float(w[sel].max())
            w_mean, w_var = float(w[sel].mean()), float(w[sel].var())
            for mech in proj.plasticity:  # plastic: the rule's upper bound (sPyNNaker's choice)
                bound = getattr(mech, "w_max", None)
                if bound is not None and np.isfinite(bound):
                    w_max = max(w_max, float(bound) * float(scale[proj.indices[sel]].max()))
                    # SynapseDynamicsSTDP: "the weights could all be changed to the maximum"
                    w_mean, w_var = w_max, 0.0
            total[t] += spt * w_max * fan_in
            biggest[t] = max(biggest[t], w_max)
            weights[t].add(w_mean, w_var, fan_in)
            rates[t].add(rate, 0.0, fan_in)
            d = proj.delays
            if d is not None and np.any(d[sel] != d[sel][0]):
                variable[t] = True
    override = _override(max_expected_summed_weight, scale)
    shifts = []
    for t in (EXC, INH):
        if override[t] is not None:
            bound = override[t]
        elif variable[t]:
            ws = weights[t]
            bound = fixed.poisson_upper_bound(ws.mean, ws.n, rates[t].mean, dt,
                                              weight_std=math.sqrt(ws.variance))
            bound = max(min(bound, total[t]), biggest[t])
        else:
            bound = max(total[t], biggest[t])
        shifts.append(fixed.weight_shift(bound))
    return shifts[0], shifts[1]


class _RunningStats:
    """sPyNNaker's ``RunningStats``: mean and variance of groups added by their own mean,
    variance and count."""

    def __init__(self) -> None:
        self.n, self.mean, self._m2 = 0, 0.0, 0.0

    def add(self, mean: float, variance: float, n: int) -> None:
        if n <= 0:
            return
        total = self.n + n
        delta = mean - self.mean
        self._m2 += variance * (n - 1.0) + delta * delta * self.n * n / total
        self.mean = (self.n * self.mean + n * mean) / total
        self.n = total

    @property
    def variance(self) -> float:
        return self._m2 / (self.n - 1.0) if self.n > 1 else 0.0


def _override(value, scale: np.ndarray) -> list:
    if value is None:
        return [None, None]
    top = float(np.max(scale)) if scale.size else 1.0
    if isinstance(value, dict):
        unknown = set(value) - set(TYPES)
        if unknown:
            raise ValueError(f"max_expected_summed_weight has unknown keys {sorted(unknown)}; use "
                             "'exc' and 'inh'")
        return [None if value.get(k) is None else _positive(value[k]) * top for k in TYPES]
    return [_positive(value) * top] * 2


def _positive(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not np.isfinite(value):
        raise ValueError(f"max_expected_summed_weight must be a finite number > 0 (our weight "
                         f"unit, V for LIF), got {value!r}")
    return float(value)


__all__ = ["EXC", "INH", "TYPES", "ring_buffer_shifts", "synapse_types"]
