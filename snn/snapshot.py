"""Simulation snapshots: the whole state of a running simulation in one HDF5 file.

``sim.save(path)`` writes, atomically (:func:`snn.h5io.atomic_h5`), the built network (models,
connectivity, delays: everything the backend was compiled from), the backend's name and
options, and every array the backend changes while it runs, as returned by its
``state_arrays()``: neuron state, ring buffers (spikes in flight), plastic weights and
mechanism traces, monitor counters, and the step. The random streams are counter-based
(keyed by seed, stream, step and neuron), so the step is the RNG counter.
:meth:`Simulation.restore` rebuilds the backend named in the file and loads the arrays back
with its ``load_state_arrays()``; running on from there gives the same spikes, bit for bit, as
the simulation that was saved.

A backend joins by implementing that pair of methods (any class with ``state_arrays``,
``load_state_arrays``, ``built``, ``step`` and an ``options`` dict can be saved with
:func:`save`; subclassing :class:`Simulation` gives it ``save`` and ``restore``).

Every array, the network record and the file's own record (backend, options, step, the
digests) carry a SHA-256 digest, so a damaged file is refused with a ``ValueError`` rather
than restored into silently different state. The network record
is a Python pickle: restore only snapshots you (or your own runs) wrote, as with
``torch.load``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np

from snn.h5io import atomic_h5, open_checked

FORMAT = "synaptica-snapshot"
VERSION = 2  # 2: the record's attributes have a digest too (a flipped bit moved the step)


def _digest(arr: np.ndarray) -> str:
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256(str((arr.dtype.str, arr.shape)).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _record_digest(backend: str, step: int, options: str, network: str, digests: str) -> str:
    """The digest of a snapshot's record: its attributes, each as stored."""
    text = json.dumps([VERSION, backend, step, options, network, digests])
    return hashlib.sha256(text.encode()).hexdigest()


def _backend_name(sim) -> str:
    name = getattr(sim, "backend", None)
    return name if isinstance(name, str) else type(sim).__name__


def save(sim, path: str | os.PathLike) -> Path:
    """Write a snapshot of ``sim`` (a built simulation of any backend that implements
    ``state_arrays``) to ``path``; returns the path."""
    name = _backend_name(sim)
    if not callable(getattr(sim, "state_arrays", None)):
        raise ValueError(f"backend {name!r} cannot save snapshots yet (its simulation has no "
                         "state_arrays()/load_state_arrays()); run it to the end instead, or use "
                         "backend='numba' or 'torch'")
    arrays = {k: np.asarray(v) for k, v in sim.state_arrays().items()}
    network = np.frombuffer(pickle.dumps(sim.built, protocol=pickle.HIGHEST_PROTOCOL), np.uint8)
    digests = {k: _digest(v) for k, v in arrays.items()}
    record = (name, int(sim.step), json.dumps(sim.options), _digest(network), json.dumps(digests))
    with atomic_h5(path, FORMAT) as fh:
        a = fh.attrs
        a["version"], a["backend"], a["step"] = VERSION, record[0], record[1]
        a["options"], a["network_sha256"], a["digests"] = record[2:]
        a["record_sha256"] = _record_digest(*record)
        fh.create_dataset("network", data=network)
        for key, value in arrays.items():
            fh.create_dataset(f"state/{key}", data=value)
    return Path(path)


def read(path: str | os.PathLike) -> tuple[str, dict, object, int, dict[str, np.ndarray]]:
    """A snapshot's ``(backend, options, built network, step, state arrays)``, checked
    against its digests."""
    where = str(Path(path))
    with open_checked(path, FORMAT, "snapshot") as fh:
        try:
            a = fh.attrs
            if int(a["version"]) != VERSION:
                raise ValueError(f"{where!r} is a snapshot of format version {int(a['version'])}; "
                                 f"this synaptica reads version {VERSION} (run the simulation "
                                 "again to save a new one)")
            backend, step = str(a["backend"]), int(a["step"])
            record = (backend, step, str(a["options"]), str(a["network_sha256"]), str(a["digests"]))
            if _record_digest(*record) != str(a["record_sha256"]):
                raise ValueError(f"{where!r} is a damaged snapshot: its record (backend, options, "
                                 "step, digests) does not match its SHA-256 digest")
            options, digests = json.loads(record[2]), json.loads(record[4])
            network = fh["network"][()]
            arrays = {}
            for key in digests:
                arrays[key] = fh[f"state/{key}"][()]
            stored_net = record[3]
        except (KeyError, OSError, RuntimeError, TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"{where!r} is a damaged snapshot ({type(err).__name__}: {err})") from err
    if _digest(network) != stored_net or any(_digest(v) != digests[k] for k, v in arrays.items()):
        raise ValueError(f"{where!r} is a damaged snapshot: its contents do not match their "
                         "SHA-256 digests")
    if not isinstance(options, dict):
        raise ValueError(f"{where!r} is a damaged snapshot: options are not a mapping")
    try:
        built = pickle.loads(network.tobytes())
    except Exception as err:  # a digest-valid record that does not unpickle: foreign code
        raise ValueError(f"{where!r}: its network record cannot be read by this synaptica "
                         f"({type(err).__name__}: {err})") from err
    return backend, options, built, step, arrays


