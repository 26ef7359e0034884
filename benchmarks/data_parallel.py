"""Data-parallel training throughput: one process beside N processes (rules.distributed).

Trains the same rule, architecture, global batch and seed for one epoch in one process (with
every core's torch threads) and in ``--nproc`` processes (the cores shared out, as torchrun
does), back to back; reports training samples per second, the ratio, and the largest weight
difference between the two runs. The machine's load average is recorded (a shared machine
makes the ratio noisy).

Run: ``python benchmarks/data_parallel.py [--rule bptt] [--samples 1438] [--arch 64-128-10]
[--steps 25] [--batch 128] [--nproc 2] [--json out.json]``; ``--rule`` is any registered rule
(the Tempotron takes ``--arch 64-10``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch


def train(rule_name: str, samples: int, sizes: list[int], steps: int, batch: int) -> dict:
    """One epoch of ``rule_name`` on the first ``samples`` digits; wall time and weights."""
    import rules
    from snn.datasets import load_digits

    rule = rules.get(rule_name).build(sizes, steps=steps, seed=0, batch_size=batch)
    ds = load_digits()[:samples]
    t0 = time.perf_counter()
    rule.fit(ds, epochs=1)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "weights": weights(rule), "threads": torch.get_num_threads()}


def weights(rule) -> dict[str, np.ndarray]:
    """Every weight of ``rule``'s modules (its network, layers, read-out), by name."""
    modules = {name: getattr(rule, name) for name in ("net", "modules", "layers", "readout")
               if isinstance(getattr(rule, name, None), torch.nn.Module)}
    return {f"{m}.{k}": v.detach().cpu().numpy().copy()
            for m, module in modules.items() for k, v in module.state_dict().items()}


def main(argv: list[str] | None = None) -> int:
    import rules
    from rules import distributed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", default="bptt", choices=rules.available())
    parser.add_argument("--samples", type=int, default=1438)
    parser.add_argument("--arch", default="64-128-10")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--json")
    a = parser.parse_args(argv)
    sizes = [int(s) for s in a.arch.split("-")]
    args = (a.rule, a.samples, sizes, a.steps, a.batch)
    load_before = os.getloadavg()
    one = train(*args)
    many = distributed.launch(train, a.nproc, args)
    diff = max(float(np.abs(one["weights"][k] - many["weights"][k]).max()) for k in one["weights"])
    out = {
        "benchmark": "data_parallel", "rule": a.rule, "arch": a.arch, "steps": a.steps,
        "global_batch": a.batch, "samples": a.samples,
        "one_process": {"wall_s": one["wall_s"], "samples_per_s": a.samples / one["wall_s"],
                        "torch_threads": one["threads"]},
        "n_processes": {"nproc": a.nproc, "wall_s": many["wall_s"],
                        "samples_per_s": a.samples / many["wall_s"],
                        "torch_threads_each": many["threads"]},
        "speedup": one["wall_s"] / many["wall_s"], "max_weight_difference": diff,
        "cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
    }
    print(f"{a.rule} {a.arch} T={a.steps} batch {a.batch}: 1 process "
          f"{out['one_process']['samples_per_s']:.0f} "
          f"samples/s, {a.nproc} processes {out['n_processes']['samples_per_s']:.0f} samples/s "
          f"(x{out['speedup']:.2f}); max weight difference {diff:.1e}; load "
          f"{load_before[0]:.1f} on {os.cpu_count()} CPUs")
    if a.json:
        from pathlib import Path

        from snn.h5io import temporary_sibling

        tmp = temporary_sibling(Path(a.json))
        tmp.write_text(json.dumps(out, indent=1))
        os.replace(tmp, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
