"""Checkpoints: named arrays plus JSON metadata in one HDF5 file, written atomically.

A checkpoint is written under a temporary name in the target directory and renamed when
complete, so an interrupted run leaves the previous checkpoint intact. Reading a damaged or
foreign file raises ``ValueError`` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from snn.h5io import atomic_h5, open_checked

FORMAT = "synaptica-checkpoint"


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` (name -> array; names may contain ``/``) and ``meta`` (JSON) to ``path``."""
    with atomic_h5(path, FORMAT) as fh:
        fh.attrs["meta"] = json.dumps(meta)
        for name, value in arrays.items():
            fh.create_dataset(f"arrays/{name}", data=np.asarray(value))
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`: (arrays, meta)."""
    arrays: dict[str, np.ndarray] = {}
    with open_checked(path, FORMAT, "checkpoint") as fh:
        meta = json.loads(fh.attrs["meta"])
        if "arrays" in fh:
            fh["arrays"].visititems(
                lambda name, obj: arrays.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None)
    return arrays, meta
