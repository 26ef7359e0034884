"""Fuzzing damaged files (truncation, bit flips) of every kind synaptica reads: HDF5 results,
the journal of a streaming run, checkpoints, snapshots and gzipped IDX files. Reading one
always gives a clear ValueError or the original data (a flip in unused bytes), never another
exception and never silently different data."""

from __future__ import annotations

import functools
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import plasticity as pl
import snn
from snn.checkpoint import load_checkpoint, save_checkpoint
from snn.datasets.idx import read_idx_images, write_idx
from snn.results import IncompleteRunWarning, StreamWriter
from snn.snapshot import read as read_snapshot
from tests.fuzzing import examples

DIR = Path(tempfile.mkdtemp(prefix="synaptica-fuzz-"))


def _network():
    net = snn.Network()
    src = net.population(30, snn.PoissonSource(rate=200.0), name="src")
    out = net.population(10, snn.LIF(tau_m=10e-3), name="out")
    net.connect(src, out, snn.FixedProbability(0.3), weight=3e-3, delay=2,
                plasticity=pl.PairSTDP(a_plus=1e-4, a_minus=1e-4, w_max=5e-3))
    net.spike_monitor(src, name="src_spikes")
    net.state_monitor(out[:2], "v", every=5, name="v")
    return net


@functools.cache
def originals() -> dict[str, tuple[bytes, object]]:
    """Each kind's file bytes and what reading it gives."""
    sim = _network().build(dt=1e-4, seed=4, chunk_steps=50)
    res = sim.run(0.02, hdf5=DIR / "results.h5")
    snap = sim.save(DIR / "snap.h5")
    writer = StreamWriter(DIR / "journal.h5", sim._record_meta(), 200, 400)
    for k in range(4):
        part = sim.run(0.005)
        writer.append({"src_spikes": ("spikes", part["src_spikes"].steps,
                                      part["src_spikes"].indices, None),
                       "v": ("state", part["v"].steps, part["v"].data)}, 250 + 50 * k)
    writer.fh.close()
    ckpt = save_checkpoint(DIR / "ckpt.h5", {"w/0": np.arange(12.0).reshape(3, 4),
                                             "step": np.array(7)}, {"epoch": 3, "lr": 0.1})
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 4), dtype=np.uint8)
    idx = write_idx(DIR / "images.idx.gz", images)
    files = {"results": DIR / "results.h5", "journal": DIR / "journal.h5", "snapshot": snap,
             "checkpoint": ckpt, "idx": idx}
    out = {kind: (path.read_bytes(), LOADERS[kind](path)) for kind, path in files.items()}
    assert out["results"][1][0] == _flat(res)[0]
    return out


def _flat(res) -> list:
    return [res.start_step, res.end_step, res.dt, res.seed, res.complete,
            *[np.asarray(x) for r in res.spikes.values() for x in (r.steps, r.indices, r.n)],
            *[np.asarray(x) for r in res.states.values() for x in (r.steps, r.data, r.indices)]]


def _load_results(path):
    return _flat(snn.Results.load(path))


def _load_snapshot(path):
    backend, options, built, step, arrays = read_snapshot(path)
    return [backend, options, step, built.dt, built.seed,
            *[arrays[k] for k in sorted(arrays)], *[p.weights for p in built.projections]]


def _load_checkpoint(path):
    arrays, meta = load_checkpoint(path)
    return [meta, *[arrays[k] for k in sorted(arrays)]]


LOADERS = {"results": _load_results, "journal": _load_results, "snapshot": _load_snapshot,
           "checkpoint": _load_checkpoint, "idx": lambda p: [read_idx_images(p)]}


def _equal(a, b) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if np.shape(x) != np.shape(y) or not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


@examples(ci=40)
@given(st.sampled_from(sorted(LOADERS)), st.data())
def test_damaged_files_give_a_clear_error_or_the_original_data(kind, data):
    raw, expected = originals()[kind]
    damaged = bytearray(raw)
    if data.draw(st.booleans(), label="truncate"):
        damaged = damaged[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    else:
        for _ in range(data.draw(st.integers(1, 3), label="flips")):
            pos = data.draw(st.integers(0, len(raw) - 1), label="byte")
            damaged[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    path = DIR / f"damaged-{kind}"
    path.write_bytes(bytes(damaged))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = LOADERS[kind](path)
        except ValueError as err:
            assert str(err)
            return
    if kind == "journal" and any(issubclass(w.category, IncompleteRunWarning) for w in caught):
        # A cut journal reads as the run up to its last complete record: a prefix.
        start, end = got[0], got[1]
        assert start == expected[0] and end <= expected[1]
        steps, ref_steps = got[5], expected[5]
        np.testing.assert_array_equal(steps, ref_steps[ref_steps < end])
        return
    assert _equal(got, expected), f"{kind}: damage read back as different data"
