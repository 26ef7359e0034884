"""CUBA through the PyNN export on NEST, beside our numba engine: rates, CV and wall times.

    python benchmarks/pynn_nest.py                              # 4000 neurons, 1 s, 1 thread
    python benchmarks/pynn_nest.py --neurons 512000 --threads 2 --duration 0.2

CUBA's synapses have our one-step delay, which NEST cannot express (its minimal delay is our
two-step delay, see docs/pynn.md), so the export runs with ``exact=False``. Three runs:

* ``ours``: the CUBA benchmark network on numba (delay 1 step);
* ``ours_d2``: the same network with two-step delays, i.e. what NEST simulates;
* ``nest``: the export run through ``pyNN.nest`` with ``--threads`` threads.

``nest`` and ``ours_d2`` are the same network with the same initial state: they agree spike
for spike until a rounding difference in the chaotic CUBA dynamics flips one spike
(``identical_until_ms``). Wall times count simulation only (builds are listed apart); the
ratio is ``nest / ours``. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from hardware.pynn import run_on
from snn.bench.cuba import DT, cuba_network, spike_statistics


def _ours(net, duration: float, seed: int) -> dict:
    t0 = time.perf_counter()
    sim = net.build(dt=DT, seed=seed)
    build = time.perf_counter() - t0
    res = sim.run(duration)
    rec = res["spikes"]
    return {"record": rec, "build_s": build, "wall_s": res.timing["wall_s"],
            **spike_statistics(rec.steps, rec.indices, rec.n, duration, DT)}


def _first_difference(a, b) -> int | None:
    """The first step at which two spike records differ, or None."""
    pa = np.lexsort((a.indices, a.steps))
    pb = np.lexsort((b.indices, b.steps))
    sa, ia = a.steps[pa], a.indices[pa]
    sb, ib = b.steps[pb], b.indices[pb]
    m = min(sa.size, sb.size)
    bad = np.flatnonzero((sa[:m] != sb[:m]) | (ia[:m] != ib[:m]))
    if bad.size:
        return int(min(sa[bad[0]], sb[bad[0]]))
    if sa.size != sb.size:
        return int(sa[m] if sa.size > m else sb[m])
    return None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="NEST threads")
    ap.add_argument("--processes", type=int, default=1, help="MPI processes (needs mpirun)")
    ap.add_argument("--skip-d2", action="store_true", help="skip the two-step-delay run of ours")
    a = ap.parse_args(argv)

    net = cuba_network(a.neurons)
    ours = _ours(net, a.duration, a.seed)
    out = {"neurons": a.neurons, "duration_s": a.duration, "seed": a.seed,
           "threads": a.threads, "processes": a.processes}
    d2 = None
    if not a.skip_d2:
        net2 = cuba_network(a.neurons)
        for proj in net2.projections:
            proj.delay = 2
        d2 = _ours(net2, a.duration, a.seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = run_on(net, "nest", duration=a.duration, dt=DT, seed=a.seed, threads=a.threads,
                     processes=a.processes, exact=False)
    total = time.perf_counter() - t0
    rec = res["spikes"]
    nest = {"build_s": res.timing["build_s"], "export_and_build_s": total - res.timing["wall_s"],
            "wall_s": res.timing["wall_s"],
            **spike_statistics(rec.steps, rec.indices, rec.n, a.duration, DT)}
    for key, run in (("ours", ours), ("ours_d2", d2)):
        if run is not None:
            out[key] = {k: v for k, v in run.items() if k != "record"}
    out["nest"] = nest
    out["rate_rel_diff"] = nest["rate_hz"] / ours["rate_hz"] - 1
    out["cv_rel_diff"] = nest["cv_isi"] / ours["cv_isi"] - 1
    out["wall_ratio_nest_over_ours"] = nest["wall_s"] / ours["wall_s"]
    if d2 is not None:
        first = _first_difference(d2["record"], rec)
        out["identical_until_ms"] = None if first is None else first * DT * 1e3
        out["rate_rel_diff_vs_d2"] = nest["rate_hz"] / d2["rate_hz"] - 1
        out["cv_rel_diff_vs_d2"] = nest["cv_isi"] / d2["cv_isi"] - 1
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
