"""Brian2's STDP example (Song, Miller & Abbott 2000), printing its figures as JSON.

One neuron receives ``N = 1000`` Poisson inputs at 15 Hz through all-to-all synapses with
additive pair STDP (pre and post traces with ``taupre = taupost = 20 ms``; ``dApre = 0.01 gmax``,
``dApost = -1.05 dApre taupre / taupost``; weights clipped to ``[0, gmax]``, ``gmax = 0.01``,
initially uniform in ``[0, gmax]``), ``dt = 0.1 ms``. Competition between the synapses drives
the weights to the bounds: the final distribution is bimodal.

The membrane equation is the example's, ``taum dv/dt = ge (Ee - vr) + El - v`` (the driving
force is frozen at ``Ee - vr``, which makes it linear; Brian2 integrates it with
``method='exact'``). ``--membrane conductance`` uses ``ge (Ee - v)`` instead, integrated with
``exponential_euler``, the form of :class:`snn.ConductanceLIF`.

``wall_s`` is Brian2's own main-loop time (``_last_run_time``): code generation and
compilation are excluded and reported as ``build_s``. Run as
``python -m snn.peers.brian2_stdp --duration 100 --device cpp_standalone --seed 1 --json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

N_INPUTS = 1000
RATE_HZ = 15.0
DT = 1e-4
TAU_M, TAU_E, TAU_PRE, TAU_POST = 10e-3, 5e-3, 20e-3, 20e-3
E_E, V_T, V_R, E_L = 0.0, -54e-3, -60e-3, -74e-3
GMAX = 0.01
DA_PRE = 0.01 * GMAX
DA_POST = -0.01 * TAU_PRE / TAU_POST * 1.05 * GMAX
LOW, HIGH = 0.1, 0.9  # fractions of gmax that count as "at the lower / upper bound"


def weight_summary(w_over_gmax, duration: float, output_spikes: int, bins: int) -> dict:
    """The figures every STDP run reports: fractions near each bound, histogram, rate."""
    import numpy as np

    w = np.asarray(w_over_gmax, dtype=np.float64)
    counts, _ = np.histogram(w, bins=bins, range=(0.0, 1.0))
    return {
        "frac_low": float(np.mean(w < LOW)), "frac_high": float(np.mean(w > HIGH)),
        "w_mean": float(w.mean()), "rate_hz": output_spikes / duration,
        "output_spikes": int(output_spikes), "hist_counts": counts.tolist(),
        "hist_range": [0.0, 1.0],
    }


def _save_atomic(path: str, array) -> None:
    import numpy as np

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".npy", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=100.0, help="biological time (s)")
    ap.add_argument("--device", choices=["runtime", "cpp_standalone", "numpy"], default="runtime",
                    help="runtime: Cython; numpy: NumPy runtime; cpp_standalone: C++")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1,
                    help="timed runs from the same initial state; wall_s is the fastest")
    ap.add_argument("--membrane", choices=["example", "conductance"], default="example")
    ap.add_argument("--bins", type=int, default=50, help="weight histogram bins over [0, gmax]")
    ap.add_argument("--weights", metavar="NPY", help="save the final weights / gmax here")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args(argv)
    if a.duration <= 0 or a.repeat < 1 or a.bins < 1:
        ap.error("--duration must be > 0, --repeat and --bins >= 1")

    t0 = time.perf_counter()
    import brian2 as b2
    import numpy as np

    b2.start_scope()
    standalone = a.device == "cpp_standalone"
    build_dir = tempfile.mkdtemp(prefix="brian2_stdp_")
    if standalone:
        b2.set_device("cpp_standalone", directory=build_dir, build_on_run=False)
    else:
        b2.prefs.codegen.target = "cython" if a.device == "runtime" else "numpy"
    b2.seed(a.seed)
    b2.defaultclock.dt = DT * b2.second
    ns = {"taum": TAU_M * b2.second, "taue": TAU_E * b2.second, "taupre": TAU_PRE * b2.second,
          "taupost": TAU_POST * b2.second, "Ee": E_E * b2.volt, "vt": V_T * b2.volt,
          "vr": V_R * b2.volt, "El": E_L * b2.volt, "gmax": GMAX, "dApre": DA_PRE,
          "dApost": DA_POST}
    if a.membrane == "example":
        drive, method = "ge * (Ee - vr)", "exact"
    else:
        drive, method = "ge * (Ee - v)", "exponential_euler"
    eqs = f"dv/dt = ({drive} + El - v) / taum : volt\ndge/dt = -ge / taue : 1\n"
    inputs = b2.PoissonGroup(N_INPUTS, rates=RATE_HZ * b2.Hz)
    neuron = b2.NeuronGroup(1, eqs, threshold="v > vt", reset="v = vr", method=method,
                            namespace=ns)
    neuron.v = E_L * b2.volt  # Brian2's default is 0 V, above threshold
    syn = b2.Synapses(
        inputs, neuron,
        model="""w : 1
                 dApre/dt = -Apre / taupre : 1 (event-driven)
                 dApost/dt = -Apost / taupost : 1 (event-driven)""",
        on_pre="""ge += w
                  Apre += dApre
                  w = clip(w + Apost, 0, gmax)""",
        on_post="""Apost += dApost
                   w = clip(w + Apre, 0, gmax)""",
        namespace=ns)
    syn.connect()
    syn.w = "rand() * gmax"
    spikes = b2.SpikeMonitor(neuron)
    net = b2.Network(inputs, neuron, syn, spikes)

    device = b2.get_device()
    walls = []
    if standalone:
        net.run(a.duration * b2.second)
        device.build(directory=build_dir, compile=True, run=False)  # default would be ./output
        build_s = time.perf_counter() - t0
        for _ in range(a.repeat):
            device.run()  # re-executes the compiled binary from the same initial state
            walls.append(float(device._last_run_time))
        w_final, n_out = np.asarray(syn.w) / GMAX, int(spikes.num_spikes)
    else:
        net.run(0 * b2.ms)  # code generation and compilation happen here
        net.store("initial")
        build_s = time.perf_counter() - t0
        w_final = None
        for _ in range(a.repeat):
            net.restore("initial")
            net.run(a.duration * b2.second)
            walls.append(float(device._last_run_time))
            if w_final is None:  # later repeats draw other Poisson trains; report the first
                w_final, n_out = np.asarray(syn.w) / GMAX, int(spikes.num_spikes)
    shutil.rmtree(build_dir, ignore_errors=True)
    if a.weights:
        _save_atomic(a.weights, w_final)
    out = {
        "simulator": f"brian2-{a.device}", "version": b2.__version__, "membrane": a.membrane,
        "n_inputs": N_INPUTS, "input_rate_hz": RATE_HZ, "duration_s": a.duration, "seed": a.seed,
        **weight_summary(w_final, a.duration, n_out, a.bins),
        "wall_s": min(walls), "wall_s_runs": walls, "build_s": build_s,
        "weights_file": a.weights,
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(f"{out['simulator']} ({a.membrane}), {a.duration:g} s: frac_low {out['frac_low']:.3f}, "
              f"frac_high {out['frac_high']:.3f}, rate {out['rate_hz']:.2f} Hz, "
              f"wall {out['wall_s']:.2f} s (build {build_s:.1f} s)")


if __name__ == "__main__":
    main()
