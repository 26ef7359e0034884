"""TESS against BPTT on the same spiking MLP, encoder and epochs: test accuracy, wall time per
epoch, training memory as T grows, synaptic operations; and the Tempotron on the same data.

    python examples/tess_vs_bptt.py                         # digits, 64-128-10, T = 25 (~2 min)
    python examples/tess_vs_bptt.py --dataset mnist --data-dir ../shared/data/mnist \\
        --arch 784-500-10 --epochs 5                          # MNIST 10k: first 8000 / last 2000

Memory is ``rules.base.peak_training_bytes`` of one training step on a batch of 128 (on the
CPU: what autograd holds for backward, plus TESS's per-neuron traces).
"""

from __future__ import annotations

import argparse
import json

import torch

from rules.base import peak_training_bytes
from rules.bptt import BPTT
from rules.tempotron import Tempotron
from rules.tess import TESS
from snn.datasets import load_digits, load_mnist
from snn.encoding import rate


def memory(rule, sizes: list[int], steps: int, batch: int = 128) -> int:
    g = torch.Generator().manual_seed(0)
    x = rate(torch.rand(batch, sizes[0], generator=g) * 0.5, steps, generator=g)
    y = torch.randint(0, sizes[-1], (batch,), generator=g)
    state = rule.state_bytes(batch, steps) if hasattr(rule, "state_bytes") else 0
    return peak_training_bytes(lambda: rule.train_batch(x, y), state_bytes=state)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--arch", default=None, help="e.g. 784-500-10 (default 64-128-10 for digits)")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--memory-steps", default="10,50,200,400")
    ap.add_argument("--tempotron-epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dataset == "digits":
        train, test = load_digits().stratified_split(0.2, seed=0)
    else:
        ds = load_mnist(directory=args.data_dir, split="test")
        train, test = ds[:8000], ds[8000:]
    arch = args.arch or ("64-128-10" if args.dataset == "digits" else "784-500-10")
    sizes = [int(s) for s in arch.split("-")]
    report: dict = {"dataset": args.dataset, "arch": arch, "steps": args.steps, "epochs": args.epochs,
                    "batch": args.batch, "threads": torch.get_num_threads()}
    g = torch.Generator().manual_seed(1)
    probe = rate(torch.as_tensor(train.to_float32()[:64]), args.steps, generator=g)
    for name, cls in (("bptt", BPTT), ("tess", TESS)):
        rule = cls.build(sizes, steps=args.steps, batch_size=args.batch)
        hist = rule.fit(train, test, epochs=args.epochs)
        entry = {"test_accuracy": [round(h.test_accuracy, 4) for h in hist],
                 "wall_s_per_epoch": round(sum(h.wall_s for h in hist) / len(hist), 2)}
        if hasattr(rule, "synaptic_ops"):
            entry["synaptic_ops_per_sample"] = rule.synaptic_ops(probe)
        entry["peak_training_bytes"] = {
            int(T): memory(cls.build(sizes, steps=int(T)), sizes, int(T))
            for T in args.memory_steps.split(",")}
        report[name] = entry
        print(name, json.dumps(entry), flush=True)
    temp = Tempotron.build([sizes[0], sizes[-1]], steps=args.steps, neurons_per_class=5)
    hist = temp.fit(train, test, epochs=args.tempotron_epochs)
    report["tempotron"] = {"encoder": "latency", "neurons_per_class": 5, "epochs": args.tempotron_epochs,
                           "test_accuracy": round(hist[-1].test_accuracy, 4),
                           "wall_s_per_epoch": round(sum(h.wall_s for h in hist) / len(hist), 2)}
    print("tempotron", json.dumps(report["tempotron"]), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
