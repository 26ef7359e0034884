"""Recorded spikes and state, and their HDF5 form.

Files are written under a temporary name in the target directory and renamed when complete,
so an interrupted run never leaves a half-written file. Reading a damaged or foreign file
raises a ``ValueError`` that names the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snn.h5io import open_checked, temporary_sibling

FORMAT = "synaptica-results"
VERSION = 1


@dataclass
class SpikeRecord:
    """Spikes of one population (or view): ``steps[i]`` and ``indices[i]`` of each spike, and
    in a batched run ``samples[i]``, the sample it belongs to (``batch`` samples in all)."""

    population: str
    n: int
    dt: float
    steps: np.ndarray
    indices: np.ndarray
    subset: np.ndarray | None = None
    samples: np.ndarray | None = None
    batch: int | None = None

    def counts(self) -> np.ndarray:
        """Spikes per neuron: shape ``(n,)``, or ``(batch, n)`` for a batched run."""
        if self.batch is None:
            return np.bincount(self.indices, minlength=self.n)
        flat = self.samples.astype(np.int64) * self.n + self.indices
        return np.bincount(flat, minlength=self.batch * self.n).reshape(self.batch, self.n)

    def sample(self, b: int) -> SpikeRecord:
        """The spikes of sample ``b`` of a batched run, as an unbatched record."""
        if self.batch is None:
            raise ValueError("sample() needs a batched run (built with batch=)")
        if not 0 <= b < self.batch:
            raise IndexError(f"sample {b} is out of range for batch={self.batch}")
        sel = self.samples == b
        return SpikeRecord(self.population, self.n, self.dt, self.steps[sel], self.indices[sel],
                           self.subset)

    @property
    def times(self) -> np.ndarray:
        """Spike times (s)."""
        return self.steps * self.dt

    @property
    def count(self) -> int:
        """Number of spikes."""
        return int(self.steps.size)

    @property
    def n_recorded(self) -> int:
        """Number of neurons recorded."""
        return self.n if self.subset is None else int(self.subset.size)

    def trains(self) -> list[np.ndarray]:
        """Spike times (s) per neuron of the population (of one sample: see :meth:`sample`)."""
        if self.batch is not None:
            raise ValueError("trains() of a batched run: take one sample first, record.sample(b)")
        order = np.argsort(self.indices, kind="stable")
        idx, t = self.indices[order], self.times[order]
        bounds = np.searchsorted(idx, np.arange(self.n + 1))
        return [t[bounds[i]:bounds[i + 1]] for i in range(self.n)]

    def rate(self, duration: float) -> float:
        """Mean firing rate (Hz) over the recorded neurons (and samples) and ``duration``
        seconds."""
        return self.count / (self.n_recorded * (self.batch or 1) * duration)

    def cv_isi(self, min_spikes: int = 3) -> float:
        """Mean coefficient of variation of inter-spike intervals over neurons with at least
        ``min_spikes`` spikes (NaN if none)."""
        neuron = self.indices.astype(np.int64)
        total = self.n
        if self.batch is not None:
            neuron = self.samples.astype(np.int64) * self.n + neuron
            total = self.n * self.batch
        order = np.lexsort((self.steps, neuron))
        idx, steps = neuron[order], self.steps[order].astype(np.float64)
        same = idx[1:] == idx[:-1]
        isi = np.diff(steps)[same]
        owner = idx[1:][same]
        counts = np.bincount(owner, minlength=total).astype(np.float64)
        sums = np.bincount(owner, isi, minlength=total)
        sq = np.bincount(owner, isi * isi, minlength=total)
        ok = counts >= max(2, min_spikes - 1)
        if not ok.any():
            return float("nan")
        mean = sums[ok] / counts[ok]
        var = np.maximum(sq[ok] / counts[ok] - mean * mean, 0.0)
        return float(np.mean(np.sqrt(var) / mean))


@dataclass
class StateRecord:
    """State variables of chosen neurons: ``data[row, variable, neuron]`` at ``steps[row]``;
    ``data[row, variable, sample, neuron]`` in a batched run."""

    population: str
    dt: float
    variables: tuple[str, ...]
    indices: np.ndarray
    every: int
    steps: np.ndarray
    data: np.ndarray
    batch: int | None = None

    @property
    def times(self) -> np.ndarray:
        """Sample times (s)."""
        return self.steps * self.dt

    def __getitem__(self, variable: str) -> np.ndarray:
        """Samples of one variable, shape (time, neuron) or (time, sample, neuron)."""
        if variable not in self.variables:
            raise KeyError(f"{variable!r} was not recorded; recorded: {list(self.variables)}")
        return self.data[:, self.variables.index(variable), :]


@dataclass
class Results:
    """What a run recorded, by monitor name, plus timing and provenance."""

    dt: float
    seed: int
    backend: str
    start_step: int
    end_step: int
    spikes: dict[str, SpikeRecord] = field(default_factory=dict)
    states: dict[str, StateRecord] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    #: What the backend reports about the run beyond recordings (the SpiNNaker target: its
    #: counters per core and router, resources, load and energy); empty for numba and torch.
    provenance: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Simulated time of this run (s)."""
        return (self.end_step - self.start_step) * self.dt

    def __getitem__(self, name: str) -> SpikeRecord | StateRecord:
        if name in self.spikes:
            return self.spikes[name]
        if name in self.states:
            return self.states[name]
        known = sorted([*self.spikes, *self.states])
        raise KeyError(f"no monitor named {name!r}; monitors: {known}")

    def to_hdf5(self, path: str | os.PathLike) -> Path:
        """Write to ``path`` atomically; returns the path."""
        writer = StreamWriter(path, _meta_of(self))
        writer.append({
            **{k: ("spikes", r.steps, r.indices, r.samples) for k, r in self.spikes.items()},
            **{k: ("state", r.steps, r.data) for k, r in self.states.items()},
        })
        writer.close(self.timing, self.start_step, self.end_step)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Results:
        """Read results written by :meth:`to_hdf5` or a streaming run."""
        with open_checked(path, FORMAT, "results file") as fh:
            a = fh.attrs
            res = cls(float(a["dt"]), int(a["seed"]), str(a["backend"]), int(a["start_step"]),
                      int(a["end_step"]), timing=json.loads(a["timing"]))
            for name, g in fh["spikes"].items():
                subset = g["subset"][()] if "subset" in g else None
                samples = g["samples"][()] if "samples" in g else None
                res.spikes[name] = SpikeRecord(
                    str(g.attrs["population"]), int(g.attrs["n"]), res.dt,
                    g["steps"][()], g["indices"][()], subset, samples, _batch(g))
            for name, g in fh["states"].items():
                res.states[name] = StateRecord(
                    str(g.attrs["population"]), res.dt, tuple(json.loads(g.attrs["variables"])),
                    g["indices"][()], int(g.attrs["every"]), g["steps"][()], g["data"][()],
                    _batch(g))
        return res


