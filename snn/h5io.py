"""HDF5 files written atomically and read with a format check (results, checkpoints)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    """A new empty file next to ``path`` (same directory, so a rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode any new file would get.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


@contextmanager
def atomic_h5(path: str | os.PathLike, fmt: str):
    """Open a temporary HDF5 file tagged with ``fmt``; on success it replaces ``path``, on
    error it is deleted, so ``path`` is never left half written."""
    import h5py

    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        with h5py.File(tmp, "w") as fh:
            fh.attrs["format"] = fmt
            yield fh
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_checked(path: str | os.PathLike, fmt: str, what: str):
    """Open ``path`` for reading, raising a clear error if it is missing, damaged or not a
    ``what`` (a file tagged ``fmt``)."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    try:
        fh = h5py.File(path, "r")
    except (OSError, RuntimeError) as err:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file (damaged?): {err}") from err
    try:
        tag = fh.attrs.get("format")
    except (OSError, RuntimeError, KeyError, TypeError) as err:  # damaged attribute storage
        fh.close()
        raise ValueError(f"{str(path)!r} is a damaged HDF5 file: {err}") from err
    if tag != fmt:
        fh.close()
        raise ValueError(f"{str(path)!r} is not a synaptica {what}")
    return fh
