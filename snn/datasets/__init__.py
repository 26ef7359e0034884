"""Data sets for training: the shipped 8x8 digits and MNIST-format IDX loaders.

``load_digits()`` needs nothing but the installed package. ``load_mnist``, ``load_fashion_mnist``
and ``load_kmnist`` read IDX files from a directory (the argument, ``$SYNAPTICA_DATA`` or
``~/.cache/synaptica/data/<name>``) and can fetch them with ``download=True``. All return a
:class:`Dataset` of uint8 images; ``ds.to_float32()`` gives ``(N, H*W)`` float32 in [0, 1].
"""

from snn.datasets.digits import load_digits
from snn.datasets.idx import parse_idx, read_idx_images, read_idx_labels, write_idx
from snn.datasets.mnist import (
    IDX_SOURCES,
    ChecksumError,
    DownloadError,
    IdxSource,
    default_data_dir,
    load_fashion_mnist,
    load_idx_dataset,
    load_kmnist,
    load_mnist,
)
from snn.datasets.record import Dataset

__all__ = [
    "IDX_SOURCES", "ChecksumError", "Dataset", "DownloadError", "IdxSource", "default_data_dir",
    "load_digits", "load_fashion_mnist", "load_idx_dataset", "load_kmnist", "load_mnist", "parse_idx",
    "read_idx_images", "read_idx_labels", "write_idx",
]
