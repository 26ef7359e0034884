"""Feed-forward spikes of the SpiNNaker target beside the float engine, at dt 1 ms and 0.1 ms.

The network of ``tests/test_spinnaker_backend.py::test_feedforward_spikes_match_the_float_
engine_within_one_step``: 200 shared spike trains (10 Hz) onto 100 LIF (tau_m 20 ms), p 0.05,
0.05 V (2.5 nA) each, 1 s, the same trains on both backends. Reported per dt: the fraction of
the float run's spikes with an emulated spike of the same neuron within one step, against
the float neuron with tau_m 20 ms and against the float neuron with the membrane time
constant the core's ``exp_TC`` implies (``-dt / ln(exp_TC / 2^15)``); and ``exp_TC`` itself:
the core's (``expk(-kdivk(ts, tau_m))``, spinn_common's routine), the s16.15 value nearest to
``exp(-dt / tau_m)``, and ``1 - exp_TC`` relative to the exact one.

    python benchmarks/spinnaker_feedforward.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np

TAU_M = 20e-3


def network(trains, tau_m: float, n_out: int = 100, p: float = 0.05, w: float = 0.05):
    from snn import LIF, FixedProbability, Network, SpikeSource

    net = Network()
    src = net.population(len(trains), SpikeSource(spike_steps=trains), name="src")
    out = net.population(n_out, LIF(tau_m=tau_m), name="P")
    net.connect(src, out, FixedProbability(p), weight=w)
    net.spike_monitor(out)
    return net


def within_one_step(ref, emu) -> float:
    """Fraction of ``ref``'s spikes with a spike of the same neuron in ``emu`` at most one
    step away."""
    matched = 0
    for i in range(ref.n):
        a, b = ref.steps[ref.indices == i], emu.steps[emu.indices == i]
        if a.size and b.size:
            matched += int(np.sum(np.abs(a[:, None] - b[None, :]).min(axis=1) <= 1))
    return matched / ref.count


def measure(dt: float) -> dict:
    from hardware.spinnaker.fixed import lif_exp_tc

    rng = np.random.default_rng(7)
    steps = int(round(1.0 / dt))
    trains = [np.flatnonzero(rng.random(steps) < 10.0 * dt).tolist() for _ in range(200)]
    emu = network(trains, TAU_M).run(1.0, dt=dt, seed=5, backend="spinnaker",
                                     machine="spinn3")["P_spikes"]
    chip = lif_exp_tc(TAU_M * 1e3, dt * 1e3)
    implied = -dt / math.log(chip / 32768)
    ref = network(trains, TAU_M).run(1.0, dt=dt, seed=5)["P_spikes"]
    ref_implied = network(trains, implied).run(1.0, dt=dt, seed=5)["P_spikes"]
    exact = math.exp(-dt / TAU_M)
    return {"dt_s": dt, "spikes_float": int(ref.count), "spikes_chip": int(emu.count),
            "within_one_step_tau_20ms": within_one_step(ref, emu),
            "within_one_step_tau_implied": within_one_step(ref_implied, emu),
            "tau_m_implied_s": implied, "exp_tc_chip": chip,
            "exp_tc_nearest_s1615": round(exact * 32768),
            "one_minus_exp_tc_relative": (1 - chip / 32768) / (1 - exact)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="write the figures to this file")
    a = ap.parse_args(argv)
    out = {f"{dt * 1e3:g}ms": measure(dt) for dt in (1e-3, 1e-4)}
    for name, r in out.items():
        print(f"dt {name}: {r['within_one_step_tau_20ms']:.3f} of the float spikes within one "
              f"step (tau_m 20 ms), {r['within_one_step_tau_implied']:.3f} against tau_m "
              f"{r['tau_m_implied_s'] * 1e3:.3f} ms; exp_TC {r['exp_tc_chip']} (nearest s16.15 "
              f"{r['exp_tc_nearest_s1615']}), 1 - exp_TC x{r['one_minus_exp_tc_relative']:.4f}; "
              f"spikes {r['spikes_chip']} vs {r['spikes_float']}")
    if a.json:
        tmp = a.json + ".tmp"
        Path(tmp).write_text(json.dumps(out, indent=1))
        os.replace(tmp, a.json)
    return out


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
