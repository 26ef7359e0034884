"""snn.datasets: the shipped digits, IDX parsing, directory resolution and downloads.

Downloads are tested against an HTTP server on 127.0.0.1 only; nothing contacts another host.
"""

import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from snn import datasets
from snn.datasets import (
    ChecksumError,
    Dataset,
    DownloadError,
    load_digits,
    load_fashion_mnist,
    load_kmnist,
    load_mnist,
    read_idx_images,
    read_idx_labels,
    write_idx,
)
from snn.datasets.idx import encode_idx

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IMAGES, LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test sees the user's $SYNAPTICA_DATA or ~/.cache."""
    monkeypatch.delenv("SYNAPTICA_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def small_set(n=12, rows=5, cols=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def write_split(directory, images, labels, split="test", gz=True):
    directory.mkdir(parents=True, exist_ok=True)
    prefix = "t10k" if split == "test" else "train"
    suffix = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)


# ---------------------------------------------------------------- digits


def test_digits_shape_dtype_counts_and_range():
    ds = load_digits()
    assert ds.images.shape == (1797, 8, 8) and ds.images.dtype == np.uint8
    assert ds.labels.shape == (1797,) and ds.labels.dtype == np.uint8
    assert len(ds) == 1797 and ds.n_classes == 10 and ds.max_value == 16
    counts = ds.class_counts()
    assert counts.size == 10 and counts.sum() == 1797
    assert counts.min() >= 174 and counts.max() <= 183
    assert ds.images.min() == 0 and ds.images.max() == 16
    # The exact shipped content (recorded in data/README.md).
    assert hashlib.md5(ds.images.tobytes()).hexdigest() == "fa70cba135d4cdd4cde65da70dbffde2"
    assert hashlib.md5(ds.labels.tobytes()).hexdigest() == "96ecbac7ce6c9c7e9f9f82160cffba40"


def test_digits_to_float32_divides_by_16():
    ds = load_digits()
    x = ds.to_float32()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, ds.images.reshape(1797, 64))
    assert ds.to_float32(flatten=False).shape == (1797, 8, 8)


def test_stratified_split_is_reproducible_and_stratified():
    ds = load_digits()
    train, test = ds.stratified_split(0.25, seed=7)
    again_train, again_test = ds.stratified_split(0.25, seed=7)
    np.testing.assert_array_equal(train.images, again_train.images)
    np.testing.assert_array_equal(test.labels, again_test.labels)
    _, other_test = ds.stratified_split(0.25, seed=8)
    assert not np.array_equal(test.images, other_test.images)

    counts = ds.class_counts()
    np.testing.assert_array_equal(test.class_counts(), np.round(counts * 0.25).astype(int))
    np.testing.assert_array_equal(train.class_counts() + test.class_counts(), counts)


