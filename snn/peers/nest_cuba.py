"""CUBA in NEST (``iaf_psc_exp``), printing the benchmark figures as JSON (run as a subprocess).

Our LIF keeps synaptic currents in volts (current x membrane resistance); NEST keeps them in
pA with a capacitance, so a weight ``w`` (V) becomes ``w * C_m / tau_m`` (pA). NEST labels a
spike with the end of the step in which it fired, one step later than we do, and counts the
delay from that label: its minimal delay (one step, 0.1 ms) between two neurons equals our
delay of 2 steps, and our one-step delay has no NEST equivalent. So NEST's CUBA runs with
synapses one step slower than ours (rate and CV agree within a few per cent;
``hardware.pynn`` maps the delays exactly where NEST can). Spike steps below are converted
to our labels. ``wall_s`` times ``nest.Run`` only.
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="timed runs; wall_s is the fastest")
    a = ap.parse_args(argv)

    import numpy as np

    from snn.bench import cuba

    t0 = time.perf_counter()
    import nest

    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": cuba.DT * 1e3, "local_num_threads": a.threads,
                          "rng_seed": a.seed + 1})
    c_m = 250.0  # pF; only the ratio to tau_m matters
    tau_m_ms = cuba.TAU_M * 1e3
    params = {
        "C_m": c_m, "tau_m": tau_m_ms, "E_L": cuba.E_L * 1e3, "V_th": cuba.V_T * 1e3,
        "V_reset": cuba.V_R * 1e3, "t_ref": cuba.T_REF * 1e3, "tau_syn_ex": cuba.TAU_E * 1e3,
        "tau_syn_in": cuba.TAU_I * 1e3, "I_e": 0.0,
    }
    n = a.neurons
    n_exc = int(round(0.8 * n))
    p = min(1.0, cuba.SYNAPSES_PER_NEURON / n)
    pop = nest.Create("iaf_psc_exp", n, params=params)
    pop.V_m = nest.random.uniform(cuba.V_R * 1e3, cuba.V_T * 1e3)
    to_pa = c_m / tau_m_ms  # mV -> pA
    rule = {"rule": "pairwise_bernoulli", "p": p}
    d = cuba.DT * 1e3
    nest.Connect(pop[:n_exc], pop, rule, {"weight": cuba.W_E * 1e3 * to_pa, "delay": d})
    nest.Connect(pop[n_exc:], pop, rule, {"weight": cuba.W_I * 1e3 * to_pa, "delay": d})
    rec = nest.Create("spike_recorder")
    nest.Connect(pop, rec)
    nest.Prepare()
    t1 = time.perf_counter()
    nest.Run(a.duration * 1e3)
    walls = [time.perf_counter() - t1]
    events = rec.get("events")
    for _ in range(a.repeat - 1):  # continues the same network
        t2 = time.perf_counter()
        nest.Run(a.duration * 1e3)
        walls.append(time.perf_counter() - t2)
    nest.Cleanup()
    wall = min(walls)
    steps = np.rint(np.asarray(events["times"]) / (cuba.DT * 1e3)).astype(np.int64) - 1
    idx = np.asarray(events["senders"]) - pop[0].global_id
    conns = nest.GetConnections(source=pop, target=pop)
    sources = np.asarray(conns.get("source")) - pop[0].global_id
    out_degree = np.bincount(sources, minlength=n)
    events_n = int(out_degree[idx].sum())
    stats = cuba.spike_statistics(steps, idx, n, a.duration, cuba.DT)
    print(json.dumps({
        "simulator": f"nest-{a.threads}threads", "version": nest.__version__, "neurons": n,
        "synapses": int(sources.size), "duration_s": a.duration, **stats, "events": events_n,
        "wall_s": wall, "wall_s_runs": walls, "build_s": t1 - t0, "events_per_s": events_n / wall,
        "wall_s_per_neuron_second": wall / (n * a.duration), "seed": a.seed,
    }))


if __name__ == "__main__":
    main()
