"""Forward-forward and counter-current learning next to backprop on the same architecture.

Trains, on the shipped digits (stratified 80/20, seed 0) or the MNIST 10k test set (first
8000 train / last 2000 test), each of: BPTT on the non-spiking ReLU MLP (plain backprop),
FF (wrong-label negatives, goodness inference), FF without negatives (class prototypes), CCL,
and with ``--spiking`` their LIF versions; prints test accuracy and wall time per epoch.

    .venv/bin/python examples/ff_ccl.py --dataset digits --epochs 20
    .venv/bin/python examples/ff_ccl.py --dataset mnist --epochs 10 --only bptt,ff-none,ccl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from rules.bptt import BPTT
from rules.ccl import CounterCurrent
from rules.ff import ForwardForward
from snn.datasets import load_digits, load_mnist

# MNIST files: --data-dir, else $SYNAPTICA_DATA (the loader reads it), else ../shared/data/mnist
# beside the repository root.
MNIST_DIR = None if os.environ.get("SYNAPTICA_DATA") else str(
    Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")


def runs(sizes: list[int], spiking: bool, steps: int) -> dict:
    """The rules to compare, as builders."""
    kw = {"spiking": spiking, "steps": steps}
    if spiking:
        return {
            "ff": lambda: ForwardForward.build(sizes, **kw),
            "ff-none": lambda: ForwardForward.build(sizes, negatives="none", **kw),
            "ccl": lambda: CounterCurrent.build(sizes, **kw),
            "bptt": lambda: BPTT.build(sizes, steps=steps),
        }
    return {
        "bptt": lambda: BPTT.build(sizes, spiking=False, batch_size=32, lr=1e-3),
        "ff": lambda: ForwardForward.build(sizes, spiking=False),
        "ff-none": lambda: ForwardForward.build(sizes, spiking=False, negatives="none"),
        "ccl": lambda: CounterCurrent.build(sizes, spiking=False),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    p.add_argument("--data-dir", default=MNIST_DIR, help="directory of the MNIST idx files")
    p.add_argument("--arch", default=None, help="default 64-256-10 (digits), 784-500-10 (mnist)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--spiking", action="store_true")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--only", default=None, help="comma-separated subset of bptt,ff,ff-none,ccl")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.dataset == "digits":
        train, test = load_digits().stratified_split(0.2, seed=0)
    else:
        ds = load_mnist(directory=a.data_dir, split="test")
        train, test = ds[:8000], ds[8000:]
    arch = a.arch or ("64-256-10" if a.dataset == "digits" else "784-500-10")
    sizes = [int(s) for s in arch.split("-")]
    table = []
    for name, make in runs(sizes, a.spiking, a.steps).items():
        if a.only and name not in a.only.split(","):
            continue
        t0 = time.perf_counter()
        history = make().fit(train, test, epochs=a.epochs)
        row = {"rule": name, "spiking": a.spiking, "dataset": a.dataset, "arch": arch, "epochs": a.epochs,
               "steps": a.steps if a.spiking else 1, "test_accuracy": history[-1].test_accuracy,
               "best_test_accuracy": max(h.test_accuracy for h in history),
               "wall_s_per_epoch": float(np.mean([h.wall_s for h in history])),
               "total_s": time.perf_counter() - t0}
        table.append(row)
        if not a.json:
            print(f"{name:8s} {'LIF' if a.spiking else 'ReLU'} {arch} {a.epochs} epochs: test "
                  f"{row['test_accuracy']:.4f} (best {row['best_test_accuracy']:.4f}), "
                  f"{row['wall_s_per_epoch']:.2f} s/epoch", flush=True)
    if a.json:
        print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