class Simulation:
    """Base of the numba and torch simulations: :meth:`save` and :meth:`restore`.

    Subclasses set ``backend`` (their registry name) and ``options`` (the keyword arguments
    they were built with, JSON values), and implement ``state_arrays`` /
    ``load_state_arrays``.
    """

    backend: str = ""
    options: dict

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every array the simulation changes while running, by name (copies)."""
        raise NotImplementedError

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Overwrite the running state with ``arrays`` (as :meth:`state_arrays` returns)."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> Path:
        """Write a snapshot of the whole simulation to ``path`` (HDF5, atomically); continue
        it later with :meth:`Simulation.restore`."""
        return save(self, path)

    @classmethod
    def restore(cls, path: str | os.PathLike, **options) -> Simulation:
        """The simulation saved in ``path``, on the backend that saved it, ready to ``run``
        on. ``options`` override the backend options saved with it (e.g. ``device="cuda"``).
        """
        from snn.backends import get_backend

        backend, saved, built, step, arrays = read(path)
        sim_cls = get_backend(backend)
        if cls is not Simulation and not issubclass(sim_cls, cls):
            raise ValueError(f"{str(path)!r} holds a {backend!r} simulation; restore it with "
                             f"snn.Simulation.restore (or {sim_cls.__name__}.restore)")
        if not callable(getattr(sim_cls, "load_state_arrays", None)):
            raise ValueError(f"backend {backend!r} cannot restore snapshots")
        sim = sim_cls(built, **{**saved, **options})
        sim.load_state_arrays(arrays)
        sim.step = step
        return sim


def check_state_arrays(expected: dict[str, np.ndarray], arrays: dict[str, np.ndarray],
                       backend: str) -> None:
    """Refuse ``arrays`` unless they have exactly the names, shapes and dtypes of
    ``expected`` (a snapshot of a different network)."""
    missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ValueError(f"the snapshot does not fit this {backend} simulation: missing "
                         f"{missing[:5]}, unexpected {extra[:5]}")
    for key, ref in expected.items():
        arr = np.asarray(arrays[key])
        if arr.shape != np.shape(ref) or arr.dtype != np.asarray(ref).dtype:
            raise ValueError(f"the snapshot's {key!r} has shape {arr.shape} {arr.dtype}; this "
                             f"{backend} simulation has {np.shape(ref)} {np.asarray(ref).dtype}")




def run_with_snapshots(sim, duration: float, every: float, path: str | os.PathLike,
                       progress: bool = False, hdf5: str | os.PathLike | None = None):
    """Run ``sim`` for ``duration`` s in pieces of ``every`` s, saving a snapshot to ``path``
    after each piece (each replaces the last, atomically); returns the recordings of the
    whole run as one :class:`~snn.results.Results` (written to ``hdf5`` at the end if given).
    """
    from snn.results import Results, SpikeRecord, StateRecord

    n_total = int(round(duration / sim.dt))
    n_every = int(round(every / sim.dt))
    if n_every < 1 or abs(n_every * sim.dt - every) > 1e-9 * max(1.0, every):
        raise ValueError(f"snapshot_every={every:g} s is not a whole number of steps of "
                         f"dt={sim.dt:g} s")
    pieces = []
    done = 0
    while done < n_total:
        n = min(n_every, n_total - done)
        pieces.append(sim.run(n * sim.dt, progress=progress))
        save(sim, path)
        done += n
    first = pieces[0]
    out = Results(first.dt, first.seed, first.backend, first.start_step, pieces[-1].end_step,
                  timing={k: sum(p.timing.get(k, 0.0) for p in pieces) for k in first.timing})
    out.timing["build_s"] = first.timing.get("build_s", 0.0)
    for name, r in first.spikes.items():
        parts = [p.spikes[name] for p in pieces]
        out.spikes[name] = SpikeRecord(
            r.population, r.n, r.dt, np.concatenate([p.steps for p in parts]),
            np.concatenate([p.indices for p in parts]), r.subset,
            None if r.samples is None else np.concatenate([p.samples for p in parts]), r.batch)
    for name, r in first.states.items():
        parts = [p.states[name] for p in pieces]
        out.states[name] = StateRecord(
            r.population, r.dt, r.variables, r.indices, r.every,
            np.concatenate([p.steps for p in parts]), np.concatenate([p.data for p in parts]),
            r.batch)
    if hdf5 is not None:
        out.to_hdf5(hdf5)
    return out


__all__ = ["Simulation", "read", "run_with_snapshots", "save"]