def _batch(group) -> int | None:
    return int(group.attrs["batch"]) if "batch" in group.attrs else None


def _meta_of(res: Results) -> dict:
    return {
        "dt": res.dt, "seed": res.seed, "backend": res.backend,
        "spikes": {k: (r.population, r.n, r.subset, r.batch) for k, r in res.spikes.items()},
        "states": {k: (r.population, r.variables, r.indices, r.every, r.batch)
                   for k, r in res.states.items()},
    }


def record_meta(built, backend: str) -> dict:
    """What a run of ``built`` (a :class:`~snn.network.BuiltNetwork`) will record."""
    pops = built.populations
    return {
        "dt": built.dt, "seed": built.seed, "backend": backend,
        "spikes": {name: (pops[p].name, pops[p].n, subset, built.batch)
                   for name, p, subset in built.spike_monitors},
        "states": {name: (pops[p].name, variables, indices, every, built.batch)
                   for name, p, variables, indices, every in built.state_monitors},
    }


def merge_chunks(parts: list[dict[str, tuple]], batch: int | None) -> dict[str, tuple]:
    """One chunk from the pieces a backend drained sample by sample: spikes in (step,
    sample, neuron) order, state rows with the samples stacked on axis 2."""
    merged: dict[str, tuple] = {}
    for part in parts:
        for name, item in part.items():
            merged.setdefault(name, []).append(item)
    out = {}
    for name, items in merged.items():
        if items[0][0] == "spikes":
            steps = np.concatenate([i[1] for i in items])
            idx = np.concatenate([i[2] for i in items])
            samples = None
            if batch is not None:
                samples = np.concatenate([i[3] for i in items])
                order = np.lexsort((idx, samples, steps))
                steps, idx, samples = steps[order], idx[order], samples[order]
            out[name] = ("spikes", steps, idx, samples)
        else:
            data = items[0][2] if batch is None else np.stack([i[2] for i in items], axis=2)
            out[name] = ("state", items[0][1], data)
    return out


