"""CUBA through the PyNN export on NEST, beside our numba engine: rates, CV, wall times and
peak memory.

    python benchmarks/pynn_nest.py                                   # 4000 neurons, 1 s, seed 1
    python benchmarks/pynn_nest.py --seeds 1 2 3 4 5 6 7 8           # mean and spread over seeds
    python benchmarks/pynn_nest.py --neurons 512000 --threads 2 --duration 0.2 --skip-d2 --record-every 8

CUBA's synapses have our one-step delay, which NEST cannot express (its minimal delay is our
two-step delay, see docs/pynn.md), so the export runs with ``exact=False``. Three runs per
seed, each in its own process (so each peak resident set size is that run's alone):

* ``ours``: the CUBA benchmark network on numba (delay 1 step);
* ``ours_d2``: the same network with two-step delays, i.e. what NEST simulates;
* ``nest``: the export run through ``pyNN.nest`` with ``--threads`` threads.

``nest`` and ``ours_d2`` are the same network with the same initial state: they agree spike
for spike until a rounding difference in the chaotic CUBA dynamics flips one spike
(``identical_until_ms``; null: the whole run). Wall times count simulation only (builds are
listed apart); the ratio is ``nest / ours``. Rates and CVs are over the recorded neurons
(``--record-every k``: every k-th; NEST spends about 30 kB on each neuron it records).
``nest.memory_gb`` is the NEST process's resident set size after the export, after NEST
built the network and after the run. Prints one JSON document (``--out`` also writes it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from snn.cli.common import write_json

PARTS = ("ours", "ours_d2", "nest")


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def _run_part(part: str, a, spikes: str) -> dict:
    """One run in this process; its spikes go to ``spikes`` (.npz)."""
    from snn.bench.cuba import DT, cuba_network, spike_statistics

    net = cuba_network(a.neurons, record=False)
    net.spike_monitor(net.populations[0][::a.record_every], name="spikes")
    if part == "nest":
        from hardware.pynn import run_on

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = run_on(net, "nest", duration=a.duration, dt=DT, seed=a.seed,
                         threads=a.threads, processes=a.processes, exact=False)
        rec = res["spikes"]
        out = {"build_s": res.timing["build_s"], "export_s": res.timing["export_s"],
               "wall_s": res.timing["wall_s"], "memory_gb": res.timing.get("memory_gb")}
    else:
        if part == "ours_d2":
            for proj in net.projections:
                proj.delay = 2
        t0 = time.perf_counter()
        sim = net.build(dt=DT, seed=a.seed)
        build = time.perf_counter() - t0
        res = sim.run(a.duration)
        rec = res["spikes"]
        out = {"build_s": build, "wall_s": res.timing["wall_s"],
               "synapses": int(sim.built.n_synapses)}
    np.savez(spikes, steps=rec.steps, indices=rec.indices)
    recorded = len(range(0, a.neurons, a.record_every))  # statistics over the recorded neurons
    stats = spike_statistics(rec.steps, rec.indices // a.record_every, recorded, a.duration, DT)
    return {**out, **stats, "recorded_neurons": recorded, "peak_rss_gb": _peak_rss_gb()}


def _first_difference(a: dict, b: dict) -> int | None:
    """The first step at which two spike lists (``steps``, ``indices``) differ, or None."""
    pa = np.lexsort((a["indices"], a["steps"]))
    pb = np.lexsort((b["indices"], b["steps"]))
    sa, ia = a["steps"][pa], a["indices"][pa]
    sb, ib = b["steps"][pb], b["indices"][pb]
    m = min(sa.size, sb.size)
    bad = np.flatnonzero((sa[:m] != sb[:m]) | (ia[:m] != ib[:m]))
    if bad.size:
        return int(min(sa[bad[0]], sb[bad[0]]))
    if sa.size != sb.size:
        return int(sa[m] if sa.size > m else sb[m])
    return None


def _child(part: str, a, seed: int, folder: Path) -> tuple[dict, dict]:
    """Run one part in a fresh interpreter; returns (figures, spikes)."""
    spikes = folder / f"{part}_{seed}.npz"
    cmd = [sys.executable, os.path.abspath(__file__), "--part", part, "--spikes", str(spikes),
           "--neurons", str(a.neurons), "--duration", str(a.duration), "--seed", str(seed),
           "--threads", str(a.threads), "--processes", str(a.processes),
           "--record-every", str(a.record_every)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{part} (seed {seed}) failed:\n{proc.stderr[-3000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(spikes) as fh:
        return figures, {k: fh[k] for k in fh.files}


def _one_seed(a, seed: int, folder: Path) -> dict:
    parts = [p for p in PARTS if not (a.skip_d2 and p == "ours_d2")]
    runs, spikes = {}, {}
    for part in parts:
        runs[part], spikes[part] = _child(part, a, seed, folder)
    ours, nest = runs["ours"], runs["nest"]
    out = {"seed": seed, **runs,
           "rate_rel_diff": nest["rate_hz"] / ours["rate_hz"] - 1,
           "cv_rel_diff": nest["cv_isi"] / ours["cv_isi"] - 1,
           "wall_ratio_nest_over_ours": nest["wall_s"] / ours["wall_s"],
           "peak_rss_ratio_nest_over_ours": nest["peak_rss_gb"] / ours["peak_rss_gb"]}
    if "ours_d2" in runs:
        d2 = runs["ours_d2"]
        first = _first_difference(spikes["ours_d2"], spikes["nest"])
        out["identical_until_ms"] = None if first is None else first * 0.1
        out["rate_rel_diff_vs_d2"] = nest["rate_hz"] / d2["rate_hz"] - 1
        out["cv_rel_diff_vs_d2"] = nest["cv_isi"] / d2["cv_isi"] - 1
        out["d2_rate_rel_diff_vs_ours"] = d2["rate_hz"] / ours["rate_hz"] - 1
        out["d2_cv_rel_diff_vs_ours"] = d2["cv_isi"] / ours["cv_isi"] - 1
    return out


def _spread(runs: list[dict]) -> dict:
    """Mean, sample standard deviation, minimum and maximum of each relative difference."""
    keys = [k for k in runs[0] if k.endswith("rel_diff") or "rel_diff_vs" in k]
    out = {}
    for k in keys:
        v = np.array([r[k] for r in runs])
        out[k] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
                  "min": float(v.min()), "max": float(v.max())}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="several seeds: each seed's runs plus the mean and spread")
    ap.add_argument("--threads", type=int, default=1, help="NEST threads")
    ap.add_argument("--processes", type=int, default=1, help="MPI processes (needs mpirun)")
    ap.add_argument("--skip-d2", action="store_true", help="skip the two-step-delay run of ours")
    ap.add_argument("--record-every", type=int, default=1,
                    help="record every k-th neuron (NEST spends ~30 kB on each recorded one)")
    ap.add_argument("--out", default=None, help="also write the JSON document here")
    ap.add_argument("--part", choices=PARTS, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--spikes", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.part is not None:  # a child: one run, one JSON line
        out = _run_part(a.part, a, a.spikes)
        print(json.dumps(out))
        return out

    seeds = a.seeds or [a.seed]
    with tempfile.TemporaryDirectory(prefix="pynn-nest-") as tmp:
        runs = [_one_seed(a, s, Path(tmp)) for s in seeds]
    out = {"neurons": a.neurons, "duration_s": a.duration, "threads": a.threads,
           "processes": a.processes, "record_every": a.record_every}
    if len(runs) == 1:
        out.update(runs[0])
    else:
        out["seeds"] = runs
        out["spread"] = _spread(runs)
    print(json.dumps(out, indent=1))
    if a.out:
        write_json(a.out, out)
    return out


if __name__ == "__main__":
    main()
