"""A run streaming to HDF5 that is killed with SIGKILL leaves a file Results.load reads up to
its last complete chunk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import snn
from snn.results import JOURNAL_MAGIC, IncompleteRunWarning

CHUNK = 200
SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from tests.test_kill_safety import network
network().build(dt=1e-4, seed=7, chunk_steps={chunk}).run(1000.0, hdf5={path!r})
"""


def network() -> snn.Network:
    net = snn.Network()
    src = net.population(200, snn.PoissonSource(rate=50.0), name="src")
    out = net.population(50, snn.LIF(tau_m=10e-3), name="out")
    net.connect(src, out, snn.FixedProbability(0.2), weight=2e-3, delay=3)
    net.spike_monitor(src, name="src_spikes")
    net.spike_monitor(out, name="out_spikes")
    net.state_monitor(out[:3], "v", every=7, name="v")
    return net


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_run_leaves_a_readable_prefix(tmp_path):
    path = tmp_path / "run.h5"
    network().build(dt=1e-4, seed=7, chunk_steps=CHUNK).run(CHUNK * 1e-4)  # compile (cached)
    root = str(Path(__file__).resolve().parents[1])
    code = SCRIPT.format(root=root, chunk=CHUNK, path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for a few chunks on the disk
            if path.exists() and path.stat().st_size > 200_000:
                break
            assert proc.poll() is None, "the run ended before it was killed"
            time.sleep(0.05)
        else:
            pytest.fail("the streaming run wrote nothing within 60 s")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes().startswith(JOURNAL_MAGIC)
    with pytest.warns(IncompleteRunWarning, match=r"stopped before its end: recorded steps 0\.\."):
        res = snn.Results.load(path)
    assert not res.complete
    assert res.end_step > 0 and res.end_step % CHUNK == 0
    # What it holds equals the same run, uninterrupted, up to the step it reached.
    ref = network().build(dt=1e-4, seed=7, chunk_steps=CHUNK).run(res.end_step * 1e-4)
    for name in ("src_spikes", "out_spikes"):
        np.testing.assert_array_equal(res[name].steps, ref[name].steps)
        np.testing.assert_array_equal(res[name].indices, ref[name].indices)
    np.testing.assert_array_equal(res["v"].data, ref["v"].data)
    assert res["src_spikes"].count > 1000


def test_finished_stream_is_hdf5_and_a_cut_journal_reads_to_its_last_record(tmp_path):
    net = network()
    path = tmp_path / "run.h5"
    full = net.build(dt=1e-4, seed=2, chunk_steps=CHUNK).run(5 * CHUNK * 1e-4, hdf5=path)
    assert full.complete and path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    # The journal a killed run leaves, cut inside its fourth record.
    from snn.results import StreamWriter

    sim = net.build(dt=1e-4, seed=2, chunk_steps=CHUNK)
    journal = tmp_path / "journal.h5"
    writer = StreamWriter(journal, sim._record_meta(), 0, 5 * CHUNK)
    sizes = []
    for k in range(4):
        part = sim.run(CHUNK * 1e-4)
        writer.append({**{n: ("spikes", r.steps, r.indices, None) for n, r in part.spikes.items()},
                       **{n: ("state", r.steps, r.data) for n, r in part.states.items()}},
                      (k + 1) * CHUNK)
        sizes.append(journal.stat().st_size)
    writer.fh.close()
    os.truncate(journal, sizes[2] + (sizes[3] - sizes[2]) // 2)
    with pytest.warns(IncompleteRunWarning, match=r"steps 0\.\.600 of 0\.\.1000 \(3 complete"):
        res = snn.Results.load(journal)
    assert res.end_step == 600
    keep = full["out_spikes"].steps < 600
    np.testing.assert_array_equal(res["out_spikes"].indices, full["out_spikes"].indices[keep])
    # A flipped byte inside a complete record is damage, not the end of the run.
    data = bytearray(journal.read_bytes())
    data[sizes[0] + 40] ^= 0x10
    journal.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="fails its CRC-32 check"):
        snn.Results.load(journal)
