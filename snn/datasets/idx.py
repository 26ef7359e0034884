"""Strict reading (and, for tests and tools, writing) of MNIST-style IDX files.

An IDX file is a big-endian header, a uint32 magic number and one uint32 per dimension, then
the payload, row-major. MNIST uses unsigned bytes: images have magic 2051 (``0x00000803``: type
ubyte, 3 dimensions ``count, rows, cols``), labels magic 2049 (``0x00000801``: 1 dimension
``count``). Files may be gzip-compressed (recognised by their content, not their name).
Anything malformed raises ``ValueError`` naming the file and the problem.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
import zlib
from os import PathLike
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: damaged gzip data ({exc}); delete the file and fetch it again") from exc


def parse_idx(data: bytes, magic: int, source: str = "<bytes>") -> np.ndarray:
    """Parse uncompressed IDX bytes whose magic number must be ``magic`` (2051 or 2049).

    Returns a uint8 array of the header's shape. ``source`` names the data in error messages.
    """
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise ValueError(f"magic must be {IMAGES_MAGIC} (images) or {LABELS_MAGIC} (labels), got {magic}")
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    ndim = magic & 0xFF
    header_len = 4 * (1 + ndim)
    if len(data) < 4:
        raise ValueError(f"{source}: not an IDX {kind} file: {len(data)} bytes, too short for a header")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        hint = {IMAGES_MAGIC: " (an IDX images file)", LABELS_MAGIC: " (an IDX labels file)"}.get(found, "")
        raise ValueError(f"{source}: not an IDX {kind} file: magic number {found}{hint}, expected {magic}")
    if len(data) < header_len:
        raise ValueError(f"{source}: truncated IDX header: {len(data)} bytes, need {header_len}")
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    if ndim == 3 and (dims[1] == 0 or dims[2] == 0):
        raise ValueError(f"{source}: IDX images header gives empty images ({dims[1]}x{dims[2]})")
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(data) - header_len
    if payload < expected:
        raise ValueError(f"{source}: truncated IDX {kind} payload: header {'x'.join(map(str, dims))} "
                         f"needs {expected} bytes, found {payload}")
    if payload > expected:
        raise ValueError(f"{source}: IDX {kind} file has {payload - expected} unexpected bytes after the "
                         f"{expected}-byte payload given by its header")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def read_idx_images(path: str | PathLike[str]) -> np.ndarray:
    """Read an IDX images file (magic 2051, optionally gzipped): uint8 ``(N, rows, cols)``."""
    path = Path(path)
    return parse_idx(_read_bytes(path), IMAGES_MAGIC, str(path))


def read_idx_labels(path: str | PathLike[str]) -> np.ndarray:
    """Read an IDX labels file (magic 2049, optionally gzipped): uint8 ``(N,)``."""
    path = Path(path)
    return parse_idx(_read_bytes(path), LABELS_MAGIC, str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for a uint8 array of shape ``(N, rows, cols)`` (images) or ``(N,)`` (labels)."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f"array must be uint8 of shape (N,) or (N, rows, cols), got {array.dtype} "
                         f"{array.shape}")
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: str | PathLike[str], array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically (temporary file, then rename).

    ``compress`` None gzips when the name ends in ``.gz``. Returns the path written.
    """
    path = Path(path)
    data = encode_idx(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, mtime=0)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
