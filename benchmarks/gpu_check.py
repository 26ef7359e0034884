"""The prepared GPU check (issue 13): CUDA tests, then the GPU benchmarks, into one JSON file.

Stages, each timed and recorded even when it fails (its error goes into the JSON and the
next stage runs):

1. ``tests``: the test modules that exercise CUDA (``pytest -k cuda``);
2. ``cuba``: CUBA at 4k, 64k and 512k neurons on the torch backend (CUDA, float32) beside the
   numba backend on every CPU core (``threads`` = numba's thread count), wall seconds per
   simulated second and the spike rates;
3. ``bptt_step``: one BPTT training step of 784-500-10, batch 128, at T = 25, 100 and 400,
   ours beside snnTorch's (time and memory saved for backward);
4. ``bench_rules``: ``bench rules`` on MNIST-10k (the test set split 80/20) on CUDA, one
   epoch, with memory at T = 10 and 400.

``--cpu`` runs the same stages on the CPU at toy sizes (seconds; what CI exercises), with
pytest skipped unless ``--tests``. The whole run stays under ``--budget`` seconds (default
480): a stage that would start after the budget is recorded as skipped.

Run on a GPU machine: ``bash benchmarks/gpu_check.sh [--out gpu_check.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CUDA_TESTS = ["tests/test_torch_backend.py", "tests/test_bptt.py", "tests/test_layers.py",
              "tests/test_bench_fair.py", "tests/test_rule_tess.py"]


def stage_tests(cpu: bool) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-k", "cuda", *CUDA_TESTS]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    return {"command": " ".join(cmd[1:]), "returncode": proc.returncode,
            "summary": (proc.stdout.strip().splitlines() or [""])[-1]}


def stage_cuba(cpu: bool) -> dict:
    import numba
    import numpy as np

    from snn.bench.cuba import DT, cuba_network, spike_statistics

    sizes, duration = ((1000,), 0.02) if cpu else ((4000, 64000, 512000), 0.2)
    device = "cpu" if cpu else "cuda"
    threads = numba.config.NUMBA_NUM_THREADS
    rows = []
    runs = [("torch", "torch", {"device": device, "dtype": "float32"}),
            ("numba", "numba", {"threads": threads})]
    if threads > 1:  # the scaling of the numba threads (identical spikes for any count)
        runs.append(("numba-1-thread", "numba", {"threads": 1}))
    for n in sizes:
        for label, backend, options in runs:
            t0 = time.perf_counter()
            sim = cuba_network(n).build(dt=DT, backend=backend, seed=1, **options)
            build = time.perf_counter() - t0
            sim.run(duration / 4)  # warm-up: kernels loaded, caches filled
            res = sim.run(duration)
            rec = res["spikes"]
            stats = spike_statistics(rec.steps, rec.indices, n, duration, DT)
            rows.append({"neurons": n, "backend": label, **{k: str(v) for k, v in options.items()},
                         "wall_s_per_simulated_s": res.timing["wall_s"] / duration,
                         "rate_hz": stats["rate_hz"], "build_s": build,
                         "synapses": int(sim.built.n_synapses)})
            del sim
    for n in sizes:
        by = {r["backend"]: r for r in rows if r["neurons"] == n}
        by["torch"]["speedup_vs_numba"] = (by["numba"]["wall_s_per_simulated_s"]
                                           / by["torch"]["wall_s_per_simulated_s"])
        by["torch"]["rate_ratio_vs_numba"] = by["torch"]["rate_hz"] / max(by["numba"]["rate_hz"],
                                                                           np.finfo(float).tiny)
        if "numba-1-thread" in by:
            by["numba"]["speedup_vs_1_thread"] = (by["numba-1-thread"]["wall_s_per_simulated_s"]
                                                  / by["numba"]["wall_s_per_simulated_s"])
    return {"duration_s": duration, "numba_threads": threads, "rows": rows}


def stage_bptt_step(cpu: bool) -> dict:
    import importlib.util

    from rules.bench import bench_bptt

    vs = ("snntorch",) if importlib.util.find_spec("snntorch") else ()
    if cpu:
        return {"rows": [bench_bptt("64-32-10", steps=5, batch=8, device="cpu", repeat=1, vs=vs)]}
    return {"rows": [bench_bptt("784-500-10", steps=t, batch=128, device="cuda", repeat=5, vs=vs)
                     for t in (25, 100, 400)]}


def stage_bench_rules(cpu: bool, data_dir: str | None) -> dict:
    from rules.bench import RulesBenchConfig, bench_rules
    from snn.datasets import load_digits, load_mnist

    if cpu:
        train, test = load_digits().stratified_split(0.2, seed=0)
        train, test = train[:300], test[:100]
        config = RulesBenchConfig(rules=("bptt",), sizes=(64, 32, 10), steps=5, epochs=1, batch=64,
                                  memory_steps=(5, 10), device="cpu")
        name = "digits"
    else:
        train, test = load_mnist(data_dir, split="test").stratified_split(0.2, seed=0)
        config = RulesBenchConfig(rules=("tess", "ff", "ccl", "softhebb", "bptt"), epochs=1,
                                  memory_steps=(10, 400), device="cuda", skip_failures=True)
        name = "mnist-10k"
    return bench_rules(train, test, config, dataset=name)


def write(path: Path, report: dict) -> None:
    from snn.h5io import temporary_sibling

    tmp = temporary_sibling(path)
    tmp.write_text(json.dumps(report, indent=1, default=str))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="toy sizes on the CPU (CI)")
    parser.add_argument("--tests", action="store_true", help="with --cpu: run the pytest stage too")
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run")
    parser.add_argument("--data-dir", default=os.environ.get("SYNAPTICA_DATA",
                                                             str(ROOT.parent / "shared/data/mnist")))
    a = parser.parse_args(argv)
    import torch

    if not a.cpu and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA device; use --cpu for the CPU dry run", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    path = Path(a.out)
    report = {"mode": "cpu" if a.cpu else "cuda", "torch": torch.__version__,
              "device": "cpu" if a.cpu else torch.cuda.get_device_name(0),
              "cpus": os.cpu_count(), "platform": platform.platform(), "stages": {}}
    stages = [("tests", lambda: stage_tests(a.cpu)) if (not a.cpu or a.tests) else None,
              ("cuba", lambda: stage_cuba(a.cpu)), ("bptt_step", lambda: stage_bptt_step(a.cpu)),
              ("bench_rules", lambda: stage_bench_rules(a.cpu, a.data_dir))]
    failed = False
    for name, run in filter(None, stages):
        if time.perf_counter() - t_start > a.budget:
            report["stages"][name] = {"skipped": f"over the {a.budget:g} s budget"}
            continue
        t0 = time.perf_counter()
        try:
            out = run()
            failed |= name == "tests" and out["returncode"] != 0
        except Exception as err:  # recorded; the next stage still runs
            out = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            failed = True
        out["stage_s"] = time.perf_counter() - t0
        report["stages"][name] = out
        report["total_s"] = time.perf_counter() - t_start
        write(path, report)
        print(f"gpu_check: {name} done in {out['stage_s']:.1f} s"
              + (f" ({out['error']})" if "error" in out else ""), flush=True)
    print(f"gpu_check: wrote {path} ({report['total_s']:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
