"""The prepared GPU check (issue 13): CUDA tests, then the GPU benchmarks, into one JSON file.

Each stage runs in its own process under its own time budget (seconds on a GPU machine, then
in the ``--cpu`` dry run); a stage that fails, or runs out of time (it gets SIGINT, then
SIGKILL 20 s later), is recorded with what it finished so far, and the next stage runs:

1. ``tests`` (60 s): the test modules that exercise CUDA, Triton and the chunked engine;
2. ``cuba`` (95 s): CUBA at 4k, 64k and 512k neurons on the torch backend (CUDA, float32,
   its default engine; the dry run asks for the chunked engine on the CPU) beside the numba
   backend on every core and on one thread, wall seconds per simulated second and rates;
3. ``threads`` (60 s): numba thread scaling on CUBA 64k and 512k, 1, 2, 4, 8, 16 threads
   (``benchmarks/threads_cuba.py``: identical spikes checked, CPU seconds, CPU seconds waiting at barriers);
4. ``bptt_step`` (45 s): one BPTT step of 784-500-10, batch 128, T = 25, 100, 400: ours
   (fused kernels where they run) beside snnTorch and SpikingJelly when installed, time and
   memory;
5. ``bench_rules`` (150 s): ``bench rules`` on MNIST-10k on CUDA with the CPU table's split
   and settings (first 8,000 / last 2,000 images, 784-500-10, T = 25, 3 epochs, batch 128;
   ``benchmarks/results/rules_bench_mnist10k_cpu.csv``), accuracy per rule and memory at
   T = 10 and 400 (rules that finish before the budget are kept);
6. ``brian2cuda`` (what is left): CUBA 4k and 512k in Brian2CUDA on the same GPU, when
   installed (``bench cuba --vs brian2cuda``; it compiles with nvcc, minutes).

The whole run stays under ``--budget`` seconds (default 455; with the last stage's 20 s of
grace, under 8 minutes): a stage gets at most what is left. ``--cpu`` runs every stage at toy
sizes on the CPU (what CI exercises), without the pytest stage unless ``--tests``.

On the device machine (no network, packages of its image only): here, once,
``bash benchmarks/gpu_check.sh --prepare`` puts the wheels it lacks (snnTorch, SpikingJelly,
Brian2, Brian2CUDA) and MNIST into ``.gpu_carry/`` (git-ignored); then the device call is
``run(command="bash benchmarks/gpu_check.sh --out $OUT/gpu_check.json", carry=[".gpu_carry"],
timeout_s=540)``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout that is not installed (the device)
    sys.path.insert(0, str(ROOT))

CUDA_TESTS = ["tests/test_torch_backend.py", "tests/test_torch_chunked.py",
              "tests/test_fused_triton.py", "tests/test_bptt.py", "tests/test_layers.py",
              "tests/test_bench_fair.py", "tests/test_rule_tess.py"]
# name, budget on a GPU machine, budget in the CPU dry run (seconds)
STAGES = [("tests", 60, 240), ("cuba", 95, 90), ("threads", 60, 90), ("bptt_step", 45, 90),
          ("bench_rules", 150, 150), ("brian2cuda", 0, 30)]  # brian2cuda: what is left
GRACE_S = 20


def stage_tests(cpu: bool, emit, budget: float) -> None:
    files = [f for f in CUDA_TESTS if (ROOT / f).exists()]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
           "cuda or gpu or triton or chunked", *files]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              timeout=max(5.0, budget - 10))
        lines, rc = proc.stdout.strip().splitlines(), proc.returncode
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        lines, rc = out.strip().splitlines(), "timeout"
    emit({"command": " ".join(cmd[1:]), "returncode": rc, "summary": (lines or [""])[-1],
          "failures": [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))][:40]})
    if rc not in (0, 5):  # 5: nothing selected
        raise RuntimeError(f"CUDA tests: {(lines or ['no output'])[-1]}")


def _cuba_run(built, backend: str, options: dict, duration: float) -> dict:
    """Wall seconds per simulated second and rate of one CUBA simulation of ``built``."""
    import copy

    from snn.backends import get_backend
    from snn.bench.cuba import DT, spike_statistics

    t0 = time.perf_counter()
    sim = get_backend(backend)(copy.deepcopy(built), **options)
    build = time.perf_counter() - t0
    sim.run(duration / 4)  # warm-up: kernels compiled or loaded, CUDA graphs captured
    res = sim.run(duration)
    rec = res["spikes"]
    n = sum(p.n for p in built.populations)
    stats = spike_statistics(rec.steps, rec.indices, n, duration, DT)
    return {"wall_s_per_simulated_s": res.timing["wall_s"] / duration, "rate_hz": stats["rate_hz"],
            "cv_isi": stats["cv_isi"], "build_s": build, "engine": getattr(sim, "engine", None),
            "threads": getattr(sim, "threads", None)}


def stage_cuba(cpu: bool, emit, budget: float) -> None:
    import inspect

    from snn.backends import get_backend
    from snn.bench.cuba import DT, cuba_network

    sizes = ((1000, 0.02),) if cpu else ((4000, 1.0), (64000, 0.4), (512000, 0.2))
    cores = len(os.sched_getaffinity(0))
    torch_options = {"device": "cpu" if cpu else "cuda", "dtype": "float32"}
    if cpu and "engine" in inspect.signature(get_backend("torch")).parameters:
        torch_options["engine"] = "chunked"  # the engine CUDA runs by default, here on the CPU
    runs = [("torch", "torch", torch_options),
            ("numba", "numba", {"threads": cores}), ("numba-1-thread", "numba", {"threads": 1})]
    rows: list[dict] = []
    for n, duration in sizes:
        built = cuba_network(n).instantiate(DT, 1)
        by = {}
        for label, backend, options in runs:
            by[label] = {"neurons": n, "synapses": int(built.n_synapses), "backend": label,
                         "duration_s": duration, **_cuba_run(built, backend, options, duration)}
            rows.append(by[label])
            emit({"cores": cores, "rows": rows})
        torch_row, numba_row = by["torch"], by["numba"]
        torch_row["speedup_vs_numba"] = (numba_row["wall_s_per_simulated_s"]
                                         / torch_row["wall_s_per_simulated_s"])
        torch_row["rate_ratio_vs_numba"] = torch_row["rate_hz"] / max(numba_row["rate_hz"], 1e-300)
        numba_row["speedup_vs_1_thread"] = (by["numba-1-thread"]["wall_s_per_simulated_s"]
                                            / numba_row["wall_s_per_simulated_s"])
        emit({"cores": cores, "rows": rows})


def stage_threads(cpu: bool, emit, budget: float) -> None:
    spec = importlib.util.spec_from_file_location("threads_cuba", ROOT / "benchmarks" / "threads_cuba.py")
    threads_cuba = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(threads_cuba)
    cores = len(os.sched_getaffinity(0))
    counts = [t for t in (1, 2, 4, 8, 16) if t <= cores] or [1]
    sizes = ((2000, 0.02),) if cpu else ((64000, 0.3), (512000, 0.1))
    results = []
    for n, duration in sizes:
        results.append(threads_cuba.measure(n, duration, counts, rounds=2, seed=1))
        emit({"cores": cores, "results": results})
    bad = [r["neurons"] for r in results if not r["identical_spikes"]]
    if bad:
        raise RuntimeError(f"thread counts gave different spikes at {bad} neurons")


def stage_bptt_step(cpu: bool, emit, budget: float) -> None:
    from rules.bench import bench_bptt

    peers = tuple(p for p in ("snntorch", "spikingjelly") if importlib.util.find_spec(p))
    notes = [f"{p} is not installed" for p in ("snntorch", "spikingjelly") if p not in peers]
    setups = [("64-32-10", 5, 8, 1)] if cpu else [("784-500-10", t, 128, 5) for t in (25, 100, 400)]
    rows = []
    for arch, steps, batch, repeat in setups:
        try:
            row = bench_bptt(arch, steps=steps, batch=batch, device="cpu" if cpu else "cuda",
                             repeat=repeat, vs=peers)
        except ValueError as err:  # a peer this version of bench_bptt does not know
            if "spikingjelly" not in peers or "unknown" not in str(err):
                raise
            peers = tuple(p for p in peers if p != "spikingjelly")
            notes.append(f"bench_bptt does not run spikingjelly: {err}")
            row = bench_bptt(arch, steps=steps, batch=batch, device="cpu" if cpu else "cuda",
                             repeat=repeat, vs=peers)
        rows.append(row)
        emit({"peers": list(peers), "notes": notes, "rows": rows})


def stage_bench_rules(cpu: bool, emit, budget: float, data_dir: str) -> None:
    from rules.bench import BenchInterrupted, RulesBenchConfig, bench_rules
    from snn.cli.common import load_split
    from snn.datasets import load_digits

    if cpu:
        train, test = load_digits().stratified_split(0.2, seed=0)
        train, test = train[:300], test[:100]
        config = RulesBenchConfig(rules=("bptt",), sizes=(64, 32, 10), steps=5, epochs=1, batch=64,
                                  memory_steps=(5, 10), device="cpu")
        name = "digits"
    else:
        # The CPU table's split and settings (docs/benchmarks.md,
        # benchmarks/results/rules_bench_mnist10k_cpu.csv), so accuracies compare row by row.
        train, test = load_split("mnist", data_dir, 0)
        config = RulesBenchConfig(rules=("tess", "ff", "ccl", "softhebb", "bptt"),
                                  sizes=(784, 500, 10), epochs=3, batch=128,
                                  memory_steps=(10, 400), device="cuda", skip_failures=True)
        name = "mnist-10k"
    try:
        emit(bench_rules(train, test, config, dataset=name))
    except BenchInterrupted as stop:  # out of time: the rules finished so far
        emit({**stop.report, "interrupted": True})


def stage_brian2cuda(cpu: bool, emit, budget: float) -> None:
    from snn.bench.cuba import PEERS, run_peer_cuba

    why = "no GPU in the dry run" if cpu else None
    if why is None and "brian2cuda" not in PEERS:
        why = "bench cuba has no brian2cuda peer"
    if why is None:
        try:  # what is missing (GPU, nvcc, brian2cuda), as `bench cuba --vs brian2cuda` says
            from snn.peers.brian2cuda import unavailable

            why = unavailable()
        except ImportError:
            why = None if importlib.util.find_spec("brian2cuda") else "brian2cuda is not installed"
    if why is not None:
        emit({"skipped": why})
        return
    rows = []
    for n, duration in ((4000, 1.0), (512000, 0.2)):
        rows.append(run_peer_cuba("brian2cuda", n, duration, seed=1))
        emit({"rows": rows})


def run_stage(name: str, cpu: bool, part: Path, budget: float, data_dir: str) -> int:
    """Run one stage in this process, writing what it has to ``part`` as it goes."""
    current: dict = {}

    def emit(out: dict) -> None:
        current.clear()
        current.update(out)
        write(part, current)

    funcs = {"tests": stage_tests, "cuba": stage_cuba, "threads": stage_threads,
             "bptt_step": stage_bptt_step, "brian2cuda": stage_brian2cuda,
             "bench_rules": lambda c, e, b: stage_bench_rules(c, e, b, data_dir)}
    try:
        funcs[name](cpu, emit, budget)
        return 0
    except KeyboardInterrupt:
        write(part, {**current, "interrupted": True})
        return 130
    except Exception as err:
        write(part, {**current, "error": f"{type(err).__name__}: {err}",
                     "traceback": traceback.format_exc()})
        return 1


def write(path: Path, report: dict) -> None:
    from snn.h5io import temporary_sibling

    tmp = temporary_sibling(path)
    tmp.write_text(json.dumps(report, indent=1, default=str))
    os.replace(tmp, path)


def supervise(name: str, cpu: bool, budget: float, data_dir: str, scratch: Path) -> dict:
    """Run stage ``name`` in a child process for at most ``budget`` seconds; its record."""
    part = scratch / f"{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", name, "--part", str(part),
           "--budget", str(budget), "--data-dir", data_dir, *(["--cpu"] if cpu else [])]
    t0 = time.perf_counter()
    log = (scratch / f"{name}.log").open("w+")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    timed_out = False
    try:
        proc.wait(budget)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    out = json.loads(part.read_text()) if part.exists() else {}
    out.update({"stage_s": time.perf_counter() - t0, "budget_s": budget,
                "returncode": proc.returncode, **({"timed_out": True} if timed_out else {})})
    if (timed_out or proc.returncode != 0) and "error" not in out:
        log.seek(0)
        out["error"] = (f"out of time after {budget:g} s" if timed_out else
                        f"exit {proc.returncode}") + ": " + log.read()[-2000:]
    log.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="toy sizes on the CPU (CI)")
    parser.add_argument("--tests", action="store_true", help="with --cpu: run the pytest stage too")
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--budget", type=float, default=455.0, help="seconds for the whole run")
    parser.add_argument("--only", help="comma-separated stages to run (default: all)")
    parser.add_argument("--data-dir", default=os.environ.get("SYNAPTICA_DATA",
                                                             str(ROOT.parent / "shared/data/mnist")))
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one stage
    parser.add_argument("--part", help=argparse.SUPPRESS)
    a = parser.parse_args(argv)
    if a.stage:
        return run_stage(a.stage, a.cpu, Path(a.part), a.budget, a.data_dir)
    t_start = time.perf_counter()
    import torch

    if not a.cpu and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA device; use --cpu for the CPU dry run", file=sys.stderr)
        return 2
    names = [n for n, _g, _c in STAGES]
    only = names if a.only is None else a.only.split(",")
    if set(only) - set(names):
        parser.error(f"--only: unknown stages {sorted(set(only) - set(names))}; choose from {names}")
    path = Path(a.out)
    report = {"mode": "cpu" if a.cpu else "cuda", "torch": torch.__version__,
              "device": "cpu" if a.cpu else torch.cuda.get_device_name(0),
              "cpus": os.cpu_count(), "platform": platform.platform(),
              "loadavg": os.getloadavg(), "budget_s": a.budget, "stages": {}}
    failed = False
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as scratch:
        for name, gpu_budget, cpu_budget in STAGES:
            if name not in only or (name == "tests" and a.cpu and not a.tests):
                continue
            left = a.budget - (time.perf_counter() - t_start)
            budget = min(cpu_budget if a.cpu else gpu_budget, left - 5)
            if name == "brian2cuda":  # last: whatever is left
                budget = left - 5
            if budget < 10:
                report["stages"][name] = {"skipped": f"over the {a.budget:g} s budget"}
                continue
            out = supervise(name, a.cpu, budget, a.data_dir, Path(scratch))
            failed |= "error" in out
            report["stages"][name] = out
            report["total_s"] = time.perf_counter() - t_start
            write(path, report)
            print(f"gpu_check: {name} done in {out['stage_s']:.1f} s of {budget:.0f}"
                  + (f" ({out['error'].splitlines()[0][:200]})" if "error" in out else ""), flush=True)
    report["total_s"] = time.perf_counter() - t_start
    write(path, report)
    print(f"gpu_check: wrote {path} ({report['total_s']:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
