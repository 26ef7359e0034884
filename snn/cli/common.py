"""Argument types, output helpers and data loading shared by the command modules."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np


class UsageError(ValueError):
    """A command line that cannot work, found before any work starts: exit code 2."""


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0, e.g. a seed (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def peer_list(vs: list[str]) -> list[str]:
    """``--vs a --vs b,c`` as ["a", "b", "c"]."""
    return [p for item in vs for p in item.split(",") if p]


def _int_list(text: str, minimum: int, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        values = []
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"must be {what} joined by commas, got {text!r}")
    return values


def int_list(text: str) -> list[int]:
    """Positive integers joined by commas (argparse type)."""
    return _int_list(text, 1, "positive integers")


def seed_list(text: str) -> list[int]:
    """Non-negative integers joined by commas, e.g. seeds ``0,1,2`` (argparse type)."""
    return _int_list(text, 0, "non-negative integers")


def arch(text: str) -> list[int]:
    """Layer sizes joined by '-', e.g. ``784-500-10`` (argparse type)."""
    try:
        sizes = [int(s) for s in text.split("-")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"must be at least two positive layer sizes joined by '-', "
                                         f"e.g. 784-500-10, got {text!r}")
    return sizes


def check_device(device: str, flag: str = "--device") -> str:
    """``device`` if torch can use it: 'cpu', or 'cuda' / 'cuda:N' on a torch that sees a GPU."""
    import torch

    if device == "cpu" or device.startswith("cpu:"):
        return device
    if device != "cuda" and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise UsageError(f"{flag} must be cpu, cuda or cuda:N, got {device!r}")
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "a CUDA build that sees no GPU"
        raise UsageError(f"{flag} {device}: this torch {torch.__version__} is {build}; use {flag} cpu")
    return device


def check_out_dir(out: str, flag: str = "--out"):
    """Create ``out`` if needed and check that files can be written there, before any work."""
    import tempfile
    from pathlib import Path

    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".synaptica-write-test-"):
            pass
    except OSError as err:
        reason = err.strerror or str(err)
        raise UsageError(f"{flag} {out}: cannot write there ({reason}); choose a writable "
                         "directory") from None
    return path


def key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as JSON where it parses (numbers, true, lists), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must look like KEY=VALUE (e.g. lr=0.01), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def print_json(obj: dict) -> None:
    print(json.dumps(obj, indent=None, default=float))


def print_table(rows: list[tuple[str, object]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"  {key:<{width}}  {value}")


def write_json(path, obj: dict):
    """Write ``obj`` as JSON to ``path`` atomically; returns the path."""
    import os
    from pathlib import Path

    from snn.h5io import temporary_sibling

    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        tmp.write_text(json.dumps(obj, indent=1, default=float) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_split(dataset: str, data_dir: str | None, seed: int):
    """Train/test split: digits stratified 80/20; MNIST-format sets use their 10k test file,
    the first 8,000 images for training and the last 2,000 for testing. ``--data-dir`` with
    digits, and MNIST-format files that are not found, are errors worded for the command line."""
    from snn import datasets

    if dataset == "digits":
        if data_dir is not None:
            raise UsageError("--data-dir is for mnist, fashion and kmnist; the digits ship with "
                             "synaptica (drop --data-dir)")
        return datasets.load_digits().stratified_split(0.2, seed=seed)
    loader = {"mnist": datasets.load_mnist, "fashion": datasets.load_fashion_mnist,
              "kmnist": datasets.load_kmnist}[dataset]
    try:
        ds = loader(directory=data_dir, split="test")
    except FileNotFoundError as err:
        lines = str(err).splitlines()
        looked = [line.strip().split("  (")[0] for line in lines if line.startswith("  ")]
        files = next((line for line in lines if line.startswith("Expected")), "")
        raise UsageError(f"--dataset {dataset}: its test files are not in {' or '.join(looked)}. "
                         f"{files} Give --data-dir DIR (or set SYNAPTICA_DATA) to the folder that "
                         "holds them") from None
    return ds[:8000], ds[8000:]


def layer_sizes(sizes: list[int] | None, dataset: str, train, hidden: tuple[int, ...] | None = None,
                n_classes: int | None = None) -> list[int]:
    """Layer sizes from ``--arch`` (already parsed), checked against the images and the number
    of classes (``n_classes``; None skips that check). Without ``--arch``: the images' size,
    ``hidden`` (default 128 for digits, 500 otherwise; ``()`` for single-layer rules such as
    the Tempotron) and the number of classes."""
    in_features = int(np.prod(train.image_shape))
    classes = int(train.n_classes)
    if sizes is None:
        if hidden is None:
            hidden = (128,) if dataset == "digits" else (500,)
        return [in_features, *hidden, classes]
    if sizes[0] != in_features:
        raise UsageError(f"--arch starts with {sizes[0]} inputs but {dataset} images have {in_features}")
    if n_classes is not None and sizes[-1] != n_classes:
        raise UsageError(f"--arch ends with {sizes[-1]} outputs but {dataset} has {n_classes} "
                         f"classes; end it with {n_classes}")
    return list(sizes)


def print_rules_table(report: dict) -> None:
    """The rows of a rules benchmark as a text table, then what was skipped and why."""
    steps = report["memory_steps"]
    head = (f"  {'rule':<15}{'test acc':>9}{'s/epoch':>9}{'peak MB':>9}"
            + "".join(f"{f'MB T={t}':>11}" for t in steps) + f"{'syn ops/sample':>16}")
    print(head)
    for r in report["rows"]:
        print(f"  {r['rule']:<15}{r['test_accuracy']:>9.4f}{r['wall_s_per_epoch']:>9.3f}"
              f"{r['peak_memory_bytes'] / 1e6:>9.2f}"
              + "".join(f"{r['memory_by_T'][str(t)] / 1e6:>11.2f}" for t in steps)
              + f"{r['synaptic_ops_per_sample']:>16.4g}")
    print("  allocator peak of a step from the images, inputs included (MB):")
    print(f"  {'rule':<15}" + "".join(f"{f'T={t}':>11}" for t in steps))
    for r in report["rows"]:
        print(f"  {r['rule']:<15}" + "".join(f"{r['allocated_by_T'][str(t)] / 1e6:>11.2f}" for t in steps))
    if all("footprint_bytes" in r for r in report["rows"]):
        print("  NeuroBench metrics (docs/benchmarks.md), inference on the first test samples:")
        print(f"  {'rule':<15}{'footprint KB':>13}{'conn sparsity':>15}{'act sparsity':>14}"
              f"{'eff MACs/sample':>17}{'eff ACs/sample':>16}")
        for r in report["rows"]:
            print(f"  {r['rule']:<15}{r['footprint_bytes'] / 1e3:>13.1f}{r['connection_sparsity']:>15.4f}"
                  f"{r['activation_sparsity']:>14.4f}{r['effective_macs_per_sample']:>17.4g}"
                  f"{r['effective_acs_per_sample']:>16.4g}")
    for item in report["skipped"]:
        print(f"  skipped {item['rule']}: {item['reason']}")
    for note in report["notes"]:
        print(f"  note: {note}")
