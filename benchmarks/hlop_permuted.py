"""HLOP on permuted MNIST-10k: accuracy matrix, ACC and BWT of plain fine-tuning, HLOP and
the multitask upper bound, for the same rule and network.

Data: the 10k MNIST test set (``--data``), a seeded stratified 80/20 split, ``--tasks`` pixel
permutations (task 0 unpermuted). Writes ``<out>.json`` and ``<out>.png`` atomically.

    python benchmarks/hlop_permuted.py --data ../shared/data/mnist --epochs 2 --steps 4

Measured (784-256-10 LIF, LI read-out, rate input, T = 4, 5 tasks of 8,000 / 2,000 images,
2 epochs per task, Adam 1e-3, batch 64, lateral 60 + 40 per task, 1 thread; 223 s on a busy
2-core host): fine-tuning ACC 85.08 / BWT -8.62, HLOP 91.86 / -0.29, multitask 91.67.
Table with the ReLU and TESS runs: ``docs/continual.md``.

Convolutions (HLOP on im2col patches), split MNIST-10k (5 tasks of 2 classes, one shared 2-way
head, 1,600 / 400 images a task), spiking CNN 1x28x28 - conv 8 @ 3x3 - pool - LI 2, T = 4,
1 epoch per task, Adam 2e-3, lateral 1 (conv, 9 patch dimensions) + 40 (read-out) per task,
200 Hebbian batches (``--task split --conv 8 --lateral 1,40 --epochs 1 --hebbian-steps 200
--lr 2e-3``; results/hlop_split_conv.json, 392 s): fine-tuning ACC 77.26 / BWT -19.68, HLOP
82.68 / +0.03, multitask 91.47; with the conv layer unprotected (``--lateral 0,40``) HLOP
79.04 / -12.36; 3 epochs a task: fine-tuning 63.23 / -43.07, HLOP 78.26 / -6.22.

The HLOP paper (Xiao et al., ICLR 2024) trains 784-800-800-10 spiking MLPs with DSR, T = 20,
SGD, 1 epoch per task, on 10 permutations of full MNIST (60k); see ``docs/continual.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import rules
from rules.bptt import BPTT, BPTTConfig
from rules.continual import permuted_tasks, run_sequence, spiking_cnn, split_tasks, write_report
from rules.hlop import HLOPConfig
from snn.datasets import load_mnist


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
    p.add_argument("--rule", default="bptt")
    p.add_argument("--tasks", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--steps", type=int, default=4, help="time steps T (spiking)")
    p.add_argument("--non-spiking", action="store_true", help="ReLU network (plain backprop)")
    p.add_argument("--task", choices=["permuted", "split"], default="permuted",
                   help="permuted MNIST or split MNIST (5 tasks of 2 classes, one shared 2-way head)")
    p.add_argument("--conv", default="",
                   help="spiking CNN instead of the MLP: channels per 3x3 conv + 2x2 pooling stage, "
                        "e.g. 8,16 (then --lateral lists one size per conv layer and the read-out)")
    p.add_argument("--lateral", default="60,40", help="lateral neurons per layer per task")
    p.add_argument("--hebbian-steps", type=int, default=600)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="finetune,hlop,multitask")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "hlop_permuted"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    mnist = load_mnist(a.data, split="test")
    if a.task == "permuted":
        tasks = permuted_tasks(mnist, a.tasks, a.seed)
    else:
        tasks = split_tasks(mnist, a.seed, classes_per_task=2, test_fraction=0.2)
    spiking = not a.non_spiking
    n_out = tasks[0].train.n_classes
    channels = [int(c) for c in a.conv.split(",")] if a.conv else []
    if channels and (not spiking or a.rule != "bptt"):
        p.error("--conv trains a spiking CNN with BPTT; drop --non-spiking / --rule")

    def make():
        if channels:
            torch.manual_seed(a.seed)
            return BPTT(spiking_cnn(mnist.image_shape, n_out, channels),
                        BPTTConfig(steps=a.steps, seed=a.seed, lr=a.lr, batch_size=a.batch))
        return rules.get(a.rule).build([784, a.hidden, n_out], steps=a.steps, seed=a.seed, spiking=spiking,
                                       lr=a.lr, batch_size=a.batch)

    hlop = HLOPConfig(lateral=[int(v) for v in a.lateral.split(",")], hebbian_steps=a.hebbian_steps,
                      batch_size=a.batch, seed=a.seed)
    results = []
    t0 = time.perf_counter()
    for method in a.methods.split(","):
        r = run_sequence(make, tasks, method, epochs=a.epochs, hlop=hlop)
        results.append(r)
        bwt = "" if r.bwt is None else f"  BWT {100 * r.bwt:+6.2f}"
        print(f"{method:10s} ACC {100 * r.acc:6.2f}{bwt}  wall {r.wall_s:7.1f} s", flush=True)
        print((100 * np.asarray(r.matrix)).round(1), flush=True)
    h, w = mnist.image_shape
    stages = "-".join(f"conv{c}-pool" for c in channels)
    network = f"1x{h}x{w}-{stages}-{n_out}" if channels else f"784-{a.hidden}-{n_out}"
    settings = {**vars(a), "network": network, "spiking": spiking,
                "train/test per task": [len(tasks[0].train), len(tasks[0].test)],
                "wall_s": time.perf_counter() - t0}
    write_report(results, a.out + ".json", a.out + ".png", settings)


if __name__ == "__main__":
    main()
