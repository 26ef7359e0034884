"""MNIST-format data sets (MNIST, Fashion-MNIST, Kuzushiji-MNIST) read from IDX files.

Nothing here ships with the code. Files are looked for in, in order:

1. the ``directory`` argument, when given;
2. else ``$SYNAPTICA_DATA/<name>/`` and then ``$SYNAPTICA_DATA/`` itself;
3. else ``~/.cache/synaptica/data/<name>/``.

Each split is a pair of files with the standard names (``train-images-idx3-ubyte`` and
``train-labels-idx1-ubyte``, or ``t10k-...`` for the test split), plain or gzipped with a
``.gz`` suffix. ``download=True`` fetches missing files from the data set's canonical source
(the mirrors and MD5 checksums of the gzipped files are those torchvision uses), checks the MD5
and writes each file under a temporary name in the target directory before renaming it, so an
interrupted download never leaves a partial file under the real name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from os import PathLike
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from snn.datasets.idx import read_idx_images, read_idx_labels
from snn.datasets.record import Dataset

__all__ = [
    "ChecksumError", "DownloadError", "IDX_SOURCES", "IdxSource", "default_data_dir", "load_fashion_mnist",
    "load_idx_dataset", "load_kmnist", "load_mnist",
]

log = logging.getLogger(__name__)

ENV_VAR = "SYNAPTICA_DATA"
SPLITS = ("train", "test")
_PREFIX = {"train": "train", "test": "t10k"}
_TIMEOUT_S = 60.0
_CHUNK = 1 << 20


class DownloadError(OSError):
    """A data-set file could not be fetched; the message says how to supply it offline."""


class ChecksumError(DownloadError):
    """A fetched file's MD5 did not match the expected one (the file was not kept)."""


@dataclass(frozen=True)
class IdxSource:
    """Where an MNIST-format data set comes from: ``mirrors`` (base URLs, tried in order) and the
    MD5 of each gzipped file, keyed by file name."""

    name: str
    title: str
    mirrors: tuple[str, ...]
    md5: Mapping[str, str]
    n_classes: int = 10


