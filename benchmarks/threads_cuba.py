"""CUBA on the numba backend with 1, 2, ... threads, back to back in one process.

Builds the same CUBA network once per thread count (same seed), then runs ``--rounds``
interleaved rounds of ``--duration`` simulated seconds on each and keeps each one's fastest
run. Reports wall seconds per simulated second, the speedup over the first thread count, the
process's CPU seconds (all threads, waiting included), the CPU seconds each thread spent
waiting at its barrier (``NumbaSimulation.thread_stats``), and checks that every thread count
produced the same spikes. The load average is recorded before and
after: the threads meet once a step, so other busy processes on the same cores slow threaded
runs far more than one-thread runs; a wall-clock speedup means something only on idle cores.
The last line printed is the whole report as one JSON line.

Beside the wall clock, an estimate that other processes on the same cores spoil much less:
each thread's CPU seconds minus those it spent waiting at barriers (measured with its CPU
clock) is its work; threads on idle cores take about the largest work plus a microsecond a
barrier, so ``one thread's CPU seconds / largest work`` is the speedup they can reach
(``work_speedup``). Cache misses after a busy machine deschedules a thread still count as
work, so the estimate errs low there.

And what the cores give at all: in every round, beside the simulations, a kernel with no
shared data and no barrier (a leaky-integrator update over as many neurons, split into one
slice per thread) runs on 1 thread and on each thread count (``ceiling``: its speedup). A
virtual machine's cores can give less than their count when the host is busy; the
simulation's speedup over ``ceiling`` (``parallel_efficiency``) is what the threads
themselves cost.

Run: ``python benchmarks/threads_cuba.py [--neurons 64000] [--duration 0.5] [--threads 1,2]
[--rounds 3] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def _ceiling_kernel():
    from numba import njit

    @njit(nogil=True, cache=True)
    def leak(v, current, steps):  # pragma: no cover - compiled
        for _ in range(steps):
            for i in range(v.shape[0]):
                x = v[i] + (current[i] - v[i]) * 0.05
                v[i] = 0.0 if x > 1.0 else x
                current[i] = current[i] * 0.97 + 0.001 * (i & 7)
        return v[0]

    return leak


def parallel_run(kernel, slices: list[tuple[np.ndarray, np.ndarray]], steps: int, pool) -> float:
    """Wall seconds of ``kernel`` over every slice at once, one thread a slice (the calling
    thread takes the first)."""
    t0 = time.perf_counter()
    others = [pool.submit(kernel, v, c, steps) for v, c in slices[1:]]
    kernel(*slices[0], steps)
    for f in others:
        f.result()
    return time.perf_counter() - t0


def measure(neurons: int, duration: float, threads: list[int], rounds: int, seed: int) -> dict:
    """Figures of CUBA with ``neurons`` neurons for each thread count in ``threads``."""
    import copy

    import numba

    from snn.backends.numba import NumbaSimulation
    from snn.bench.cuba import DT, cuba_network

    built = cuba_network(neurons).instantiate(DT, seed)  # sampled once; a copy per count
    sims, builds = {}, {}
    for t in threads:
        t0 = time.perf_counter()
        sims[t] = NumbaSimulation(copy.deepcopy(built), threads=t)
        builds[t] = time.perf_counter() - t0
    from concurrent.futures import ThreadPoolExecutor

    kernel = _ceiling_kernel()
    rng = np.random.default_rng(seed)
    slices = {t: [(rng.random(neurons // t), rng.random(neurons // t)) for _ in range(t)]
              for t in threads}
    kernel(*slices[threads[0]][0], 1)
    ceiling_steps = max(1, int(duration / DT))  # as many neuron updates as a run
    pool = ThreadPoolExecutor(max(threads) - 1 or 1, "ceiling")
    plain = {t: [] for t in threads}
    load_before = os.getloadavg()
    walls = {t: [] for t in threads}
    cpus = {t: [] for t in threads}
    waits = {t: np.zeros(t) for t in threads}
    work = {t: [] for t in threads}
    spikes = {}
    for r in range(rounds):
        for t, sim in sims.items():
            before = sim.thread_stats()
            cpu = time.process_time()
            res = sim.run(duration)
            cpus[t].append(time.process_time() - cpu)
            walls[t].append(res.timing["wall_s"])
            after = sim.thread_stats()
            if t > 1:  # CPU seconds of each thread minus those spent waiting at barriers
                waited = np.array(after["wait_cpu_s"]) - before["wait_cpu_s"]
                waits[t] += waited
                work[t].append(max(np.array(after["cpu_s"]) - before["cpu_s"] - waited))
            else:
                work[t].append(cpus[t][-1])
            rec = res["spikes"]
            spikes.setdefault(r, {})[t] = (rec.steps, rec.indices)
            plain[t].append(parallel_run(kernel, slices[t], ceiling_steps, pool))
    load_after = os.getloadavg()
    pool.shutdown()
    identical = all(np.array_equal(s[threads[0]][0], s[t][0])
                    and np.array_equal(s[threads[0]][1], s[t][1])
                    for s in spikes.values() for t in threads)
    base = min(walls[threads[0]])
    rows = [{"threads": t, "wall_s": min(walls[t]), "wall_s_runs": walls[t],
             "wall_s_per_simulated_s": min(walls[t]) / duration,
             "speedup_vs_first": base / min(walls[t]), "cpu_s": min(cpus[t]), "cpu_s_runs": cpus[t],
             "wait_cpu_s": (waits[t] / rounds).tolist(), "work_s": min(work[t]),
             "work_speedup": min(work[threads[0]]) / min(work[t]), "build_s": builds[t],
             "ceiling": min(plain[threads[0]]) / min(plain[t]), "ceiling_s_runs": plain[t],
             "parallel_efficiency": (base / min(walls[t])) / (min(plain[threads[0]]) / min(plain[t]))}
            for t in threads]
    return {
        "benchmark": "threads_cuba", "neurons": neurons, "synapses": sims[threads[0]].built.n_synapses,
        "duration_s": duration, "rounds": rounds, "seed": seed,
        "spikes_per_round": [len(s[threads[0]][0]) for s in spikes.values()],
        "identical_spikes": identical, "rows": rows,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "numba": numba.__version__, "numba_threads": numba.config.NUMBA_NUM_THREADS,
                    "usable_cores": len(os.sched_getaffinity(0)),
                    "loadavg_before": load_before, "loadavg_after": load_after},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=64000)
    parser.add_argument("--duration", type=float, default=0.5, help="simulated seconds a run")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the figures to this file")
    a = parser.parse_args(argv)
    threads = [int(t) for t in a.threads.split(",")]
    out = measure(a.neurons, a.duration, threads, a.rounds, a.seed)
    for row in out["rows"]:
        print(f"threads {row['threads']:>2}: {row['wall_s_per_simulated_s']:.3f} s per simulated "
              f"s, speedup x{row['speedup_vs_first']:.2f} vs {threads[0]} thread(s); "
              f"CPU {row['cpu_s']:.3f} s; largest work {row['work_s']:.3f} s (x"
              f"{row['work_speedup']:.2f}); CPU s waiting per thread "
              + " ".join(f"{w:.3f}" for w in row["wait_cpu_s"])
              + f"; no-barrier kernel x{row['ceiling']:.2f} (efficiency "
              f"{row['parallel_efficiency']:.2f})")
    print(f"identical spikes: {out['identical_spikes']}; load average before/after: "
          f"{out['machine']['loadavg_before'][0]:.1f} / {out['machine']['loadavg_after'][0]:.1f} "
          f"on {out['machine']['cpus']} CPUs")
    print(json.dumps({"benchmark": "threads_cuba", "neurons": out["neurons"],
                      "speedup": {str(r["threads"]): round(r["speedup_vs_first"], 3)
                                  for r in out["rows"]},
                      "wall_s_per_simulated_s": {str(r["threads"]): r["wall_s_per_simulated_s"]
                                                 for r in out["rows"]},
                      "work_speedup": {str(r["threads"]): round(r["work_speedup"], 3)
                                       for r in out["rows"]},
                      "ceiling": {str(r["threads"]): round(r["ceiling"], 3) for r in out["rows"]},
                      "identical_spikes": out["identical_spikes"],
                      "loadavg": [out["machine"]["loadavg_before"][0],
                                  out["machine"]["loadavg_after"][0]],
                      "cpus": out["machine"]["cpus"]}))
    if a.json:
        from pathlib import Path

        from snn.h5io import temporary_sibling

        tmp = temporary_sibling(Path(a.json))
        tmp.write_text(json.dumps(out, indent=1))
        os.replace(tmp, a.json)
    return 0 if out["identical_spikes"] else 1


if __name__ == "__main__":
    sys.exit(main())
