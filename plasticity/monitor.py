"""Weight recordings: the weights of chosen synapses every ``every`` seconds of a run.

The run is cut into chunks of ``every`` seconds (one Python call each, microseconds against
the simulation of a chunk), and the weights are read between chunks, so the kernels carry
no recording code. A :class:`~plasticity.modulation.ThreeFactor` projection brings all its
synapses up to date at the end of each chunk, so its weights agree with an unbroken run to
rounding, not bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn.validate import check_positive_time


@dataclass
class WeightRecord:
    """``weights[r, s]``: synapse ``synapses[s]`` (CSR index) at ``times[r]`` (s); ``results``
    holds the recordings of each chunk in order."""

    projection: str
    synapses: np.ndarray
    times: np.ndarray
    weights: np.ndarray
    results: list


def record_weights(sim, projection: str, duration: float, every: float,
                   synapses=None) -> WeightRecord:
    """Run ``sim`` for ``duration`` seconds and record the weights of ``synapses`` (CSR
    indices into ``sim.weights(projection)``, default all) at the start and every ``every``
    seconds (a whole number of steps dividing ``duration``)."""
    duration = check_positive_time("duration", duration)
    every = check_positive_time("every", every)
    n = int(round(duration / every))
    if n < 1 or abs(n * every - duration) > 1e-9 * max(1.0, duration):
        raise ValueError(f"every={every:g} s must divide duration={duration:g} s into whole chunks")
    w = sim.weights(projection)
    idx = np.arange(w.size) if synapses is None else np.asarray(synapses, dtype=np.int64)
    if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= w.size)):
        raise ValueError(f"synapses must be CSR indices in [0, {w.size}) of {projection!r}")
    t0 = sim.step * sim.dt
    rows, times, results = [w[idx]], [t0], []
    for r in range(1, n + 1):
        results.append(sim.run(every))
        rows.append(sim.weights(projection)[idx])
        times.append(t0 + r * every)
    return WeightRecord(projection, idx, np.array(times), np.stack(rows), results)


__all__ = ["WeightRecord", "record_weights"]