def test_stratified_split_is_disjoint_complete_and_ordered():
    n = 300
    ids = np.arange(n)
    images = np.zeros((n, 2, 2), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = ids % 256, ids // 256  # each image encodes its index
    labels = np.random.default_rng(3).integers(0, 4, size=n).astype(np.uint8)
    ds = Dataset(images, labels, "ids", n_classes=4)
    train, test = ds.stratified_split(0.3, seed=1)

    def index(part):
        return part.images[:, 0, 0].astype(int) + 256 * part.images[:, 0, 1].astype(int)

    assert sorted(np.concatenate([index(train), index(test)]).tolist()) == ids.tolist()
    assert np.all(np.diff(index(train)) > 0) and np.all(np.diff(index(test)) > 0)
    np.testing.assert_array_equal(labels[index(test)], test.labels)


def test_stratified_split_argument_errors():
    ds = load_digits()
    with pytest.raises(ValueError, match="test_fraction"):
        ds.stratified_split(1.5, seed=0)
    with pytest.raises(ValueError, match="test_fraction"):
        ds.stratified_split(0.0, seed=0)
    with pytest.raises(TypeError, match="seed"):
        ds.stratified_split(0.2, seed=None)


def test_dataset_slicing_and_indexing():
    images, labels = small_set(20)
    ds = Dataset(images, labels, "toy", n_classes=10)
    head, tail = ds[:15], ds[15:]
    assert isinstance(head, Dataset) and len(head) == 15 and len(tail) == 5
    np.testing.assert_array_equal(tail.images, images[15:])
    assert head.name == "toy" and head.n_classes == 10
    image, label = ds[3]
    np.testing.assert_array_equal(image, images[3])
    assert label == labels[3]
    picked = ds[np.array([4, 0])]
    np.testing.assert_array_equal(picked.labels, labels[[4, 0]])
    assert len(ds[labels == 2]) == 2
    with pytest.raises(TypeError):
        ds["a"]
    with pytest.raises(ValueError):  # records are read-only views
        ds.images[0, 0, 0] = 1


def test_dataset_rejects_bad_arrays():
    images, labels = small_set(6)
    with pytest.raises(TypeError, match="uint8"):
        Dataset(images.astype(np.float32), labels, "x", 10)
    with pytest.raises(ValueError, match="same length"):
        Dataset(images, labels[:5], "x", 10)
    with pytest.raises(ValueError, match="labels must lie in"):
        Dataset(images, labels, "x", 3)


# ---------------------------------------------------------------- real MNIST test split

needs_mnist = pytest.mark.skipif(not (MNIST_DIR / f"{IMAGES}.gz").is_file(),
                                 reason=f"MNIST test files not present in {MNIST_DIR}")


@pytest.fixture(scope="module")
def mnist_test():
    return load_mnist(MNIST_DIR, split="test")


@needs_mnist
def test_mnist_test_split_content(mnist_test):
    ds = mnist_test
    assert ds.images.shape == (10000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.name == "mnist-test"
    assert ds.class_counts().tolist() == MNIST_TEST_COUNTS
    # 2646ac... is the MD5 of the decompressed images file (16-byte header + pixels): the loaded
    # array, written back as IDX, must reproduce it byte for byte.
    assert hashlib.md5(encode_idx(ds.images)).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    with gzip.open(MNIST_DIR / f"{IMAGES}.gz") as fh:
        assert hashlib.md5(fh.read()).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    with gzip.open(MNIST_DIR / f"{LABELS}.gz") as fh:
        assert hashlib.md5(fh.read()).hexdigest() == "27ae3e4e09519cfbb04c329615203637"
    train, test = ds[:8000], ds[8000:]
    assert len(train) == 8000 and len(test) == 2000
    np.testing.assert_array_equal(test.labels, ds.labels[8000:])
    x = test.to_float32()
    assert x.shape == (2000, 784) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0


@needs_mnist
def test_mnist_missing_train_split_names_directory_and_files():
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(MNIST_DIR, split="train")
    msg = str(info.value)
    assert str(MNIST_DIR) in msg
    assert "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg
    assert "SYNAPTICA_DATA" in msg and "download=True" in msg


@needs_mnist
def test_mnist_found_through_synaptica_data(monkeypatch, mnist_test):
    monkeypatch.setenv("SYNAPTICA_DATA", str(MNIST_DIR.parent))  # $SYNAPTICA_DATA/mnist/
    np.testing.assert_array_equal(load_mnist(split="test").labels, mnist_test.labels)


def test_split_and_argument_errors(tmp_path):
    with pytest.raises(ValueError, match='"train" or "test"') as info:
        load_mnist(tmp_path, split="val")
    assert "'val'" in str(info.value)
    with pytest.raises(TypeError, match="split"):
        load_mnist(tmp_path, split=1)
    with pytest.raises(TypeError, match="download"):
        load_mnist(tmp_path, download="yes")
    with pytest.raises(TypeError, match="directory"):
        load_mnist(42)
    with pytest.raises(ValueError, match="base_url"):
        load_mnist(tmp_path, download=True, base_url="ftp://127.0.0.1/")
    with pytest.raises(ValueError, match="name must be one of"):
        datasets.load_idx_dataset("emnist", tmp_path)


# ---------------------------------------------------------------- IDX parsing


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("split", ["train", "test"])
def test_idx_round_trip(tmp_path, gz, split):
    images, labels = small_set(13, rows=7, cols=3)
    write_split(tmp_path, images, labels, split=split, gz=gz)
    suffix = ".gz" if gz else ""
    prefix = "t10k" if split == "test" else "train"
    with open(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", "rb") as fh:
        assert fh.read(2) == (b"\x1f\x8b" if gz else b"\x00\x00")
    ds = load_fashion_mnist(tmp_path, split=split)
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.name == f"fashion_mnist-{split}" and ds.image_shape == (7, 3)


def test_idx_header_is_big_endian(tmp_path):
    images, _ = small_set(2, rows=3, cols=2)
    path = write_idx(tmp_path / "x-idx3-ubyte", images)
    raw = path.read_bytes()
    assert struct.unpack(">4I", raw[:16]) == (2051, 2, 3, 2)
    assert raw[16:] == images.tobytes()


def raw_images(n, rows, cols, payload, magic=2051):
    return struct.pack(">4I", magic, n, rows, cols) + payload


def test_idx_wrong_magic(tmp_path):
    images, labels = small_set(4)
    path = tmp_path / "images"
    path.write_bytes(raw_images(4, 5, 4, images.tobytes(), magic=2049))
    with pytest.raises(ValueError, match="magic number 2049") as info:
        read_idx_images(path)
    assert str(path) in str(info.value) and "2051" in str(info.value)
    write_idx(tmp_path / "labels.gz", labels)
    with pytest.raises(ValueError, match="magic number 2049"):
        read_idx_images(tmp_path / "labels.gz")
    write_idx(tmp_path / "images.gz", images)
    with pytest.raises(ValueError, match="expected 2049"):
        read_idx_labels(tmp_path / "images.gz")


def test_idx_truncated_and_oversized_payload(tmp_path):
    images, _ = small_set(4)
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(raw_images(4, 5, 4, images.tobytes()[:-7])))
    with pytest.raises(ValueError, match="truncated IDX images payload") as info:
        read_idx_images(short)
    assert str(short) in str(info.value) and "needs 80 bytes, found 73" in str(info.value)
    long = tmp_path / "long"
    long.write_bytes(raw_images(4, 5, 4, images.tobytes() + b"\x00"))
    with pytest.raises(ValueError, match="1 unexpected bytes"):
        read_idx_images(long)
    header_only = tmp_path / "header"
    header_only.write_bytes(struct.pack(">2I", 2051, 4))
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx_images(header_only)


def test_idx_damaged_gzip(tmp_path):
    images, _ = small_set(50)
    good = gzip.compress(raw_images(50, 5, 4, images.tobytes()))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="damaged gzip") as info:
        read_idx_images(cut)
    assert str(cut) in str(info.value)


def test_idx_count_mismatch(tmp_path):
    images, labels = small_set(10)
    write_idx(tmp_path / f"{IMAGES}.gz", images)
    write_idx(tmp_path / f"{LABELS}.gz", labels[:9])
    with pytest.raises(ValueError, match="10 images but .* 9 labels"):
        load_mnist(tmp_path, split="test")


def test_idx_label_out_of_range(tmp_path):
    images, labels = small_set(10)
    labels[3] = 10
    write_split(tmp_path, images, labels)
    with pytest.raises(ValueError, match="label 10 outside 0..9"):
        load_kmnist(tmp_path, split="test")


# ---------------------------------------------------------------- directory resolution


def test_synaptica_data_subfolder_then_root(tmp_path, monkeypatch):
    root = tmp_path / "root"
    sub_images, sub_labels = small_set(6, seed=1)
    top_images, top_labels = small_set(9, seed=2)
    write_split(root, top_images, top_labels, gz=False)
    monkeypatch.setenv("SYNAPTICA_DATA", str(root))
    np.testing.assert_array_equal(load_mnist(split="test").images, top_images)  # directly in the root
    write_split(root / "mnist", sub_images, sub_labels)
    np.testing.assert_array_equal(load_mnist(split="test").images, sub_images)  # <root>/<name>/ wins
    # Other data sets look in their own subfolder, then fall back to the root.
    np.testing.assert_array_equal(load_kmnist(split="test").images, top_images)
    # An explicit directory beats the environment.
    arg_images, arg_labels = small_set(4, seed=3)
    write_split(tmp_path / "arg", arg_images, arg_labels)
    np.testing.assert_array_equal(load_mnist(tmp_path / "arg", split="test").images, arg_images)


def test_synaptica_data_error_names_both_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPTICA_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(split="test")
    msg = str(info.value)
    assert str(tmp_path / "fashion_mnist") in msg and str(tmp_path) + "  (missing" in msg
    assert IMAGES in msg and LABELS in msg


def test_default_cache_directory(tmp_path):
    cache = tmp_path / "home" / ".cache" / "synaptica" / "data" / "mnist"
    assert datasets.default_data_dir("mnist") == cache
    with pytest.raises(FileNotFoundError, match=str(cache)):
        load_mnist(split="test")
    images, labels = small_set(5)
    write_split(cache, images, labels)
    np.testing.assert_array_equal(load_mnist(split="test").labels, labels)


def test_half_a_split_reports_the_missing_file(tmp_path):
    images, _ = small_set(5)
    write_idx(tmp_path / f"{IMAGES}.gz", images)
    with pytest.raises(FileNotFoundError, match=f"missing: {LABELS}\\)"):
        load_mnist(tmp_path, split="test")


# ---------------------------------------------------------------- downloads (127.0.0.1 only)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """Serve ``tmp_path/served`` on 127.0.0.1; yields (folder, base URL); shut down afterwards."""
    served = tmp_path / "served"
    served.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(served)))
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


