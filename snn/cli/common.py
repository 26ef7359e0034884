"""Argument types, output helpers and data loading shared by the command modules."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def peer_list(vs: list[str]) -> list[str]:
    """``--vs a --vs b,c`` as ["a", "b", "c"]."""
    return [p for item in vs for p in item.split(",") if p]


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be positive integers joined by commas, got {text!r}")
    return values


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
    the first 8,000 images for training and the last 2,000 for testing."""
    from snn import datasets

    if dataset == "digits":
        return datasets.load_digits().stratified_split(0.2, seed=seed)
    loader = {"mnist": datasets.load_mnist, "fashion": datasets.load_fashion_mnist,
              "kmnist": datasets.load_kmnist}[dataset]
    ds = loader(directory=data_dir, split="test")
    return ds[:8000], ds[8000:]


def layer_sizes(arch: str | None, dataset: str, train) -> list[int]:
    """Layer sizes from ``--arch`` (default 64-128-10 for digits, N-500-10 otherwise), checked
    against the images."""
    in_features = int(np.prod(train.image_shape))
    arch = arch or (f"{in_features}-128-10" if dataset == "digits" else f"{in_features}-500-10")
    try:
        sizes = [int(s) for s in arch.split("-")]
    except ValueError:
        raise ValueError(f"--arch must be layer sizes joined by '-', e.g. 784-500-10, got {arch!r}") from None
    if sizes[0] != in_features:
        raise ValueError(f"--arch starts with {sizes[0]} inputs but {dataset} images have {in_features}")
    return sizes


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
    for item in report["skipped"]:
        print(f"  skipped {item['rule']}: {item['reason']}")
    for note in report["notes"]:
        print(f"  note: {note}")
