"""Lempel-Ziv complexity (LZ76, Kaspar-Schuster counting) against hand-counted phrase parses,
the definition by substring search, and known limits; Fano factor, binning of records and the
SNN-LZC decision rule."""

import math

import numpy as np
import pytest

from snn.analysis import LZCDecision, binned_trains, fano_factor, lempel_ziv_complexity, lz76_count
from snn.results import SpikeRecord


def bits(s: str) -> np.ndarray:
    return np.array([int(ch) for ch in s], dtype=np.uint8)


# Hand parses: each new phrase is the shortest block not found (as a copy that may start
# anywhere before the phrase and may overlap it) in the text before its last symbol.
HAND = [
    ("0", 1),                  # 0
    ("01", 2),                 # 0 | 1
    ("0000", 2),               # 0 | 000  (000 copies from position 0, overlapping itself)
    ("0101", 3),               # 0 | 1 | 01
    ("0110", 3),               # 0 | 1 | 10   (1 copies, 10 is not in 011)
    ("1001", 3),               # 1 | 0 | 01   (0 copies, 01 is not in 100)
    ("0010", 3),               # 0 | 01 | 0   (the last, incomplete phrase counts)
    ("0001101001000101", 6),   # 0 | 001 | 10 | 100 | 1000 | 101  (Kaspar & Schuster's example)
    ("1011010001", 5),         # 1 | 0 | 11 | 0100 | 01
    ("01" * 20, 3),            # 0 | 1 | 0101...  (periodic: the third phrase copies to the end)
    ("001" * 20, 3),           # 0 | 01 | 001001...
]


@pytest.mark.parametrize("text, count", HAND)
def test_hand_counted_parses(text, count):
    assert int(lz76_count(bits(text))) == count


def reference_count(s: str) -> int:
    """LZ76 by its definition: extend the phrase while it occurs in s[:end - 1]."""
    n, start, c = len(s), 0, 0
    while start < n:
        end = start + 1
        while end <= n and s[start:end] in s[:end - 1]:
            end += 1
        c += 1
        start = end
    return c


def test_matches_the_definition_on_random_strings():
    rng = np.random.default_rng(1)
    seqs = [(rng.random(int(rng.integers(1, 60))) < p).astype(np.uint8)
            for p in (0.1, 0.5, 0.8) for _ in range(60)]
    for s in seqs:
        assert int(lz76_count(s)) == reference_count("".join(map(str, s)))


def test_all_zeros_and_periodic_tend_to_zero():
    for n in (10, 100, 10_000):
        assert int(lz76_count(np.zeros(n))) == 2
        assert lempel_ziv_complexity(np.zeros(n)) == pytest.approx(2 * math.log2(n) / n)
    periodic = np.tile(bits("0010111"), 1000)
    assert int(lz76_count(periodic)) <= 7  # the first period's phrases, then one copy
    assert lempel_ziv_complexity(periodic) < 0.01


def test_bernoulli_half_tends_to_one_and_biased_coin_to_its_entropy():
    rng = np.random.default_rng(0)
    c = {n: lempel_ziv_complexity(rng.random((4, n)) < 0.5) for n in (1_000, 100_000)}
    assert np.all(np.abs(c[100_000] - 1) < 0.04)
    assert np.abs(c[100_000] - 1).mean() < np.abs(c[1_000] - 1).mean()  # converges (from above)
    p = 0.1
    entropy = -p * math.log2(p) - (1 - p) * math.log2(1 - p)  # 0.469 bits
    assert lempel_ziv_complexity(rng.random(100_000) < p) == pytest.approx(entropy, abs=0.05)


def test_vectorised_over_leading_axes_and_unnormalised():
    rng = np.random.default_rng(2)
    x = rng.random((3, 4, 50)) < 0.3
    c = lempel_ziv_complexity(x, normalize=False)
    assert c.shape == (3, 4)
    assert c[1, 2] == lz76_count(x[1, 2])
    assert lempel_ziv_complexity(x)[1, 2] == pytest.approx(c[1, 2] * math.log2(50) / 50)


def test_bad_input():
    with pytest.raises(ValueError, match="only 0 and 1"):
        lz76_count(np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="at least one time bin"):
        lz76_count(np.zeros((3, 0)))
    with pytest.raises(TypeError, match="numeric or boolean"):
        lz76_count(np.array(["a", "b"]))


def test_fano_factor_of_poisson_counts_is_one():
    rng = np.random.default_rng(3)
    counts = rng.poisson(4.0, size=(20_000, 3))
    assert fano_factor(counts) == pytest.approx(np.ones(3), abs=0.05)
    assert np.isnan(fano_factor(np.zeros((5, 1)))[0])
    with pytest.raises(ValueError, match="at least 2 trials"):
        fano_factor(np.ones((1, 3)))


def test_binned_trains_of_a_batched_record():
    rec = SpikeRecord("p", n=2, dt=1e-3, steps=np.array([0, 3, 4, 1]), indices=np.array([0, 1, 1, 0]),
                      samples=np.array([0, 0, 1, 1]), batch=2)
    out = binned_trains(rec, steps=6, bin_steps=2)
    expected = np.zeros((2, 2, 3), dtype=np.uint8)
    expected[0, 0, 0] = expected[0, 1, 1] = expected[1, 1, 2] = expected[1, 0, 0] = 1
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="steps must exceed"):
        binned_trains(rec, steps=4)


def test_lzc_decision_separates_poisson_from_periodic_trains_at_equal_rate():
    rng = np.random.default_rng(4)
    n, steps = 200, 400
    poisson = rng.random((n, steps)) < 0.25
    phase = rng.integers(0, 4, n)
    periodic = (np.arange(steps)[None] + phase[:, None]) % 4 == 0  # the same rate, 0.25
    x = np.concatenate([poisson, periodic]).astype(np.uint8)
    y = np.repeat([0, 1], n)
    rule = LZCDecision().fit(x[::2], y[::2])
    assert rule.score(x[1::2], y[1::2]) == 1.0
    assert rule.mean_[0, 0] > 0.6 > rule.mean_[1, 0]  # entropy-rate-like: 0.81 bits vs ~0
    with pytest.raises(ValueError, match="not fitted"):
        LZCDecision().predict(x)