def serve_split(served, n=30, seed=4):
    images, labels = small_set(n, rows=6, cols=6, seed=seed)
    write_split(served, images, labels)
    md5 = {name: hashlib.md5((served / name).read_bytes()).hexdigest()
           for name in (f"{IMAGES}.gz", f"{LABELS}.gz")}
    return images, labels, md5


def test_download_fetches_verifies_and_writes_atomically(http_root, tmp_path, monkeypatch):
    served, url = http_root
    images, labels, md5 = serve_split(served)
    target = tmp_path / "target"
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    ds = load_mnist(target, split="test", download=True, base_url=url, checksums=md5)
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert sorted(p.name for p in target.iterdir()) == [f"{IMAGES}.gz", f"{LABELS}.gz"]  # no temp files
    assert {dst.name for _, dst in replaced} == {f"{IMAGES}.gz", f"{LABELS}.gz"}
    for src, dst in replaced:  # written under another name in the same folder, then renamed
        assert src.parent == dst.parent == target and src.name != dst.name
    for name in md5:
        assert (target / name).read_bytes() == (served / name).read_bytes()

    # Present files are not fetched again: with the server emptied the load still works.
    for f in served.iterdir():
        f.unlink()
    again = load_mnist(target, split="test", download=True, base_url=url, checksums=md5)
    np.testing.assert_array_equal(again.labels, labels)


