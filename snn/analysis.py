"""Spike-train analysis: Lempel-Ziv complexity (LZ76) of binary trains, Fano factor, binning of
recorded spikes, and the SNN-LZC decision rule (class by the complexity of output trains).

Firing rate and the coefficient of variation of inter-spike intervals live on the records
themselves (:meth:`snn.results.SpikeRecord.rate`, :meth:`snn.results.SpikeRecord.cv_isi`);
:func:`binned_trains` turns a record into the ``(..., steps)`` binary arrays used here.

Lempel-Ziv complexity (Lempel and Ziv 1976, counted as Kaspar and Schuster 1987): a binary
sequence ``x_1..x_n`` is parsed left to right into phrases, each new phrase being the shortest
block that cannot be copied from the text before it (the copy may overlap the phrase itself);
``c(n)`` is the number of phrases, the last one counted even if incomplete. The normalised
complexity ``C = c(n) log2(n) / n`` tends to the entropy rate (bits per bin) of an ergodic
source: 1 for i.i.d. fair coin flips, 0 for a periodic sequence.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from snn.results import SpikeRecord


@njit(cache=True, nogil=True)
def _lz76_rows(seqs: np.ndarray, out: np.ndarray) -> None:
    """Kaspar-Schuster phrase count of every row of ``seqs`` (uint8, ``(rows, n)``)."""
    rows, n = seqs.shape
    for r in range(rows):
        s = seqs[r]
        if n < 2:
            out[r] = n
            continue
        # i: start of the candidate copy in the history; h: length of the history (start of
        # the current phrase); k: length of the current match; k_max: longest match so far.
        i, k, h, c, k_max = 0, 1, 1, 1, 1
        while True:
            if s[i + k - 1] == s[h + k - 1]:
                k += 1
                if h + k > n:  # the phrase runs to the end of the sequence
                    c += 1
                    break
            else:
                if k > k_max:
                    k_max = k
                i += 1
                if i == h:  # no copy source left: the phrase ends here
                    c += 1
                    h += k_max
                    if h + 1 > n:
                        break
                    i, k, k_max = 0, 1, 1
                else:
                    k = 1
        out[r] = c


def _as_binary(trains, name: str) -> np.ndarray:
    arr = np.asarray(trains)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric or boolean array of 0/1 values, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one time bin on its last axis, got shape {arr.shape}")
    binary = arr.astype(np.uint8)
    if arr.dtype != np.bool_ and (not np.array_equal(binary, arr) or binary.max() > 1):
        raise ValueError(f"{name} must hold only 0 and 1 (spike or no spike per bin); threshold or "
                         f"bin the trains first (e.g. binned_trains or trains > 0)")
    return binary


def lz76_count(trains) -> np.ndarray:
    """The LZ76 phrase count ``c(n)`` of each binary train along the last axis of ``trains``
    (shape ``(..., n)``, values 0/1); returns an int64 array of shape ``trains.shape[:-1]``
    (a 0-d array for a single train)."""
    binary = _as_binary(trains, "trains")
    flat = np.ascontiguousarray(binary.reshape(-1, binary.shape[-1]))
    out = np.empty(flat.shape[0], dtype=np.int64)
    _lz76_rows(flat, out)
    return out.reshape(binary.shape[:-1])


def lempel_ziv_complexity(trains, normalize: bool = True) -> np.ndarray:
    """Lempel-Ziv complexity of each binary train along the last axis of ``trains``
    (``(..., n)``, e.g. ``(samples, neurons, steps)``): ``C = c(n) log2(n) / n`` (bits per bin;
    ``normalize=False``: the phrase count ``c(n)`` itself). Compiled with numba; vectorised over
    all leading axes. A train of one bin has ``C = 0``."""
    counts = lz76_count(trains)
    if not normalize:
        return counts
    n = np.asarray(trains).shape[-1]
    return counts * (math.log2(n) / n) if n > 1 else np.zeros(counts.shape)


def fano_factor(counts, axis: int = 0) -> np.ndarray:
    """Fano factor ``var / mean`` of spike counts over ``axis`` (trials); NaN where the mean
    count is 0. Poisson trains give 1."""
    c = np.asarray(counts, dtype=np.float64)
    if c.shape[axis] < 2:
        raise ValueError(f"fano_factor needs at least 2 trials along axis {axis}, got shape {c.shape}")
    mean = c.mean(axis)
    var = c.var(axis, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean > 0, var / np.where(mean > 0, mean, 1.0), np.nan)


def binned_trains(record: SpikeRecord, steps: int, bin_steps: int = 1) -> np.ndarray:
    """Binary trains of a spike record: ``(n, bins)``, or ``(batch, n, bins)`` for a batched
    run, with ``bins = ceil(steps / bin_steps)``; a bin is 1 if the neuron spiked in it.
    ``steps``: the simulated steps; ``bin_steps``: steps per bin (bin width ``bin_steps * dt``)."""
    if not isinstance(record, SpikeRecord):
        raise TypeError(f"record must be a snn.SpikeRecord, got {type(record).__name__}")
    for name, value in (("steps", steps), ("bin_steps", bin_steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    bins = -(-int(steps) // int(bin_steps))
    steps_arr = np.asarray(record.steps, dtype=np.int64)
    if steps_arr.size and int(steps_arr.max()) >= steps:
        raise ValueError(f"the record has spikes at step {int(steps_arr.max())}; steps must exceed it")
    b = steps_arr // int(bin_steps)
    idx = np.asarray(record.indices, dtype=np.int64)
    if record.batch is None:
        out = np.zeros((record.n, bins), dtype=np.uint8)
        out[idx, b] = 1
    else:
        out = np.zeros((record.batch, record.n, bins), dtype=np.uint8)
        out[np.asarray(record.samples, dtype=np.int64), idx, b] = 1
    return out


class LZCDecision:
    """The SNN-LZC decision rule: a sample's features are the Lempel-Ziv complexities of its
    output trains (one per output neuron, or one when a single train is given); :meth:`fit`
    learns per class the mean and standard deviation of each feature, and :meth:`predict`
    gives the class of highest Gaussian log-likelihood (a diagonal, class-conditional model;
    with one feature, the class whose mean complexity is closest in units of its spread).

    ``min_std`` (bits per bin) floors the spreads, so a class whose training trains all have
    the same complexity does not capture everything near it.
    """

    def __init__(self, min_std: float = 1e-3) -> None:
        if not (isinstance(min_std, (int, float)) and math.isfinite(min_std) and min_std > 0):
            raise ValueError(f"min_std must be a positive finite number, got {min_std!r}")
        self.min_std = float(min_std)
        self.classes_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    @staticmethod
    def features(trains) -> np.ndarray:
        """LZ complexities ``(samples, features)`` of binary trains ``(samples, steps)`` or
        ``(samples, neurons, steps)``."""
        c = lempel_ziv_complexity(trains)
        if c.ndim == 1:
            return c[:, None]
        if c.ndim != 2:
            raise ValueError(f"trains must be (samples, steps) or (samples, neurons, steps), got "
                             f"shape {np.asarray(trains).shape}")
        return c

    def fit(self, trains, labels) -> LZCDecision:
        """Learn the class-conditional statistics from training trains and their labels."""
        feats = self.features(trains)
        y = np.asarray(labels)
        if y.shape != (feats.shape[0],):
            raise ValueError(f"labels must hold one label per sample ({feats.shape[0]}), got shape {y.shape}")
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError("labels must contain at least two classes")
        self.classes_ = classes
        self.mean_ = np.stack([feats[y == c].mean(0) for c in classes])
        self.std_ = np.stack([np.maximum(feats[y == c].std(0), self.min_std) for c in classes])
        return self

    def log_likelihood(self, trains) -> np.ndarray:
        """Per-class Gaussian log-likelihood ``(samples, classes)`` of the trains' features."""
        if self.mean_ is None:
            raise ValueError("LZCDecision is not fitted yet; call fit(trains, labels) first")
        feats = self.features(trains)
        if feats.shape[1] != self.mean_.shape[1]:
            raise ValueError(f"trains give {feats.shape[1]} features but the rule was fitted on "
                             f"{self.mean_.shape[1]}")
        z = (feats[:, None, :] - self.mean_[None]) / self.std_[None]
        return -0.5 * (z * z).sum(2) - np.log(self.std_).sum(1)[None]

    def predict(self, trains) -> np.ndarray:
        """The class of each sample."""
        return self.classes_[self.log_likelihood(trains).argmax(1)]

    def score(self, trains, labels) -> float:
        """Accuracy on ``trains`` with true ``labels``."""
        return float(np.mean(self.predict(trains) == np.asarray(labels)))


__all__ = ["LZCDecision", "binned_trains", "fano_factor", "lempel_ziv_complexity", "lz76_count"]
