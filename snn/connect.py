"""Connectivity rules: which (pre, post) pairs a projection connects.

A connector is data; it is turned into index arrays at build time with the network's seeded
generator, so the same seed always gives the same connectivity on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn.validate import check_int, check_probability


class Connector:
    """Base class: ``pairs`` returns (pre, post, weight or None, delay or None) arrays."""

    def pairs(self, n_pre: int, n_post: int, rng: np.random.Generator, same: bool):
        """Connections between ``n_pre`` and ``n_post`` neurons (indices local to each side).

        ``same`` is True when pre and post are the same neurons (autapses possible).
        """
        raise NotImplementedError

    def expected_synapses(self, n_pre: int, n_post: int, same: bool) -> float | None:
        """The number of synapses ``pairs`` will make (its mean for random connectors),
        computed without drawing them; None when the connector cannot tell."""
        return None

    def build_scratch_bytes(self, n_pre: int, n_post: int) -> int:
        """Bytes ``pairs`` needs beyond its output arrays while drawing (0 unless it visits
        every pair)."""
        return 0


def _drop_autapses(pre, post, same: bool, allow: bool):
    if same and not allow:
        keep = pre != post
        return pre[keep], post[keep]
    return pre, post


@dataclass(frozen=True)
class AllToAll(Connector):
    """Every pre neuron to every post neuron."""

    allow_autapses: bool = True

    def expected_synapses(self, n_pre, n_post, same):
        return float(n_pre) * n_post - (min(n_pre, n_post) if same and not self.allow_autapses else 0)

    def pairs(self, n_pre, n_post, rng, same):
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        return (*_drop_autapses(pre, post, same, self.allow_autapses), None, None)


@dataclass(frozen=True)
class OneToOne(Connector):
    """Neuron i to neuron i; both sides must have the same size."""

    def expected_synapses(self, n_pre, n_post, same):
        return float(n_pre)

    def pairs(self, n_pre, n_post, rng, same):
        if n_pre != n_post:
            raise ValueError(f"OneToOne needs equal sizes, got {n_pre} pre and {n_post} post")
        idx = np.arange(n_pre, dtype=np.int64)
        return idx, idx.copy(), None, None


@dataclass(frozen=True)
class FixedProbability(Connector):
    """Each (pre, post) pair is connected independently with probability ``p``.

    Sampled without visiting every pair, so sparse connectivity between large populations
    builds in time proportional to the number of synapses.
    """

    p: float
    allow_autapses: bool = True

    def __post_init__(self) -> None:
        check_probability("FixedProbability.p", self.p)

    def expected_synapses(self, n_pre, n_post, same):
        if self.p >= 1.0:
            return AllToAll(self.allow_autapses).expected_synapses(n_pre, n_post, same)
        return float(self.p) * n_pre * n_post

    def build_scratch_bytes(self, n_pre, n_post):
        # Above p = 0.05 every pair gets a float64 draw and a bool mask (pairs below).
        return 9 * n_pre * n_post if 0.05 < self.p < 1.0 else 0

    def pairs(self, n_pre, n_post, rng, same):
        total = n_pre * n_post
        if self.p >= 1.0:
            return AllToAll(self.allow_autapses).pairs(n_pre, n_post, rng, same)
        if self.p == 0.0 or total == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty.copy(), None, None
        m = int(rng.binomial(total, self.p))
        if self.p > 0.05:
            flat = np.flatnonzero(rng.random(total) < self.p)
        else:
            flat = _distinct_sorted(rng, total, m)
        pre, post = np.divmod(flat, n_post)
        return (*_drop_autapses(pre, post, same, self.allow_autapses), None, None)


def _distinct_sorted(rng: np.random.Generator, population: int, m: int) -> np.ndarray:
    """``m`` distinct integers from ``range(population)``, sorted (m << population)."""
    flat = _sorted_distinct(rng.integers(0, population, m))
    while flat.size < m:
        extra = rng.integers(0, population, m - flat.size)
        flat = _sorted_distinct(np.concatenate([flat, extra]))
    return flat


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)
    keep = np.ones(values.size, dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


@dataclass(frozen=True)
class FixedInDegree(Connector):
    """Each post neuron receives exactly ``k`` connections from distinct random pre neurons."""

    k: int
    allow_autapses: bool = True

    def __post_init__(self) -> None:
        check_int("FixedInDegree.k", self.k, minimum=0)

    def expected_synapses(self, n_pre, n_post, same):
        return float(self.k) * n_post

    def build_scratch_bytes(self, n_pre, n_post):
        return 3 * 8 * self.k * n_post  # draws, their sorted copy and the duplicate mask

    def pairs(self, n_pre, n_post, rng, same):
        avail = n_pre - (0 if self.allow_autapses or not same else 1)
        if self.k > avail:
            raise ValueError(
                f"FixedInDegree.k={self.k} exceeds the {avail} distinct pre neurons available"
            )
        post = np.repeat(np.arange(n_post, dtype=np.int64), self.k)
        pre = rng.integers(0, n_pre, (n_post, self.k))
        owner = np.arange(n_post)[:, None]
        while True:
            srt = np.sort(pre, axis=1)
            dup = np.zeros_like(pre, dtype=bool)
            dup[:, 1:] = srt[:, 1:] == srt[:, :-1]
            bad = dup | ((srt == owner) if (same and not self.allow_autapses) else False)
            if not bad.any():
                pre = srt
                break
            srt[bad] = rng.integers(0, n_pre, int(bad.sum()))
            pre = srt
        return pre.reshape(-1), post, None, None


@dataclass(frozen=True, eq=False)
class FromList(Connector):
    """Explicit connections: arrays ``pre``, ``post`` and optional per-synapse ``weight``
    (V) and ``delay`` (steps)."""

    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray | None = None
    delay: np.ndarray | None = None

    def __post_init__(self) -> None:
        pre = np.asarray(self.pre)
        post = np.asarray(self.post)
        if pre.ndim != 1 or post.shape != pre.shape:
            raise ValueError(
                f"FromList.pre and FromList.post must be 1-D of equal length, got shapes "
                f"{pre.shape} and {post.shape}"
            )
        for name in ("pre", "post"):
            arr = np.asarray(getattr(self, name))
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"FromList.{name} must hold integer neuron indices")
        for name in ("weight", "delay"):
            val = getattr(self, name)
            if val is not None and np.asarray(val).shape != pre.shape:
                raise ValueError(
                    f"FromList.{name} has shape {np.asarray(val).shape}, expected {pre.shape}"
                )

    def expected_synapses(self, n_pre, n_post, same):
        return float(np.asarray(self.pre).size)

    def pairs(self, n_pre, n_post, rng, same):
        pre = np.asarray(self.pre, dtype=np.int64)
        post = np.asarray(self.post, dtype=np.int64)
        if pre.size and (pre.min() < 0 or pre.max() >= n_pre):
            raise ValueError(f"FromList.pre has indices outside [0, {n_pre})")
        if post.size and (post.min() < 0 or post.max() >= n_post):
            raise ValueError(f"FromList.post has indices outside [0, {n_post})")
        return pre, post, self.weight, self.delay


@dataclass(frozen=True, eq=False)
class FromMatrix(Connector):
    """Connections from a dense (n_pre, n_post) array or a scipy sparse matrix: every
    stored non-zero entry becomes a synapse with that weight (V)."""

    matrix: object

    def expected_synapses(self, n_pre, n_post, same):
        m = self.matrix
        return float(m.nnz) if hasattr(m, "nnz") else float(np.count_nonzero(np.asarray(m)))

    def pairs(self, n_pre, n_post, rng, same):
        m = self.matrix
        if hasattr(m, "tocoo"):
            coo = m.tocoo()
            shape = coo.shape
            pre, post, w = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        else:
            dense = np.asarray(m, dtype=np.float64)
            shape = dense.shape
            if dense.ndim != 2:
                raise ValueError(f"FromMatrix.matrix must be 2-D, got shape {dense.shape}")
            pre, post = np.nonzero(dense)
            w = dense[pre, post]
        if tuple(shape) != (n_pre, n_post):
            raise ValueError(
                f"FromMatrix.matrix has shape {tuple(shape)}, expected ({n_pre}, {n_post})"
            )
        return pre.astype(np.int64), post.astype(np.int64), np.asarray(w, np.float64), None
