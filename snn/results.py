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
    """Spikes of one population (or view): ``steps[i]`` and ``indices[i]`` of each spike."""

    population: str
    n: int
    dt: float
    steps: np.ndarray
    indices: np.ndarray
    subset: np.ndarray | None = None

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
        """Spike times (s) per neuron of the population."""
        order = np.argsort(self.indices, kind="stable")
        idx, t = self.indices[order], self.times[order]
        bounds = np.searchsorted(idx, np.arange(self.n + 1))
        return [t[bounds[i]:bounds[i + 1]] for i in range(self.n)]

    def rate(self, duration: float) -> float:
        """Mean firing rate (Hz) over the recorded neurons and ``duration`` seconds."""
        return self.count / (self.n_recorded * duration)

    def cv_isi(self, min_spikes: int = 3) -> float:
        """Mean coefficient of variation of inter-spike intervals over neurons with at least
        ``min_spikes`` spikes (NaN if none)."""
        order = np.lexsort((self.steps, self.indices))
        idx, steps = self.indices[order], self.steps[order].astype(np.float64)
        same = idx[1:] == idx[:-1]
        isi = np.diff(steps)[same]
        owner = idx[1:][same]
        counts = np.bincount(owner, minlength=self.n).astype(np.float64)
        sums = np.bincount(owner, isi, minlength=self.n)
        sq = np.bincount(owner, isi * isi, minlength=self.n)
        ok = counts >= max(2, min_spikes - 1)
        if not ok.any():
            return float("nan")
        mean = sums[ok] / counts[ok]
        var = np.maximum(sq[ok] / counts[ok] - mean * mean, 0.0)
        return float(np.mean(np.sqrt(var) / mean))


@dataclass
class StateRecord:
    """State variables of chosen neurons: ``data[row, variable, neuron]`` at ``steps[row]``."""

    population: str
    dt: float
    variables: tuple[str, ...]
    indices: np.ndarray
    every: int
    steps: np.ndarray
    data: np.ndarray

    @property
    def times(self) -> np.ndarray:
        """Sample times (s)."""
        return self.steps * self.dt

    def __getitem__(self, variable: str) -> np.ndarray:
        """Samples of one variable, shape (time, neuron)."""
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
            **{k: ("spikes", r.steps, r.indices) for k, r in self.spikes.items()},
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
                res.spikes[name] = SpikeRecord(
                    str(g.attrs["population"]), int(g.attrs["n"]), res.dt,
                    g["steps"][()], g["indices"][()], subset)
            for name, g in fh["states"].items():
                res.states[name] = StateRecord(
                    str(g.attrs["population"]), res.dt, tuple(json.loads(g.attrs["variables"])),
                    g["indices"][()], int(g.attrs["every"]), g["steps"][()], g["data"][()])
        return res


def _meta_of(res: Results) -> dict:
    return {
        "dt": res.dt, "seed": res.seed, "backend": res.backend,
        "spikes": {k: (r.population, r.n, r.subset) for k, r in res.spikes.items()},
        "states": {k: (r.population, r.variables, r.indices, r.every)
                   for k, r in res.states.items()},
    }


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
        for name, (pop, n, subset) in meta["spikes"].items():
            g = sp.create_group(name)
            g.attrs["population"], g.attrs["n"] = pop, n
            g.create_dataset("steps", (0,), np.int64, maxshape=(None,), chunks=(65536,))
            g.create_dataset("indices", (0,), np.int32, maxshape=(None,), chunks=(65536,))
            if subset is not None:
                g.create_dataset("subset", data=subset)
        for name, (pop, variables, indices, every) in meta["states"].items():
            g = st.create_group(name)
            g.attrs["population"], g.attrs["every"] = pop, every
            g.attrs["variables"] = json.dumps(list(variables))
            g.create_dataset("indices", data=indices)
            g.create_dataset("steps", (0,), np.int64, maxshape=(None,), chunks=(4096,))
            shape = (len(variables), int(np.asarray(indices).size))
            g.create_dataset("data", (0, *shape), np.float64, maxshape=(None, *shape),
                             chunks=(max(1, min(4096, 1 << 20 // max(1, shape[0] * shape[1]))), *shape))

    def append(self, chunk: dict[str, tuple]) -> None:
        """Append one drained chunk: ``{name: ("spikes", steps, idx) | ("state", steps, data)}``."""
        for name, (kind, steps, values) in chunk.items():
            g = self.fh["spikes" if kind == "spikes" else "states"][name]
            other = "indices" if kind == "spikes" else "data"
            for key, arr in (("steps", steps), (other, values)):
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