class ChunkCollector:
    """Accumulates merged chunks in memory and turns them into :class:`Results`."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta
        self.parts: dict[str, list] = {}

    def add(self, chunk: dict[str, tuple]) -> None:
        """Keep one merged chunk."""
        for name, data in chunk.items():
            self.parts.setdefault(name, []).append(data[1:])

    def results(self, timing: dict, k_start: int, k_end: int) -> Results:
        """Everything collected, as :class:`Results`."""
        meta = self.meta
        spikes, states = {}, {}
        for name, (pop, n, subset, batch) in meta["spikes"].items():
            parts = self.parts.get(name, [])
            steps = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
            idx = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
            samples = None
            if batch is not None:
                samples = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int32)
            spikes[name] = SpikeRecord(pop, n, meta["dt"], steps, idx, subset, samples, batch)
        for name, (pop, variables, indices, every, batch) in meta["states"].items():
            parts = self.parts.get(name, [])
            steps = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
            shape = (len(variables), indices.size) if batch is None else \
                (len(variables), batch, indices.size)
            data = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, *shape))
            states[name] = StateRecord(pop, meta["dt"], variables, indices, every, steps, data,
                                       batch)
        return Results(meta["dt"], meta["seed"], meta["backend"], k_start, k_end, spikes, states,
                       timing)


class StreamWriter:
    """Appends recorded chunks to an HDF5 file written under a temporary name."""

    def __init__(self, path: str | os.PathLike, meta: dict) -> None:
        import h5py

        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"hdf5={str(self.path)!r} is a directory; pass a file name")
        self.tmp = temporary_sibling(self.path)
        self.fh = h5py.File(self.tmp, "w")
        a = self.fh.attrs
        a["format"], a["version"] = FORMAT, VERSION
        a["dt"], a["seed"], a["backend"] = meta["dt"], meta["seed"], meta["backend"]
        sp, st = self.fh.create_group("spikes"), self.fh.create_group("states")
        for name, (pop, n, subset, batch) in meta["spikes"].items():
            g = sp.create_group(name)
            g.attrs["population"], g.attrs["n"] = pop, n
            g.create_dataset("steps", (0,), np.int64, maxshape=(None,), chunks=(65536,))
            g.create_dataset("indices", (0,), np.int32, maxshape=(None,), chunks=(65536,))
            if batch is not None:
                g.attrs["batch"] = batch
                g.create_dataset("samples", (0,), np.int32, maxshape=(None,), chunks=(65536,))
            if subset is not None:
                g.create_dataset("subset", data=subset)
        for name, (pop, variables, indices, every, batch) in meta["states"].items():
            g = st.create_group(name)
            g.attrs["population"], g.attrs["every"] = pop, every
            g.attrs["variables"] = json.dumps(list(variables))
            g.create_dataset("indices", data=indices)
            g.create_dataset("steps", (0,), np.int64, maxshape=(None,), chunks=(4096,))
            shape = (len(variables), int(np.asarray(indices).size))
            if batch is not None:
                g.attrs["batch"] = batch
                shape = (shape[0], batch, shape[1])
            row = int(np.prod(shape))
            g.create_dataset("data", (0, *shape), np.float64, maxshape=(None, *shape),
                             chunks=(max(1, min(4096, (1 << 20) // max(1, row))), *shape))

    def append(self, chunk: dict[str, tuple]) -> None:
        """Append one merged chunk: ``{name: ("spikes", steps, idx, samples) | ("state", steps,
        data)}`` (``samples`` is None unless batched)."""
        for name, (kind, steps, values, *more) in chunk.items():
            g = self.fh["spikes" if kind == "spikes" else "states"][name]
            pairs = [("steps", steps), ("indices" if kind == "spikes" else "data", values)]
            if kind == "spikes" and more and more[0] is not None:
                pairs.append(("samples", more[0]))
            for key, arr in pairs:
                ds = g[key]
                n0 = ds.shape[0]
                ds.resize(n0 + len(arr), axis=0)
                ds[n0:] = arr

    def close(self, timing: dict, start_step: int, end_step: int) -> None:
        """Finish the file and move it into place."""
        a = self.fh.attrs
        a["timing"] = json.dumps(timing)
        a["start_step"], a["end_step"] = start_step, end_step
        self.fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            self.fh.close()
        finally:
            self.tmp.unlink(missing_ok=True)
