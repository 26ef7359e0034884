"""Recorded spikes and state, and their HDF5 form.

:meth:`Results.to_hdf5` writes under a temporary name in the target directory and renames
when complete, so it never leaves a half-written file. A run that streams its recordings
(``run(..., hdf5=path)``) appends each finished chunk to a journal at ``path`` (records framed
by their length and CRC-32, flushed to the disk) and turns it into the HDF5 file, atomically,
when the run ends. A run killed on the way (even by SIGKILL) leaves the journal:
:meth:`Results.load` reads it up to the last complete chunk, warns with
:class:`IncompleteRunWarning` and sets ``Results.complete`` to False and ``end_step`` to the
step it reached.

Every dataset carries HDF5's Fletcher-32 checksum and the attributes a SHA-256 digest, so
reading a damaged or foreign file raises a ``ValueError`` that names the file instead of
returning silently different data.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snn.h5io import open_checked, temporary_sibling

FORMAT = "synaptica-results"
VERSION = 2  # 2: Fletcher-32 on datasets, SHA-256 of the attributes (1 is still read)
JOURNAL_MAGIC = b"SYNAPTICA-RESULTS-JOURNAL-1\n"


class IncompleteRunWarning(UserWarning):
    """A results file is the journal of a run that stopped before its end (killed)."""


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
    """What a run recorded, by monitor name, plus timing and provenance.

    ``complete`` is False for results read from the journal of a run that was killed
    (``end_step`` is then the last step it recorded completely).
    """

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
    complete: bool = True

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
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"hdf5={str(path)!r} is a directory; pass a file name")
        tmp = temporary_sibling(path)
        try:
            writer = _H5Writer(tmp, _meta_of(self))
            writer.append(_chunk_of(self))
            writer.close(self.timing, self.start_step, self.end_step)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Results:
        """Read results written by :meth:`to_hdf5` or a streaming run (also the journal a
        killed streaming run left: see the module docstring)."""
        path = Path(path)
        if path.is_file():
            with open(path, "rb") as fh:
                if fh.read(len(JOURNAL_MAGIC)) == JOURNAL_MAGIC:
                    return _load_journal(path)
        with open_checked(path, FORMAT, "results file") as fh:
            try:
                return _load_h5(cls, fh, path)
            except (KeyError, OSError, RuntimeError, TypeError, ValueError) as err:
                if isinstance(err, ValueError) and str(path) in str(err):
                    raise
                raise ValueError(f"{str(path)!r} is a damaged results file "
                                 f"({type(err).__name__}: {err})") from err


def _load_h5(cls, fh, path: Path) -> Results:
    a = fh.attrs
    if int(a["version"]) >= 2 and _attrs_digest(fh) != str(a["attrs_sha256"]):
        raise ValueError(f"{str(path)!r} is a damaged results file: its attributes do not match "
                         "their SHA-256 digest")
    res = cls(float(a["dt"]), int(a["seed"]), str(a["backend"]), int(a["start_step"]),
              int(a["end_step"]), timing=json.loads(a["timing"]))
    for name, g in fh["spikes"].items():
        subset = g["subset"][()] if "subset" in g else None
        samples = g["samples"][()] if "samples" in g else None
        res.spikes[name] = SpikeRecord(
            str(g.attrs["population"]), int(g.attrs["n"]), res.dt,
            g["steps"][()], g["indices"][()], subset, samples, _batch(g))
        rec = res.spikes[name]
        if rec.indices.size != rec.steps.size or (samples is not None and samples.size != rec.steps.size):
            raise ValueError(f"{str(path)!r} is a damaged results file: monitor {name!r} has "
                             "datasets of different lengths")
    for name, g in fh["states"].items():
        res.states[name] = StateRecord(
            str(g.attrs["population"]), res.dt, tuple(json.loads(g.attrs["variables"])),
            g["indices"][()], int(g.attrs["every"]), g["steps"][()], g["data"][()],
            _batch(g))
        if res.states[name].data.shape[0] != res.states[name].steps.size:
            raise ValueError(f"{str(path)!r} is a damaged results file: monitor {name!r} has "
                             "datasets of different lengths")
    return res


def _batch(group) -> int | None:
    return int(group.attrs["batch"]) if "batch" in group.attrs else None


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _attrs_digest(fh) -> str:
    """SHA-256 of every attribute and every dataset's shape in the file (not the digest)."""
    import h5py

    items = {"/": {k: _plain(v) for k, v in fh.attrs.items() if k != "attrs_sha256"}}

    def collect(name, obj):
        entry = {k: _plain(v) for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            entry["__shape__"] = list(obj.shape)
        items[name] = entry

    fh.visititems(collect)
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


def _meta_of(res: Results) -> dict:
    return {
        "dt": res.dt, "seed": res.seed, "backend": res.backend,
        "spikes": {k: (r.population, r.n, r.subset, r.batch) for k, r in res.spikes.items()},
        "states": {k: (r.population, r.variables, r.indices, r.every, r.batch)
                   for k, r in res.states.items()},
    }


def _chunk_of(res: Results) -> dict[str, tuple]:
    return {
        **{k: ("spikes", r.steps, r.indices, r.samples) for k, r in res.spikes.items()},
        **{k: ("state", r.steps, r.data) for k, r in res.states.items()},
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


class _H5Writer:
    """Appends merged chunks to a new HDF5 results file at ``path`` (checksummed datasets)."""

    def __init__(self, path: Path, meta: dict) -> None:
        import h5py

        self.fh = h5py.File(path, "w", libver="latest")  # checksummed object headers
        a = self.fh.attrs
        a["format"], a["version"] = FORMAT, VERSION
        a["dt"], a["seed"], a["backend"] = meta["dt"], meta["seed"], meta["backend"]
        sp, st = self.fh.create_group("spikes"), self.fh.create_group("states")
        opts = {"fletcher32": True}
        for name, (pop, n, subset, batch) in meta["spikes"].items():
            g = sp.create_group(name)
            g.attrs["population"], g.attrs["n"] = pop, n
            g.create_dataset("steps", (0,), np.int64, maxshape=(None,), chunks=(65536,), **opts)
            g.create_dataset("indices", (0,), np.int32, maxshape=(None,), chunks=(65536,), **opts)
            if batch is not None:
                g.attrs["batch"] = batch
                g.create_dataset("samples", (0,), np.int32, maxshape=(None,), chunks=(65536,),
                                 **opts)
            if subset is not None:
                g.create_dataset("subset", data=subset, **opts)
        for name, (pop, variables, indices, every, batch) in meta["states"].items():
            g = st.create_group(name)
            g.attrs["population"], g.attrs["every"] = pop, every
            g.attrs["variables"] = json.dumps(list(variables))
            g.create_dataset("indices", data=np.asarray(indices), **opts)
            g.create_dataset("steps", (0,), np.int64, maxshape=(None,), chunks=(4096,), **opts)
            shape = (len(variables), int(np.asarray(indices).size))
            if batch is not None:
                g.attrs["batch"] = batch
                shape = (shape[0], batch, shape[1])
            row = int(np.prod(shape))
            g.create_dataset("data", (0, *shape), np.float64, maxshape=(None, *shape),
                             chunks=(max(1, min(4096, (1 << 20) // max(1, row))), *shape), **opts)

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
        """Write the run's span and timing and the attribute digest; close the file."""
        a = self.fh.attrs
        a["timing"] = json.dumps(timing)
        a["start_step"], a["end_step"] = start_step, end_step
        a["attrs_sha256"] = _attrs_digest(self.fh)
        self.fh.close()

    def abort(self) -> None:
        """Close without finishing."""
        self.fh.close()


# -- the journal of a streaming run -------------------------------------------------------
_FRAME = struct.Struct("<QI")  # payload length, CRC-32 of the payload


def _meta_json(meta: dict) -> dict:
    def ints(a):
        return None if a is None else np.asarray(a).tolist()

    return {"dt": meta["dt"], "seed": int(meta["seed"]), "backend": meta["backend"],
            "spikes": {k: [p, int(n), ints(sub), b] for k, (p, n, sub, b) in meta["spikes"].items()},
            "states": {k: [p, list(v), ints(idx), int(e), b]
                       for k, (p, v, idx, e, b) in meta["states"].items()}}


def _meta_from_json(m: dict) -> dict:
    def arr(a):
        return None if a is None else np.asarray(a, dtype=np.int64)

    return {"dt": float(m["dt"]), "seed": int(m["seed"]), "backend": str(m["backend"]),
            "spikes": {k: (p, int(n), arr(sub), b) for k, (p, n, sub, b) in m["spikes"].items()},
            "states": {k: (p, tuple(v), arr(idx), int(e), b)
                       for k, (p, v, idx, e, b) in m["states"].items()}}


def _frame(header: dict, arrays: list[np.ndarray] = ()) -> bytes:
    head = json.dumps(header).encode()
    payload = b"".join([struct.pack("<I", len(head)), head,
                        *(np.ascontiguousarray(a).tobytes() for a in arrays)])
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


class StreamWriter:
    """Streams a run's recordings to ``path``: a journal of finished chunks while it runs,
    the HDF5 results file (written atomically over the journal) when it is closed.

    Args:
        meta: what the run records (:func:`record_meta`).
        start_step, end_step: the steps the run covers (``end_step`` as planned).
    """

    def __init__(self, path: str | os.PathLike, meta: dict, start_step: int, end_step: int) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"hdf5={str(self.path)!r} is a directory; pass a file name")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.meta = meta
        self.fh = open(self.path, "wb")  # noqa: SIM115 (closed in close/abort)
        self.fh.write(JOURNAL_MAGIC)
        self.fh.write(_frame({"meta": _meta_json(meta), "start_step": int(start_step),
                              "end_step": int(end_step), "version": VERSION}))
        self.fh.flush()

    def append(self, chunk: dict[str, tuple], end_step: int) -> None:
        """Append one merged chunk (as :meth:`_H5Writer.append` takes) that completes the run
        up to ``end_step``; it is on the disk (in the OS's hands) when this returns."""
        entries, arrays = [], []
        for name, (kind, steps, values, *more) in chunk.items():
            parts = [("steps", steps), ("values", values)]
            if kind == "spikes" and more and more[0] is not None:
                parts.append(("samples", more[0]))
            for key, arr in parts:
                arr = np.ascontiguousarray(arr)
                entries.append([name, kind, key, arr.dtype.str, list(arr.shape)])
                arrays.append(arr)
        self.fh.write(_frame({"end_step": int(end_step), "arrays": entries}, arrays))
        self.fh.flush()

    def close(self, timing: dict, start_step: int, end_step: int) -> None:
        """Turn the journal into the HDF5 results file (atomically replacing it)."""
        self.fh.close()
        tmp = temporary_sibling(self.path)
        try:
            writer = _H5Writer(tmp, self.meta)
            try:
                for chunk, _end in _journal_chunks(self.path)[2]:
                    writer.append(chunk)
                writer.close(timing, start_step, end_step)
            except BaseException:
                writer.abort()
                raise
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        """Drop the journal (the run failed with an exception)."""
        try:
            self.fh.close()
        finally:
            self.path.unlink(missing_ok=True)


def _journal_chunks(path: Path) -> tuple[dict, bool, list[tuple[dict, int]]]:
    """A journal's header, whether its last record was cut short, and its chunks with the
    step each completes."""
    where = str(path)
    data = path.read_bytes()[len(JOURNAL_MAGIC):]
    records, pos, cut = [], 0, False
    while pos < len(data):
        if pos + _FRAME.size > len(data):
            cut = True
            break
        length, crc = _FRAME.unpack_from(data, pos)
        body = data[pos + _FRAME.size: pos + _FRAME.size + length]
        if len(body) < length:
            cut = True
            break
        if zlib.crc32(body) != crc:
            raise ValueError(f"{where!r} is a damaged results journal: record {len(records)} "
                             "fails its CRC-32 check")
        records.append(body)
        pos += _FRAME.size + length
    if not records:
        raise ValueError(f"{where!r} is a damaged results journal: its header is missing")
    try:
        def parse(body):
            (n,) = struct.unpack_from("<I", body, 0)
            return json.loads(body[4:4 + n]), 4 + n

        header, _ = parse(records[0])
        chunks = []
        for body in records[1:]:
            info, off = parse(body)
            chunk: dict[str, list] = {}
            for name, kind, _key, dtype, shape in info["arrays"]:
                dt = np.dtype(dtype)
                count = int(np.prod(shape))
                arr = np.frombuffer(body, dt, count, off).reshape(shape)
                off += count * dt.itemsize
                chunk.setdefault(name, [kind]).append(arr)
            if off != len(body):
                raise ValueError("record size does not match its arrays")
            chunks.append(({k: (v[0], v[1], v[2], v[3] if len(v) > 3 else None)
                            if v[0] == "spikes" else tuple(v) for k, v in chunk.items()},
                           int(info["end_step"])))
    except (KeyError, TypeError, ValueError, struct.error, json.JSONDecodeError) as err:
        raise ValueError(f"{where!r} is a damaged results journal "
                         f"({type(err).__name__}: {err})") from err
    return header, cut, chunks


def _load_journal(path: Path) -> Results:
    header, _cut, chunks = _journal_chunks(path)
    try:
        meta = _meta_from_json(header["meta"])
        start, planned = int(header["start_step"]), int(header["end_step"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{str(path)!r} is a damaged results journal (header: {err})") from err
    collector = ChunkCollector(meta)
    reached = start
    for chunk, end in chunks:
        collector.add(chunk)
        reached = end
    warnings.warn(
        f"{str(path)!r} holds a run that stopped before its end: recorded steps {start}..{reached} "
        f"of {start}..{planned} ({len(chunks)} complete chunks); read up to the last of them "
        "(Results.complete is False)", IncompleteRunWarning, stacklevel=3)
    res = collector.results({}, start, reached)
    res.complete = False
    return res


