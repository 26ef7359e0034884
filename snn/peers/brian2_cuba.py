"""CUBA in Brian2, printing the benchmark figures as JSON (run as a subprocess).

``--device runtime`` uses the Cython runtime, ``cpp_standalone`` the C++ standalone device,
``numpy`` the NumPy runtime, ``cuda_standalone`` Brian2CUDA's device (generated CUDA, compiled
with nvcc, run on the GPU; see :mod:`snn.peers.brian2cuda`). ``wall_s`` is Brian2's own
main-loop time (``_last_run_time``), which excludes code generation and compilation, as our
``wall_s`` excludes the build.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", choices=["runtime", "cpp_standalone", "numpy", "cuda_standalone"],
                    default="runtime")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs; wall_s is the fastest")
    a = ap.parse_args(argv)

    import brian2 as b2
    import numpy as np

    from snn.bench import cuba

    standalone = a.device in ("cpp_standalone", "cuda_standalone")
    versions = {}
    if a.device == "cuda_standalone":
        import brian2cuda  # registers the cuda_standalone device

        versions["brian2cuda_version"] = brian2cuda.__version__
    t0 = time.perf_counter()
    b2.start_scope()
    if standalone:
        b2.set_device(a.device, directory=tempfile.mkdtemp(prefix=f"brian2_{a.device}_cuba_"))
    else:
        b2.prefs.codegen.target = "cython" if a.device == "runtime" else "numpy"
    b2.seed(a.seed)
    ms, mV = b2.ms, b2.mV
    namespace = {
        "taum": cuba.TAU_M * b2.second, "taue": cuba.TAU_E * b2.second,
        "taui": cuba.TAU_I * b2.second, "Vt": cuba.V_T * b2.volt, "Vr": cuba.V_R * b2.volt,
        "El": cuba.E_L * b2.volt, "we": cuba.W_E * b2.volt, "wi": cuba.W_I * b2.volt,
    }
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    b2.defaultclock.dt = cuba.DT * b2.second
    n = a.neurons
    n_exc = int(round(0.8 * n))
    p = min(1.0, cuba.SYNAPSES_PER_NEURON / n)
    P = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=cuba.T_REF * b2.second,
                       method="exact", namespace=namespace)
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    Ce = b2.Synapses(P[:n_exc], P, on_pre="ge += we", namespace=namespace)
    Ci = b2.Synapses(P[n_exc:], P, on_pre="gi += wi", namespace=namespace)
    Ce.connect(j="k for k in sample(N_post, p=p)", namespace={"p": p})
    Ci.connect(j="k for k in sample(N_post, p=p)", namespace={"p": p})
    mon = b2.SpikeMonitor(P)
    net = b2.Network(P, Ce, Ci, mon)
    if not standalone:
        net.run(0 * ms)  # code generation and compilation happen here, outside the timing
    net.run(a.duration * b2.second)
    total = time.perf_counter() - t0
    device = b2.get_device()
    walls = [float(device._last_run_time)]
    steps = np.rint(np.asarray(mon.t / b2.second) / cuba.DT).astype(np.int64)
    idx = np.asarray(mon.i)
    for _ in range(a.repeat - 1):
        if standalone:
            device.run()  # re-executes the compiled binary
        else:
            net.run(a.duration * b2.second)  # continues the same network
        walls.append(float(device._last_run_time))
    wall = min(walls)
    n_syn = int(len(Ce) + len(Ci))
    out_e = np.bincount(np.asarray(Ce.i), minlength=n)
    out_i = np.bincount(np.asarray(Ci.i) + n_exc, minlength=n)
    events = int((out_e + out_i)[idx].sum())
    stats = cuba.spike_statistics(steps, idx, n, a.duration, cuba.DT)
    print(json.dumps({
        "simulator": f"brian2-{a.device}", "version": b2.__version__, **versions, "neurons": n,
        "synapses": n_syn, "duration_s": a.duration, **stats, "events": events,
        "wall_s": wall, "wall_s_runs": walls, "build_s": total - walls[0],
        "events_per_s": events / wall if wall > 0 else None,
        "wall_s_per_neuron_second": wall / (n * a.duration), "seed": a.seed,
    }))


if __name__ == "__main__":
    main()
