"""Brian2's STDP example (Song, Miller & Abbott 2000) as a peer run: JSON schema and the start
of the bimodal weight distribution (skipped where Brian2 is missing)."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from snn.peers import run_peer

brian2_missing = pytest.mark.skipif(importlib.util.find_spec("brian2") is None,
                                    reason="brian2 not installed")


def run_stdp(tmp_path, device, duration, seed):
    """Run the peer, check its JSON schema and its consistency with the saved weights."""
    path = tmp_path / "w.npy"
    out = run_peer("brian2_stdp", ["--duration", str(duration), "--device", device, "--seed",
                                   str(seed), "--json", "--weights", str(path)], timeout=600)
    for key, kind in [("simulator", str), ("version", str), ("frac_low", float),
                      ("frac_high", float), ("w_mean", float), ("rate_hz", float),
                      ("output_spikes", int), ("hist_counts", list), ("wall_s", float),
                      ("wall_s_runs", list), ("build_s", float), ("duration_s", float)]:
        assert isinstance(out[key], kind), key
    assert out["simulator"] == f"brian2-{device}" and out["n_inputs"] == 1000
    assert len(out["hist_counts"]) == 50 and sum(out["hist_counts"]) == 1000
    assert out["wall_s"] > 0 and out["build_s"] > 0
    w = np.load(path)
    assert w.shape == (1000,) and w.min() >= 0.0 and w.max() <= 1.0
    assert out["frac_low"] == pytest.approx(np.mean(w < 0.1))
    assert out["frac_high"] == pytest.approx(np.mean(w > 0.9))
    assert out["w_mean"] == pytest.approx(w.mean())
    assert out["rate_hz"] == pytest.approx(out["output_spikes"] / duration)
    return out, w


@brian2_missing
def test_short_numpy_run_reports_the_schema(tmp_path):
    # The NumPy runtime needs no compiler: half a second of biological time in a few seconds.
    out, w = run_stdp(tmp_path, "numpy", 0.5, seed=1)
    assert 20.0 < out["rate_hz"] < 150.0  # 1000 inputs at 15 Hz with mean weight gmax / 2
    assert 0.4 < out["w_mean"] < 0.6  # still close to the initial uniform weights


@brian2_missing
@pytest.mark.slow
def test_cpp_standalone_weights_move_to_the_bounds(tmp_path):
    # ~10 s of C++ compilation, then 20 s of biological time in ~1 s.
    out, w = run_stdp(tmp_path, "cpp_standalone", 20.0, seed=3)
    # The initial weights are uniform on [0, gmax]: 10% +- 1% of them below 0.1 gmax and a mean
    # distance from gmax / 2 of 0.25 +- 0.005. Depression-dominated STDP (dApost = -1.05 dApre)
    # pushes most weights down first; measured after 20 s: 0.20 and 0.276 (seed 3).
    assert out["frac_low"] > 0.15
    assert np.mean(np.abs(w - 0.5)) > 0.262
    assert 20.0 < out["rate_hz"] < 120.0  # tens of Hz while the weights are still spread


def test_bad_arguments_exit_with_usage_error():
    proc = subprocess.run([sys.executable, "-m", "snn.peers.brian2_stdp", "--duration", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--duration" in proc.stderr
