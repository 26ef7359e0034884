"""The 8x8 UCI handwritten digits, shipped with the code.

The file ``digits_8x8.npz`` sits inside this package (not in the top-level ``data/`` folder) on
purpose: as package data of ``snn.datasets`` it is found through ``importlib.resources`` the same
way in an editable install (the editable finder maps the ``snn`` package straight onto the
source tree, so no reinstall is needed) and in a wheel (``[tool.setuptools.package-data]`` in
pyproject.toml puts it next to this module). Mapping a separate package onto ``data/`` would
only take effect in an existing editable install after reinstalling it. ``data/README.md``
describes the file and points here.

Origin: UCI ML "Optical Recognition of Handwritten Digits" (E. Alpaydin, C. Kaynak, 1998), the
copy bundled with scikit-learn (``sklearn.datasets.load_digits``: 1797 samples, the UCI test
set), stored as uint8. Licence: CC BY 4.0.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

from snn.datasets.record import Dataset

DIGITS_FILE = "digits_8x8.npz"


@cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    ref = resources.files("snn.datasets").joinpath(DIGITS_FILE)
    with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        images, labels = npz["images"], npz["labels"]
    if images.dtype != np.uint8 or images.shape != (1797, 8, 8) or labels.shape != (1797,):
        raise ValueError(f"{ref}: unexpected content ({images.dtype} {images.shape}, labels {labels.shape}); "
                         f"reinstall synaptica")
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_digits() -> Dataset:
    """The 8x8 UCI handwritten digits: 1797 uint8 images with pixels 0..16, 10 classes.

    Ships with the code (no download). ``to_float32()`` on the result divides by 16.
    """
    images, labels = _digits_arrays()
    return Dataset(images, labels, "digits", n_classes=10, max_value=16)
