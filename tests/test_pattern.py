"""The STDP + homeostasis spatial-pattern detector (rules/stdp/pattern.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rules.pattern import PatternConfig, PatternDetector, make_patterns, train_pattern


def _pattern(n=24, k=12, seed=0):
    return make_patterns(n, k, 1, None, np.random.default_rng(seed))


def test_single_pattern_is_learned_and_detected_exactly():
    p = _pattern()
    det = PatternDetector(24, 1, PatternConfig(), pattern_size=12, seed=3)
    before = det.respond(p)
    assert not before.any(), "an untrained detector must not respond to the pattern"
    det.fit(p)
    w = det.weights[:, 0]
    assert w[p[0]].sum() > 0.9 * w.sum(), "pattern synapses must carry the weight after training"
    assert w[p[0]].mean() > 10 * w[~p[0]].mean()
    assert np.isclose(w.sum(), det.weight_sum), "homeostasis keeps the weight sum at its set point"
    scores = det.evaluate(p, n_negatives=40, repeats=10)
    assert scores["accuracy"] == 1.0
    assert scores["detection_rate"] == 1.0
    assert scores["false_positive_rate"] == 0.0


def test_weight_history_shows_pattern_synapses_grow():
    p = _pattern(seed=1)
    det = PatternDetector(24, 1, PatternConfig(presentations=4), pattern_size=12, seed=0)
    det.fit(p)
    w = det.history["weights"][:, :, 0]
    assert w.shape == (5, 24)
    assert np.all(np.diff(w[:, p[0]].sum(1)) > 0)
    assert np.all(np.diff(w[:, ~p[0]].sum(1)) < 0)


def test_tolerance_sets_how_similar_a_pattern_must_be():
    p = _pattern(n=40, k=20, seed=2)
    det = PatternDetector(40, 1, PatternConfig(tolerance=0.7, noise_rate=0.0), pattern_size=20, seed=0)
    det.fit(p)
    partial = []
    for keep in (18, 10):  # 90% and 50% of the pattern's inputs
        q = np.zeros(40, bool)
        q[np.flatnonzero(p[0])[:keep]] = True
        partial.append(q)
    fired = det.respond(np.array(partial))[:, 0]
    assert fired.tolist() == [True, False]


def test_two_distinct_patterns_each_detected_by_own_output():
    rng = np.random.default_rng(4)
    p = make_patterns(32, 16, 2, 16, rng)
    assert int(np.sum(p[0] != p[1])) == 16
    det = PatternDetector(32, 2, PatternConfig(), pattern_size=16, seed=1)
    det.fit(p)
    fired = det.respond(p)
    assert fired.tolist() == [[True, False], [False, True]]


def test_reproducible_from_seed():
    p = _pattern(seed=5)
    a = PatternDetector(24, 1, PatternConfig(presentations=3), pattern_size=12, seed=9)
    b = PatternDetector(24, 1, PatternConfig(presentations=3), pattern_size=12, seed=9)
    a.fit(p)
    b.fit(p)
    np.testing.assert_array_equal(a.weights, b.weights)


def test_train_pattern_writes_outputs(tmp_path):
    r = train_pattern(neurons=24, seed=0, out_dir=str(tmp_path), distances=[8], trials=1)
    assert r["test_accuracy"] == 1.0
    assert {row["n_patterns"] for row in r["overlap"]} == {2, 3}
    json.dumps(r)
    assert r["checkpoint"] == str(tmp_path / "pattern.h5")
    for name in ("pattern.h5", "pattern_results.h5", "pattern_weights.png", "pattern_raster.png",
                 "pattern_overlap.png"):
        assert (tmp_path / name).stat().st_size > 0
    det = PatternDetector.load(tmp_path / "pattern.h5")
    assert det.weights.shape == (24, 1)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="tolerance"):
        PatternConfig(tolerance=1.5)
    with pytest.raises(ValueError, match="patterns must have shape"):
        PatternDetector(10, 1).fit(np.ones((2, 10), bool))
    with pytest.raises(ValueError, match="hamming"):
        make_patterns(10, 5, 2, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown pattern option"):
        train_pattern(neurons=10, bogus=1)
