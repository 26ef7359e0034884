"""Checkpoints: named arrays plus JSON metadata in one HDF5 file, written atomically.

A checkpoint is written under a temporary name in the target directory and renamed when
complete, so an interrupted run leaves the previous checkpoint intact. Reading a damaged or
foreign file raises ``ValueError`` naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT = "synaptica-checkpoint"


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` (name -> array; names may contain ``/``) and ``meta`` (JSON) to ``path``."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as fh:
            fh.attrs["format"] = FORMAT
            fh.attrs["meta"] = json.dumps(meta)
            for name, value in arrays.items():
                fh.create_dataset(f"arrays/{name}", data=np.asarray(value))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`: (arrays, meta)."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file (damaged?): {err}") from err
    arrays: dict[str, np.ndarray] = {}
    with fh:
        if fh.attrs.get("format") != FORMAT:
            raise ValueError(f"{str(path)!r} is not a synaptica checkpoint")
        meta = json.loads(fh.attrs["meta"])
        if "arrays" in fh:
            fh["arrays"].visititems(
                lambda name, obj: arrays.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None)
    return arrays, meta
