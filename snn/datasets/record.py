"""The in-memory record of a loaded image data set."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import overload

import numpy as np


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array`` (the caller's array keeps its own flags)."""
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class Dataset:
    """Labelled grey-scale images.

    ``images`` is a ``(N, H, W)`` uint8 array whose pixels lie in ``0..max_value``; ``labels`` a
    ``(N,)`` integer array of class indices in ``0..n_classes-1``. Both are stored as read-only
    views, so records can share memory safely; copy an array before changing it.

    ``ds[a:b]`` (or an integer index array, or a boolean mask of length N) gives another
    ``Dataset``; ``ds[i]`` gives one ``(image, label)`` pair. For example the 10k MNIST test set
    is commonly split as ``ds[:8000]`` for training and ``ds[8000:]`` for testing.
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    n_classes: int
    max_value: int = 255

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 3:
            got = (f"{images.dtype} array of shape {images.shape}" if isinstance(images, np.ndarray)
                   else type(images).__name__)
            raise TypeError(f"images must be a uint8 array of shape (N, H, W), got {got}")
        if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "ui":
            got = (f"{labels.dtype} array of shape {labels.shape}" if isinstance(labels, np.ndarray)
                   else type(labels).__name__)
            raise TypeError(f"labels must be a 1-d integer array, got {got}")
        if len(images) != len(labels):
            raise ValueError(f"images and labels must have the same length, got {len(images)} images "
                             f"and {len(labels)} labels")
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}")
        for arg in ("n_classes", "max_value"):
            value = getattr(self, arg)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"{arg} must be an int, got {type(value).__name__}")
        if not 1 <= self.n_classes <= 256:
            raise ValueError(f"n_classes must be in 1..256, got {self.n_classes}")
        if not 1 <= self.max_value <= 255:
            raise ValueError(f"max_value must be in 1..255 (the largest pixel value), got {self.max_value}")
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise ValueError(f"labels must lie in 0..{self.n_classes - 1} (n_classes={self.n_classes}), "
                             f"found {labels.min()}..{labels.max()}")
        object.__setattr__(self, "n_classes", int(self.n_classes))
        object.__setattr__(self, "max_value", int(self.max_value))
        object.__setattr__(self, "images", _read_only(images))
        object.__setattr__(self, "labels", _read_only(labels))

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        h, w = self.image_shape
        return (f"Dataset(name={self.name!r}, n={len(self)}, image_shape=({h}, {w}), "
                f"n_classes={self.n_classes}, max_value={self.max_value})")

    @overload
    def __getitem__(self, key: int) -> tuple[np.ndarray, int]: ...

    @overload
    def __getitem__(self, key: slice | np.ndarray | list[int]) -> Dataset: ...

    def __getitem__(self, key: int | slice | np.ndarray | list[int]) -> tuple[np.ndarray, int] | Dataset:
        """``ds[i]`` -> ``(image, label)``; ``ds[slice]``, ``ds[index_array]``, ``ds[mask]`` -> Dataset."""
        if isinstance(key, int | np.integer) and not isinstance(key, bool):
            i = operator.index(key)
            return self.images[i], int(self.labels[i])
        if isinstance(key, slice):
            return self._subset(key)
        if isinstance(key, list | tuple | np.ndarray):
            index = np.asarray(key)
            if index.ndim == 1 and index.dtype == bool:
                if index.size != len(self):
                    raise IndexError(f"a boolean mask must have length {len(self)}, got {index.size}")
                return self._subset(index)
            if index.ndim == 1 and (index.dtype.kind in "ui" or index.size == 0):
                return self._subset(index.astype(np.intp))
        raise TypeError("Dataset indices must be an int, a slice, a 1-d integer index array or a boolean "
                        f"mask, got {type(key).__name__}")

    def _subset(self, key: slice | np.ndarray) -> Dataset:
        return Dataset(self.images[key], self.labels[key], self.name, self.n_classes, self.max_value)

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)`` of one image."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def class_counts(self) -> np.ndarray:
        """Number of samples of each class, shape ``(n_classes,)``."""
        return np.bincount(self.labels, minlength=self.n_classes)

    def to_float32(self, flatten: bool = True) -> np.ndarray:
        """Pixels as float32 in [0, 1] (divided by ``max_value``): ``(N, H*W)``, or ``(N, H, W)``
        when ``flatten`` is False. Always a new array."""
        x = self.images.astype(np.float32)
        x /= np.float32(self.max_value)
        return x.reshape(len(self), -1) if flatten else x

    def stratified_split(self, test_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
        """Split into ``(train, test)`` with each class divided in the same proportion.

        Within every class, ``round(count * test_fraction)`` samples chosen at random (with a
        generator seeded by ``seed``) go to ``test``; the rest to ``train``. Both parts keep the
        original sample order. The same seed always gives the same split.
        """
        if isinstance(test_fraction, bool) or not isinstance(test_fraction, int | float | np.floating):
            raise TypeError(f"test_fraction must be a float in (0, 1), got {type(test_fraction).__name__}")
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must lie strictly between 0 and 1 (e.g. 0.2), "
                             f"got {test_fraction}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise TypeError(f"seed must be an int (it makes the split reproducible), "
                            f"got {type(seed).__name__}")
        rng = np.random.default_rng(seed)
        in_test = np.zeros(len(self), dtype=bool)
        for c in range(self.n_classes):
            members = np.flatnonzero(self.labels == c)
            n_test = int(round(members.size * float(test_fraction)))
            in_test[rng.permutation(members)[:n_test]] = True
        if in_test.all() or not in_test.any():
            raise ValueError(f"test_fraction={test_fraction} leaves one part of the {len(self)}-sample "
                             f"data set empty; choose a fraction nearer 0.5")
        return self._subset(~in_test), self._subset(in_test)
