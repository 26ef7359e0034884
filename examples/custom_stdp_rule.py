"""A user-written STDP rule on the engine, without touching the engine.

The rule is the power-law variant that Diehl & Cook (2015) compare with their main rule: on
each postsynaptic spike ``dw = eta (x - x_tar) (w_max - w) ** mu``, where ``x`` is the
presynaptic trace (set to 1 at each presynaptic spike) and ``x_tar`` the target trace value
(inputs that did not fire recently are depressed). Nothing happens on a presynaptic spike.

The script defines the rule as a :class:`plasticity.TraceRule` subclass, runs 200 Poisson
inputs into 20 LIF neurons for 2 s (inputs 0-99 fire at 30 Hz, 100-199 at 5 Hz), checks
the event-driven result against the per-step NumPy reference, and prints how the weights of
the two input groups moved, and what a fixed-point target would need. Runs in seconds:

    python examples/custom_stdp_rule.py
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import plasticity as pl
import snn
from plasticity.reference import reference_weights


@dataclass(frozen=True, eq=False)
class PowerLawSTDP(pl.TraceRule):
    """``dw = eta (x - x_tar) (w_max - w) ** mu`` on post spikes; hard bounds [w_min, w_max]."""

    eta: float = 0.01
    x_tar: float = 0.4
    mu: float = 0.2
    tau_pre: float = 20e-3

    on_pre = "0.0"
    on_post = "eta * (x - x_tar) * (w_max - w) ** mu"

    def pre_traces(self) -> dict[str, pl.Trace]:
        return {"x": pl.Trace(self.tau_pre, mode="set")}


def main() -> None:
    dt, duration = 1e-4, 2.0
    rule = PowerLawSTDP(eta=2e-3, w_min=0.0, w_max=3e-3)
    net = snn.Network()
    rates = np.r_[np.full(100, 30.0), np.full(100, 5.0)]
    inputs = net.population(200, snn.PoissonSource(rate=rates), name="inputs")
    out = net.population(20, snn.LIF(tau_m=20e-3, v_rest=-65e-3, v_thresh=-52e-3, v_reset=-65e-3,
                                     tau_ref=2e-3), name="out")
    net.connect(inputs, out, snn.AllToAll(), weight=snn.Uniform(0.5e-3, 1.3e-3), plasticity=rule,
                name="ff")
    net.spike_monitor(inputs, name="in_spikes")
    net.spike_monitor(out, name="out_spikes")

    sim = net.build(dt=dt, seed=3)
    w0 = sim.weights("ff").copy()
    res = sim.run(duration)
    w = sim.weights("ff")

    proj = sim.built.projections[0]
    pre = np.repeat(np.arange(200), np.diff(proj.indptr))
    steps = int(round(duration / dt))

    def trains(rec, n):
        return [rec.steps[rec.indices == i] for i in range(n)]

    want = reference_weights(rule, pre, proj.indices, w0, trains(res["in_spikes"], 200),
                             trains(res["out_spikes"], 20), steps, dt)
    print(f"output rate {res['out_spikes'].rate(duration):.1f} Hz, "
          f"max |event-driven - per-step reference| = {np.abs(w - want).max():.2e}")
    for label, sel in (("30 Hz inputs", pre < 100), ("5 Hz inputs", pre >= 100)):
        print(f"{label}: mean weight {1e3 * w0[sel].mean():.3f} mV -> {1e3 * w[sel].mean():.3f} mV")
    spec = rule.hardware_spec(1e-3)
    lut = spec["pre_traces"]["x"]["lut_s4_11"]
    print(f"fixed point (dt = 1 ms): trace LUT of {lut.size} s4.11 entries {lut[:4].tolist()}..., "
          f"on_post = {spec['on_post']!r}")


if __name__ == "__main__":
    main()