def test_download_fetches_only_the_missing_file(http_root, tmp_path):
    served, url = http_root
    images, labels, md5 = serve_split(served)
    target = tmp_path / "target"
    target.mkdir()
    (target / IMAGES).write_bytes(gzip.decompress((served / f"{IMAGES}.gz").read_bytes()))  # plain copy
    (served / f"{IMAGES}.gz").unlink()  # fetching it again would now fail with a 404
    ds = load_mnist(target, split="test", download=True, base_url=url, checksums=md5)
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert sorted(p.name for p in target.iterdir()) == [IMAGES, f"{LABELS}.gz"]


def test_download_into_synaptica_data_subfolder(http_root, tmp_path, monkeypatch):
    served, url = http_root
    _, labels, md5 = serve_split(served, n=8)
    monkeypatch.setenv("SYNAPTICA_DATA", str(tmp_path / "root"))
    ds = load_kmnist(split="test", download=True, base_url=url.rstrip("/"), checksums=md5)
    np.testing.assert_array_equal(ds.labels, labels)
    assert (tmp_path / "root" / "kmnist" / f"{LABELS}.gz").is_file()


def test_download_wrong_checksum_keeps_nothing(http_root, tmp_path):
    served, url = http_root
    _, _, md5 = serve_split(served)
    bad = dict(md5, **{f"{IMAGES}.gz": "0" * 32})
    target = tmp_path / "target"
    with pytest.raises(ChecksumError) as info:
        load_mnist(target, split="test", download=True, base_url=url, checksums=bad)
    msg = str(info.value)
    assert f"{IMAGES}.gz" in msg and "0" * 32 in msg and md5[f"{IMAGES}.gz"] in msg
    assert list(target.iterdir()) == []


def test_download_missing_checksum_entry(http_root, tmp_path):
    served, url = http_root
    _, _, md5 = serve_split(served)
    with pytest.raises(ValueError, match=f"no MD5 for {IMAGES}.gz"):
        load_mnist(tmp_path / "t", split="test", download=True, base_url=url, checksums={})


def test_download_http_error_says_what_to_do_offline(http_root, tmp_path):
    _, url = http_root  # nothing served: 404
    target = tmp_path / "target"
    with pytest.raises(DownloadError) as info:
        load_mnist(target, split="test", download=True, base_url=url, checksums={f"{IMAGES}.gz": "0" * 32})
    msg = str(info.value)
    assert "404" in msg and f"{url}{IMAGES}.gz" in msg
    assert "offline" in msg and str(target) in msg and "download=False" in msg
    assert list(target.iterdir()) == []


def test_download_connection_refused(tmp_path):
    with socket.socket() as sock:  # a free port on loopback, closed again: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="offline"):
        load_mnist(tmp_path / "t", split="test", download=True, base_url=f"http://127.0.0.1:{port}/",
                   checksums={f"{IMAGES}.gz": "0" * 32})
    assert list((tmp_path / "t").iterdir()) == []


def test_builtin_sources_table():
    # The canonical sources (torchvision's mirrors and MD5s); tests never download from them.
    src = datasets.IDX_SOURCES
    assert set(src) == {"mnist", "fashion_mnist", "kmnist"}
    assert src["mnist"].md5["t10k-images-idx3-ubyte.gz"] == "9fb629c4189551a2d022fa330f9573f3"
    for s in src.values():
        assert len(s.md5) == 4 and all(len(v) == 32 for v in s.md5.values())
        assert all(m.endswith("/") for m in s.mirrors)
