"""Memory preflight: what building a network will allocate, checked before it allocates.

:func:`estimate` adds up, from the graph alone (connectors report how many synapses they will
make without drawing them), the bytes ``Network.build`` and a simulation hold: synapse arrays
(CSR indices, weights, per-synapse delays, the CSC index of plastic projections), neuron
state, delay ring buffers and monitor buffers, plus the largest temporary the connectivity
sampling needs. ``Network.build`` refuses a network whose estimate exceeds the memory
available (:func:`available_bytes`), with the estimate and the fix, before allocating.

The estimate follows the numba backend's layout; the torch backend adds its device copies
(a dense matrix for projections at least a quarter connected), which it does not count.
"""

from __future__ import annotations

import os

import numpy as np

from snn.distributions import Distribution

# Bytes per synapse while a projection is sampled: pre and post indices, the sort key and
# order (int64), weights and delays as float64, delays as int64.
BUILD_BYTES_PER_SYNAPSE = 56
# A plastic synapse's CSC entry (synapse index and pre neuron, int32) and mechanism state.
PLASTIC_BYTES_PER_SYNAPSE = 24
SPIKE_MONITOR_ROWS = 1 << 20


class InsufficientMemoryError(MemoryError, ValueError):
    """A network too large for the memory available (a ``MemoryError`` and, as every refused
    argument, a ``ValueError``)."""


def available_bytes() -> int | None:
    """Memory available to a new allocation: ``MemAvailable`` of ``/proc/meminfo`` (Linux),
    else ``psutil.virtual_memory().available`` when psutil is installed, else the free
    physical pages from ``os.sysconf``; None when none of these can tell (then the check is
    skipped)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except (ImportError, AttributeError, OSError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"


def _max_delay(spec, connector) -> int:
    """The longest delay (steps) a projection can have, from its spec (1 when unknown)."""
    spec = getattr(connector, "delay", None) if getattr(connector, "delay", None) is not None \
        else spec
    if isinstance(spec, Distribution):
        return int(getattr(spec, "high", 1))
    arr = np.asarray(spec)
    return int(arr.max()) if arr.size else 1


def estimate(net, batch: int | None = None) -> dict[str, float]:
    """Bytes ``net.build(batch=batch)`` will hold, by part: ``synapses``, ``state``,
    ``ring_buffers``, ``monitors``, ``build_scratch`` (the largest temporary of sampling one
    projection) and ``total``; ``unknown_synapses`` counts projections whose connector could
    not tell."""
    from snn.network import PopulationView

    samples = batch or 1
    index = {id(p): p for p in net.populations}
    synapses = scratch = 0.0
    unknown = 0
    rings: dict[tuple[int, str], int] = {}
    for proj in net.projections:
        pre_pop, post_pop = proj.pre.population, proj.post.population
        if isinstance(proj.pre, PopulationView) or isinstance(proj.post, PopulationView):
            same = pre_pop is post_pop and len(proj.pre) == len(proj.post) and np.array_equal(
                proj.pre.indices, proj.post.indices)
        else:
            same = pre_pop is post_pop
        m = proj.connector.expected_synapses(len(proj.pre), len(proj.post), same)
        if m is None:
            unknown += 1
            m = 0.0
        scalar_w = not isinstance(proj.weight, Distribution) and proj.weight is not None and \
            np.ndim(proj.weight) == 0
        w_bytes = 8 if proj.plasticity else (0 if scalar_w else 4)
        dmax = _max_delay(proj.delay, proj.connector)
        per_syn_delay = isinstance(proj.delay, Distribution) or np.ndim(proj.delay) > 0 or \
            getattr(proj.connector, "delay", None) is not None
        d_bytes = (1 if dmax < 256 else 2 if dmax < 65536 else 4) if per_syn_delay else 0
        per = 4 + w_bytes + d_bytes + (PLASTIC_BYTES_PER_SYNAPSE if proj.plasticity else 0)
        synapses += m * per + 8.0 * (pre_pop.n + 1)
        if proj.plasticity:
            synapses += 8.0 * (post_pop.n + 1)
        scratch = max(scratch, m * BUILD_BYTES_PER_SYNAPSE
                      + proj.connector.build_scratch_bytes(len(proj.pre), len(proj.post)))
        if dmax > 1:
            key = (id(post_pop), post_pop.model.ports[proj.synapse])
            rings[key] = max(rings.get(key, 0), dmax + 1)
    state = 0.0
    for pop in net.populations:
        per_neuron = sum(np.dtype(v.dtype).itemsize for v in pop.model.state_vars)
        state += float(pop.n) * (per_neuron * samples + 5)  # + spike list and flags
    ring_bytes = sum(8.0 * depth * index[key[0]].n * samples for key, depth in rings.items())
    monitors = sum(12.0 * max(SPIKE_MONITOR_ROWS, 4 * m.target.population.n)
                   for m in net.spike_monitors)
    monitors += sum(8.0 * (2000 // m.every + 2) * len(m.variables) * len(m.target) * samples
                    for m in net.state_monitors)
    parts = {"synapses": synapses, "state": state, "ring_buffers": ring_bytes,
             "monitors": monitors, "build_scratch": scratch}
    parts["total"] = sum(parts.values())
    parts["unknown_synapses"] = unknown
    return parts


def check(net, batch: int | None = None) -> dict[str, float]:
    """Raise :class:`InsufficientMemoryError` (with the estimate and the fix) when building ``net`` would
    need more memory than is available; returns the estimate."""
    parts = estimate(net, batch)
    avail = available_bytes()
    if avail is None or parts["total"] <= avail:
        return parts
    n_syn = sum(
        (p.connector.expected_synapses(len(p.pre), len(p.post), False) or 0.0)
        for p in net.projections)
    detail = ", ".join(f"{k.replace('_', ' ')} {format_bytes(v)}" for k, v in parts.items()
                       if k not in ("total", "unknown_synapses") and v)
    raise InsufficientMemoryError(
        f"build() would need about {format_bytes(parts['total'])} ({detail}; {n_syn:.3g} "
        f"synapses), more than the {format_bytes(avail)} of memory available. Make the network "
        "smaller (fewer neurons, a lower connection probability or FixedInDegree with a small "
        "k), record fewer neurons, or run it on a larger machine (or through PyNN export on "
        "NEST with MPI); build(check_memory=False) skips this check.")


__all__ = ["InsufficientMemoryError", "available_bytes", "check", "estimate", "format_bytes"]