# Mirrors and MD5s (of the .gz files) as in torchvision.datasets.mnist. For MNIST torchvision
# lists yann.lecun.com first; it now often refuses anonymous downloads, so the PyTorch S3 copy
# (same files, same checksums) is tried first here.
IDX_SOURCES: dict[str, IdxSource] = {
    "mnist": IdxSource(
        name="mnist",
        title="MNIST",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion_mnist": IdxSource(
        name="fashion_mnist",
        title="Fashion-MNIST",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "kmnist": IdxSource(
        name="kmnist",
        title="Kuzushiji-MNIST",
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        md5={
            "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
        },
    ),
}


def default_data_dir(name: str) -> Path:
    """``~/.cache/synaptica/data/<name>``: where a data set goes when neither a directory nor
    ``$SYNAPTICA_DATA`` is given."""
    return Path.home() / ".cache" / "synaptica" / "data" / name


def _file_names(split: str) -> tuple[str, str]:
    prefix = _PREFIX[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _find(directory: Path, base: str) -> Path | None:
    """``directory/base`` or ``directory/base.gz``, whichever exists (the plain file first)."""
    for candidate in (directory / base, directory / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _candidates(source: IdxSource, directory: str | PathLike[str] | None) -> list[Path]:
    if directory is not None:
        return [Path(directory).expanduser()]
    root = os.environ.get(ENV_VAR, "").strip()
    if root:
        root_path = Path(root).expanduser()
        return [root_path / source.name, root_path]
    return [default_data_dir(source.name)]


def _check_args(split: object, directory: object, download: object, base_url: object) -> None:
    if not isinstance(split, str):
        raise TypeError(f"split must be a str, \"train\" or \"test\", got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split must be \"train\" or \"test\", got {split!r}")
    if directory is not None and not isinstance(directory, str | PathLike):
        raise TypeError(f"directory must be a str, a path or None, got {type(directory).__name__}")
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {download!r}")
    if base_url is not None:
        if not isinstance(base_url, str):
            raise TypeError(f"base_url must be a str such as 'https://host/path/', "
                            f"got {type(base_url).__name__}")
        if not base_url.startswith(("http://", "https://", "file:")):
            raise ValueError(f"base_url must start with http://, https:// or file:, got {base_url!r}")


def _not_found(source: IdxSource, split: str, searched: list[Path],
               mirrors: tuple[str, ...]) -> FileNotFoundError:
    images, labels = _file_names(split)
    lines = [f"{source.title} {split} split not found. Looked in:"]
    for d in searched:
        missing = [b for b in (images, labels) if _find(d, b) is None]
        lines.append(f"  {d}  (missing: {', '.join(missing)})")
    lines.append(f"Expected the files {images} and {labels}, each plain or gzipped with a .gz suffix.")
    if len(searched) == 1:
        where = f"put them in {searched[0]}"
    else:
        where = f"put them in {searched[0]} or {searched[1]}"
    lines.append(
        f"To fix: {where}; or pass directory=... or set {ENV_VAR} to a folder that holds them (directly "
        f"or in a '{source.name}' subfolder); or pass download=True to fetch them from {mirrors[0]}"
    )
    return FileNotFoundError("\n".join(lines))


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, target: Path, md5: str) -> None:
    """Download ``url`` to ``target`` atomically, keeping it only if its MD5 is ``md5``."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urlopen(url, timeout=_TIMEOUT_S) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != md5.lower():
            raise ChecksumError(f"{url}: MD5 {digest.hexdigest()} does not match the expected {md5}; "
                                f"the download was discarded")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _download(source: IdxSource, split: str, target_dir: Path, mirrors: tuple[str, ...],
              checksums: Mapping[str, str]) -> None:
    target_dir.mkdir(parents=True, exist_ok=True)
    for base in _file_names(split):
        if _find(target_dir, base) is not None:
            continue
        filename = f"{base}.gz"
        md5 = checksums.get(filename)
        if md5 is None:
            raise ValueError(f"checksums has no MD5 for {filename}; give one for each file fetched")
        failures: list[tuple[str, Exception]] = []
        for mirror in mirrors:
            url = mirror + filename
            log.info("downloading %s to %s", url, target_dir)
            try:
                _fetch(url, target_dir / filename, md5)
            # Network failures (HTTPError is a URLError) and a bad checksum move on to the next
            # mirror; local disk errors propagate unchanged.
            except (URLError, ConnectionError, TimeoutError, HTTPException, ChecksumError) as exc:
                failures.append((url, exc))
                continue
            break
        else:
            tried = "\n".join(f"  {url}: {exc}" for url, exc in failures)
            if any(isinstance(exc, ChecksumError) for _, exc in failures):
                raise ChecksumError(f"could not fetch a verified {filename} for {source.title}:\n{tried}\n"
                                    f"Nothing was written to {target_dir}.")
            raise DownloadError(
                f"could not download {filename} for {source.title}:\n{tried}\n"
                f"Working offline: on a machine with network access fetch {filename} (from "
                f"{mirrors[0]}) and copy it into {target_dir}, or into a folder named by {ENV_VAR} "
                f"(or its '{source.name}' subfolder), or pass directory=... pointing at it, "
                f"then call again with download=False."
            )


def load_idx_dataset(
    name: str,
    directory: str | PathLike[str] | None = None,
    split: str = "train",
    download: bool = False,
    *,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
) -> Dataset:
    """Load one split of the MNIST-format data set ``name`` (a key of ``IDX_SOURCES``).

    ``directory``: where the IDX files are (see the module docstring for the search order when
    None). ``split``: ``"train"`` or ``"test"``. ``download``: fetch missing files from the
    data set's mirrors, or from ``base_url`` when given (a URL prefix ending in the folder that
    holds the ``.gz`` files). ``checksums``: file name -> MD5 of the ``.gz`` files, replacing the
    built-in table (for private mirrors and tests). Returns a :class:`Dataset` named
    ``"<name>-<split>"`` whose images are uint8 ``(N, 28, 28)``.
    """
    if not isinstance(name, str) or name not in IDX_SOURCES:
        raise ValueError(f"name must be one of {', '.join(map(repr, IDX_SOURCES))}, got {name!r}")
    _check_args(split, directory, download, base_url)
    if checksums is not None and not isinstance(checksums, Mapping):
        raise TypeError(f"checksums must map file names to MD5 hex strings, got {type(checksums).__name__}")
    source = IDX_SOURCES[name]
    if base_url is not None:
        mirrors: tuple[str, ...] = (base_url if base_url.endswith("/") else base_url + "/",)
    else:
        mirrors = source.mirrors
    images_name, labels_name = _file_names(split)

    searched = _candidates(source, directory)
    found = None
    for d in searched:
        images_path, labels_path = _find(d, images_name), _find(d, labels_name)
        if images_path is not None and labels_path is not None:
            found = images_path, labels_path
            break
    if found is None and download:
        target = searched[0]
        _download(source, split, target, mirrors, source.md5 if checksums is None else checksums)
        found = _find(target, images_name), _find(target, labels_name)
    if found is None or None in found:
        raise _not_found(source, split, searched, mirrors)

    images_path, labels_path = found
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
                         f"labels; the two files must belong to the same split")
    if labels.size and labels.max() >= source.n_classes:
        raise ValueError(f"{labels_path}: label {int(labels.max())} outside 0..{source.n_classes - 1}")
    return Dataset(images, labels, f"{name}-{split}", source.n_classes)


def load_mnist(
    directory: str | PathLike[str] | None = None,
    split: str = "train",
    download: bool = False,
    *,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
) -> Dataset:
    """MNIST handwritten digits (60,000 train / 10,000 test, 28x28, 10 classes).

    Looks in ``directory``, else ``$SYNAPTICA_DATA/mnist/`` and ``$SYNAPTICA_DATA/``, else
    ``~/.cache/synaptica/data/mnist/``. See :func:`load_idx_dataset` for the other arguments.
    """
    return load_idx_dataset("mnist", directory, split, download, base_url=base_url, checksums=checksums)


def load_fashion_mnist(
    directory: str | PathLike[str] | None = None,
    split: str = "train",
    download: bool = False,
    *,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
) -> Dataset:
    """Fashion-MNIST clothing images (60,000 train / 10,000 test, 28x28, 10 classes).

    Looks in ``directory``, else ``$SYNAPTICA_DATA/fashion_mnist/`` and ``$SYNAPTICA_DATA/``, else
    ``~/.cache/synaptica/data/fashion_mnist/``. See :func:`load_idx_dataset` for the rest.
    """
    return load_idx_dataset("fashion_mnist", directory, split, download, base_url=base_url,
                            checksums=checksums)


def load_kmnist(
    directory: str | PathLike[str] | None = None,
    split: str = "train",
    download: bool = False,
    *,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
) -> Dataset:
    """Kuzushiji-MNIST cursive Japanese characters (60,000 train / 10,000 test, 28x28, 10 classes).

    Looks in ``directory``, else ``$SYNAPTICA_DATA/kmnist/`` and ``$SYNAPTICA_DATA/``, else
    ``~/.cache/synaptica/data/kmnist/``. See :func:`load_idx_dataset` for the rest.
    """
    return load_idx_dataset("kmnist", directory, split, download, base_url=base_url, checksums=checksums)
