"""Song, Miller & Abbott (2000) on our engine (snn.bench.stdp): weights move to both bounds,
runs are reproducible, numba and torch agree bit for bit, and (slow) the 100 s fractions match
Brian2's example."""

import importlib.util
import json

import numpy as np
import pytest

from snn.bench import stdp

brian2_missing = pytest.mark.skipif(importlib.util.find_spec("brian2") is None,
                                    reason="brian2 not installed")


@pytest.fixture(scope="module")
def run20():
    return stdp.run_song_abbott(20.0, seed=2, membrane="conductance", every=5.0)


def test_weights_move_to_both_bounds(run20):
    r = run20
    w, counts = r["weights"], r["hist_counts"]
    assert w.shape == (1000,) and w.min() >= 0.0 and w.max() <= 1.0
    assert list(r["hist_times"]) == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert counts.shape == (5, stdp.HIST_BINS) and np.all(counts.sum(axis=1) == 1000)
    # The first and last 5 of 50 bins are exactly w < 0.1 and w >= 0.9: the fractions at the start.
    low0, high0 = counts[0, :5].sum() / 1000, counts[0, -5:].sum() / 1000
    assert r["frac_low"] == pytest.approx(np.mean(w < 0.1))
    assert r["frac_high"] == pytest.approx(np.mean(w > 0.9))
    # Uniform start: 10% +- 0.95% (binomial sd) in each tail, mean distance from 1/2 of 0.25 +- 0.0046.
    # After 20 s (measured over seeds 0-11): frac_low 0.157-0.174 (+0.03 to +0.09 on the seed's
    # own start), frac_high +0.01 to +0.05, distance 0.263-0.282, and weights sitting exactly on
    # each bound (none at the start). Seed 2: 0.169 (+0.089), 0.131 (+0.023), 0.276.
    assert r["frac_low"] > 0.14 and r["frac_low"] - low0 > 0.05
    assert r["frac_high"] - high0 > 0.01
    assert np.mean(np.abs(w - 0.5)) > 0.265
    assert np.sum(w == 0.0) + np.sum(w == 1.0) > 0 and np.sum(w == 1.0) > 0
    # Depression dominates (a_minus = 1.05 a_plus): the mean falls below its start (~0.5).
    assert r["w_mean"] < np.mean(np.random.default_rng(2).random(1000))
    assert 15.0 < r["rate_hz"] < 80.0
    assert r["wall_s"] > 0 and r["build_s"] > 0


def test_reproducible_from_seed(run20):
    a = stdp.run_song_abbott(2.0, seed=5, membrane="example")
    b = stdp.run_song_abbott(2.0, seed=5, membrane="example")
    c = stdp.run_song_abbott(2.0, seed=6, membrane="example")
    assert np.array_equal(a["weights"], b["weights"]) and a["output_spikes"] == b["output_spikes"]
    assert not np.array_equal(a["weights"], c["weights"])
    # The initial weights are the seed's uniform draw, scaled to gmax (and Ee - vr in volts).
    net = stdp.song_abbott_network(seed=5, membrane="example")
    w0 = net.build(dt=stdp.DT, seed=0).weights("syn")
    expected = np.random.default_rng(5).random(1000) * stdp.GMAX * (stdp.E_E - stdp.V_R)
    np.testing.assert_allclose(w0, expected, rtol=1e-15)


def test_numba_and_torch_agree_in_float64():
    pytest.importorskip("torch")
    a = stdp.run_song_abbott(0.3, seed=3, membrane="conductance", every=0.15)
    b = stdp.run_song_abbott(0.3, seed=3, membrane="conductance", every=0.15, backend="torch",
                             dtype="float64")
    assert a["output_spikes"] == b["output_spikes"] > 5
    assert np.array_equal(a["weights"], b["weights"])
    assert np.array_equal(a["hist_counts"], b["hist_counts"])
    assert np.abs(a["weights"] - np.random.default_rng(3).random(1000)).max() > 0.01  # it learned


def test_bad_arguments():
    with pytest.raises(ValueError, match="membrane"):
        stdp.run_song_abbott(1.0, membrane="cuba")
    with pytest.raises(ValueError, match="duration"):
        stdp.run_song_abbott(0.0)
    with pytest.raises(ValueError, match="--vs 'nest'"):
        stdp.bench_stdp(1.0, vs=("nest",))
    with pytest.raises(ValueError, match="seed"):
        stdp.bench_stdp(1.0, seeds=())
    with pytest.raises(ValueError, match="repeat"):
        stdp.bench_stdp(1.0, repeat=0)


def test_bench_without_peers_is_json():
    out = stdp.bench_stdp(0.5, seeds=(1, 2), vs=(), membrane="example", repeat=2)
    json.dumps(out)
    assert [r["seed"] for r in out["runs"]] == [1, 2] and "speedup" not in out
    assert out["wall_s"] == pytest.approx(np.mean([r["wall_s"] for r in out["runs"]]))
    assert out["frac_low"] == pytest.approx(np.mean([r["frac_low"] for r in out["runs"]]))


@brian2_missing
@pytest.mark.slow
@pytest.mark.parametrize("membrane", ["conductance", "example"])
def test_fractions_match_brian2_at_100s(membrane):
    # Three seeds each (~15 s of C++ compilation per Brian2 run); the means over the seeds of
    # each fraction agree within 5 points (measured: within 1.6; Brian2's output rate is 12-20%
    # higher, mostly from its same-step pre/post pairing, see snn/bench/stdp.py).
    out = stdp.bench_stdp(100.0, seeds=(1, 2, 3), vs=("brian2-cpp",), membrane=membrane)
    json.dumps(out)
    peer = out["brian2-cpp"]
    assert abs(out["frac_low"] - peer["frac_low"]) < 0.05, out
    assert abs(out["frac_high"] - peer["frac_high"]) < 0.05, out
    assert out["frac_low"] > 0.18 and out["frac_high"] > 0.13  # well away from the uniform 0.1
    assert out["speedup"] == pytest.approx(peer["wall_s"] / out["wall_s"])
    assert out["speedup_cpu"] == pytest.approx(peer["wall_s"] / out["cpu_s"])


@brian2_missing
@pytest.mark.slow
def test_bench_runs_the_peer_in_the_same_invocation():
    # Brian2's NumPy runtime needs no compiler; 0.2 s of biological time.
    out = stdp.bench_stdp(0.2, seeds=(1,), vs=("brian2-numpy", "brian2-numpy"), membrane="example")
    json.dumps(out)
    peer = out["brian2-numpy"]
    assert list(out["speedups"]) == ["brian2-numpy"] and len(peer["runs"]) == 1
    assert out["speedup"] == pytest.approx(peer["wall_s"] / out["wall_s"])
    assert out["diff_low"] == pytest.approx(out["frac_low"] - peer["frac_low"])
    assert "speedup_cpu" not in out  # only Brian2's standalone device reports CPU time
    for key in ("frac_low", "frac_high", "wall_s"):
        assert 0 <= peer[key] and 0 <= out[key]
    assert 0.4 < peer["w_mean"] < 0.6 and 0.4 < out["w_mean"] < 0.6  # still near the start
