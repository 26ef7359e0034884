"""Checkpoints: named arrays plus JSON metadata in one HDF5 file, written atomically.

A checkpoint is written under a temporary name in the target directory and renamed when
complete, so an interrupted run leaves the previous checkpoint intact. A SHA-256 digest of
the metadata and every array is stored with them; reading a damaged or foreign file raises
``ValueError`` naming the file, never returns silently different weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from snn.h5io import atomic_h5, open_checked

FORMAT = "synaptica-checkpoint"


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` (name -> array; names may contain ``/``) and ``meta`` (JSON) to ``path``."""
    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    text = json.dumps(meta)
    with atomic_h5(path, FORMAT) as fh:
        fh.attrs["meta"] = text
        fh.attrs["sha256"] = _digest(text, arrays)
        for name, value in arrays.items():
            fh.create_dataset(f"arrays/{name}", data=value)
    return Path(path)


def _digest(meta_text: str, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(meta_text.encode())
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`: (arrays, meta)."""
    arrays: dict[str, np.ndarray] = {}
    where = str(Path(path))
    with open_checked(path, FORMAT, "checkpoint") as fh:
        try:
            text = fh.attrs["meta"]
            meta = json.loads(text)
            if "arrays" in fh:
                fh["arrays"].visititems(
                    lambda name, obj: arrays.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None)
            stored = fh.attrs.get("sha256")  # absent in checkpoints written before digests
        except (KeyError, OSError, RuntimeError, TypeError, ValueError) as err:
            raise ValueError(f"{where!r} is a damaged checkpoint ({type(err).__name__}: {err})") from err
    if stored is not None and _digest(str(text), arrays) != str(stored):
        raise ValueError(f"{where!r} is a damaged checkpoint: its contents do not match their "
                         "SHA-256 digest; use an earlier checkpoint or train again")
    return arrays, meta
