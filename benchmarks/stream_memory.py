"""Peak memory of a local rule's training step against T, inputs included (issue 13 §3c).

For each rule, a training step on the first ``--batch`` digits whose input is encoded inside
the step, measured by the CPU allocator (:func:`rules.base.cpu_peak_bytes`: torch profiler's
allocation and free events, on a second call after a warm-up): at T = 10 and T = 400 with the
input streamed (``rule._stream``, a :class:`snn.encoding.SpikeStream`, as the epoch loop hands
it), and at T = 400 with the whole encoding (``rule._encode``, as the rules read it before).
The target is T = 400 at most 1.2x T = 10.

Run: ``python benchmarks/stream_memory.py [--rules tess ff ccl] [--arch 64-128-10]
[--batch 128] [--steps 10 400] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json

import torch


def measure(name: str, sizes: list[int], steps: int, batch: int, streamed: bool) -> int:
    """Allocator peak (bytes) of one ``train_batch`` of rule ``name`` at ``steps``."""
    import rules
    from rules.base import cpu_peak_bytes
    from snn.datasets import load_digits

    rule = rules.get(name).build(sizes, steps=steps, seed=0, batch_size=batch)
    train, _ = load_digits().stratified_split(0.2, seed=0)
    x, y = rule._inputs(train[:batch])
    gen = torch.Generator().manual_seed(0)
    encode = rule._stream if streamed else rule._encode
    return cpu_peak_bytes(lambda: rule.train_batch(encode(x, gen), y))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", nargs="+", default=["tess", "ff", "ccl"])
    parser.add_argument("--arch", default="64-128-10", help="layer sizes, e.g. 64-128-10")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, nargs=2, default=[10, 400], metavar=("SHORT", "LONG"))
    parser.add_argument("--json", help="write the figures here as JSON")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.arch.split("-")]
    short, long = args.steps
    torch.set_num_threads(1)
    report = {"arch": sizes, "batch": args.batch, "steps": [short, long], "rules": {}}
    print(f"rule      T={short} MiB  T={long} MiB streamed  T={long} MiB whole  ratio")
    for name in args.rules:
        row = {f"T{short}": measure(name, sizes, short, args.batch, True),
               f"T{long}": measure(name, sizes, long, args.batch, True),
               f"T{long}_whole": measure(name, sizes, long, args.batch, False)}
        row["ratio"] = row[f"T{long}"] / row[f"T{short}"]
        report["rules"][name] = row
        print(f"{name:8s} {row[f'T{short}'] / 2**20:9.2f} {row[f'T{long}'] / 2**20:18.2f} "
              f"{row[f'T{long}_whole'] / 2**20:15.2f} {row['ratio']:6.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return report


if __name__ == "__main__":
    main()
