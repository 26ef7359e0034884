"""CUBA on the emulated SpiNNaker target beside the numba float engine, in one invocation.

Reports, for the same network and seed:

* dt 0.1 ms: rate and CV of ISIs, emulator vs numba (the issue asks for 3 % and 5 %);
* dt 1 ms: the same, plus a float engine that runs sPyNNaker's update order (inputs scaled by
  ``init``, current held over the step, ``V = alpha - exp_TC (alpha - V)``, ``V >= theta``,
  refractory ``ceil(tau_ref / dt)``): numba vs that isolates the update order, that vs the
  emulator isolates fixed point;
* speed: emulator vs numba wall time of the 1 s run at dt 0.1 ms (run side by side), the
  emulated real-time factor, and overruns / late spikes at time_scale_factor 1 and 10;
* resources and energy (J per simulated second and per synaptic event) for the network, and
  with ``--big N`` the mapping, a short run and energy for an N-neuron CUBA (e.g. 64000).

Run: ``python benchmarks/spinnaker_cuba.py [--neurons 4000] [--duration 1] [--big 64000]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time

import numpy as np

from snn import LIF
from snn.backends import implements
from snn.backends.constants import fire_constants
from snn.backends.numba_models import NumbaNeuron
from snn.bench.cuba import cuba_network


@dataclasses.dataclass(frozen=True, eq=False)
class OrderLIF(LIF):
    """:class:`snn.LIF` updated in sPyNNaker's order, in float64 (the benchmark's control)."""

    def refractory_steps(self, dt):
        return int(math.ceil(np.max(self.tau_ref) / dt - 1e-9))


@implements(OrderLIF, "numba")
class NumbaOrderLIF(NumbaNeuron):
    """IF_curr_exp's closed form with the current held over the step (inputs pre-scaled by
    ``init`` in the weights), threshold ``>=``, the refractory timer of sPyNNaker."""

    def constants(self, model, n, dt):
        return {"em": math.exp(-dt / model.tau_m), "de": math.exp(-dt / model.tau_syn_exc),
                "di": math.exp(-dt / model.tau_syn_inh), "v_rest": model.v_rest,
                **fire_constants(model, dt)}

    def body(self, model):
        return """
ie = $i_exc
ii = $i_inh
v0 = $v
r = $refractory_until
v = v0
if $k >= r:
    alpha = $v_rest + ie + ii
    v = alpha - $em * (alpha - v0)
spiked = ($k >= r) & (v >= $v_thresh)
if spiked:
    v = $v_reset
    r = $k + $n_ref + 1
$v = v
$refractory_until = r
$i_exc = ie * $de
$i_inh = ii * $di
"""


def _init(tau: float, dt: float) -> float:
    return tau / dt * (1.0 - math.exp(-dt / tau))


def order_network(neurons: int, dt: float):
    """CUBA with :class:`OrderLIF` and every weight multiplied by its synapse's ``init``."""
    net = cuba_network(neurons)
    pop = net.populations[0]
    pop.model = OrderLIF(**{f.name: getattr(pop.model, f.name)
                            for f in dataclasses.fields(LIF)})
    for proj in net.projections:
        tau = pop.model.tau_syn_exc if proj.synapse == "exc" else pop.model.tau_syn_inh
        proj.weight = proj.weight * _init(tau, dt)
    return net


def run(net, backend: str, dt: float, duration: float, seed: int, **options) -> dict:
    t0 = time.perf_counter()
    sim = net.build(dt=dt, backend=backend, seed=seed, **options)
    build = time.perf_counter() - t0
    res = sim.run(duration)
    rec = res["spikes"]
    out = {"backend": backend, "dt": dt, "rate_hz": rec.rate(duration), "cv_isi": rec.cv_isi(),
           "spikes": rec.count, "wall_s": res.timing["wall_s"], "build_s": build}
    if res.provenance:
        p = res.provenance
        out["provenance"] = {"totals": p["totals"], "realtime": p["realtime"],
                             "energy": p["energy"], "mapping": p["mapping"],
                             "weight_shifts": p["weight_shifts"]}
    return out


def rel(a: float, b: float) -> float:
    return (a - b) / b if b else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--big", type=int, default=0, help="also map and run an N-neuron CUBA")
    ap.add_argument("--big-duration", type=float, default=0.1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    n, T, s = a.neurons, a.duration, a.seed
    out: dict = {"neurons": n, "duration_s": T, "seed": s}

    # dt 0.1 ms, and the speed comparison (numba first to warm nothing of ours)
    num = run(cuba_network(n), "numba", 1e-4, T, s)
    emu = run(cuba_network(n), "spinnaker", 1e-4, T, s, time_scale_factor=1)
    emu10 = run(cuba_network(n), "spinnaker", 1e-4, T, s, time_scale_factor=10)
    # speed: the two built networks run alternately, best of three each (a shared host)
    sims = {"numba": cuba_network(n).build(dt=1e-4, backend="numba", seed=s),
            "spinnaker": cuba_network(n).build(dt=1e-4, backend="spinnaker", seed=s,
                                                 time_scale_factor=10)}
    walls = {k: [] for k in sims}
    for _ in range(3):
        for k, sim in sims.items():
            walls[k].append(sim.run(T).timing["wall_s"])
    best = {k: min(v) for k, v in walls.items()}
    # the rate / CV comparison is against time_scale_factor 10: at 1 the cores overrun
    # (256 LIF updates alone need more than the 20,000 cycles of a 0.1 ms tick)
    out["dt_0.1ms"] = {"numba": num, "spinnaker_tsf1": emu, "spinnaker_tsf10": emu10,
                       "rate_rel_diff": rel(emu10["rate_hz"], num["rate_hz"]),
                       "cv_rel_diff": rel(emu10["cv_isi"], num["cv_isi"]),
                       "rate_rel_diff_tsf1": rel(emu["rate_hz"], num["rate_hz"]),
                       "speed_walls_s": walls,
                       "wall_ratio_emulator_over_numba": best["spinnaker"] / best["numba"]}
    # dt 1 ms: numba, float in sPyNNaker's order, emulator
    num1 = run(cuba_network(n), "numba", 1e-3, T, s)
    order1 = run(order_network(n, 1e-3), "numba", 1e-3, T, s)
    emu1 = run(cuba_network(n), "spinnaker", 1e-3, T, s)
    out["dt_1ms"] = {"numba": num1, "float_spinnaker_order": order1, "spinnaker": emu1,
                     "rate_rel_diff_total": rel(emu1["rate_hz"], num1["rate_hz"]),
                     "rate_rel_diff_order": rel(order1["rate_hz"], num1["rate_hz"]),
                     "rate_rel_diff_fixed_point": rel(emu1["rate_hz"], order1["rate_hz"]),
                     "cv_rel_diff_total": rel(emu1["cv_isi"], num1["cv_isi"]),
                     "cv_rel_diff_order": rel(order1["cv_isi"], num1["cv_isi"]),
                     "cv_rel_diff_fixed_point": rel(emu1["cv_isi"], order1["cv_isi"])}
    order01 = run(order_network(n, 1e-4), "numba", 1e-4, T, s)
    out["dt_0.1ms"]["float_spinnaker_order"] = order01
    if a.big:
        from hardware.spinnaker.mapping import MappingError

        big = {"neurons": a.big}
        for machine in ("spinn5", "16x16"):
            try:
                big["run"] = run(cuba_network(a.big), "spinnaker", 1e-4, a.big_duration, s,
                                 machine=machine, time_scale_factor=10)
            except MappingError as err:
                big.setdefault("refused", {})[machine] = str(err)
                continue
            big["machine"] = machine
            break
        out["big"] = big
    text = json.dumps(out, indent=1, default=float)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(text)
    d01, d1 = out["dt_0.1ms"], out["dt_1ms"]
    print(f"CUBA {n}, {T} s, seed {s}")
    print(f"dt 0.1 ms: numba {num['rate_hz']:.3f} Hz CV {num['cv_isi']:.4f} | emulator tsf 10 "
          f"{emu10['rate_hz']:.3f} Hz CV {emu10['cv_isi']:.4f} (tsf 1: {emu['rate_hz']:.3f} Hz, "
          f"CV {emu['cv_isi']:.4f}) | float sPyNNaker order "
          f"{order01['rate_hz']:.3f} Hz CV {order01['cv_isi']:.4f}; rate {d01['rate_rel_diff']:+.2%},"
          f" CV {d01['cv_rel_diff']:+.2%}")
    print(f"dt 1 ms: numba {num1['rate_hz']:.3f} Hz CV {num1['cv_isi']:.4f} | float order "
          f"{order1['rate_hz']:.3f} Hz CV {order1['cv_isi']:.4f} | emulator {emu1['rate_hz']:.3f} "
          f"Hz CV {emu1['cv_isi']:.4f}; total {d1['rate_rel_diff_total']:+.2%} = order "
          f"{d1['rate_rel_diff_order']:+.2%} then fixed point {d1['rate_rel_diff_fixed_point']:+.2%}")
    print(f"speed (best of 3, alternating): emulator {best['spinnaker']:.3f} s vs numba "
          f"{best['numba']:.3f} s = {d01['wall_ratio_emulator_over_numba']:.2f}x; emulated "
          f"real-time factor {best['spinnaker'] / T:.2f} (emulator seconds per simulated second)")
    for label, e in (("tsf 1", emu), ("tsf 10", emu10)):
        t, r = e["provenance"]["totals"], e["provenance"]["realtime"]
        print(f"  {label}: overruns {t['timer_tick_overruns']} on {r['cores_with_overruns']} cores, "
              f"late spikes {t['late_spikes']}, skipped {t['skipped_synapses']}, max load "
              f"{r['max_core_load']:.2f}")
    en, mp = emu["provenance"]["energy"], emu["provenance"]["mapping"]
    print(f"resources: {mp['cores']} cores, {mp['chips']} chips, router entries "
          f"{mp['router_entries_before']} -> {mp['router_entries_after']}; energy "
          f"{en['J_per_simulated_s']:.3f} J/s, {en['J_per_synaptic_event'] * 1e9:.1f} nJ per "
          f"synaptic event (dynamic {en['dynamic_J_per_synaptic_event'] * 1e9:.2f} nJ)")
    if a.big:
        b = out["big"]["run"]
        en, mp = b["provenance"]["energy"], b["provenance"]["mapping"]
        print(f"CUBA {a.big} on {out['big']['machine']} (tsf 10, {a.big_duration} s): "
              f"{mp['cores']} cores, {mp['chips']} chips, router entries "
              f"{mp['router_entries_before']} -> {mp['router_entries_after']} (max "
              f"{mp['max_entries_per_chip_after']} per chip); rate {b['rate_hz']:.2f} Hz; "
              f"{en['J_per_simulated_s']:.2f} J/s, {en['J_per_synaptic_event'] * 1e9:.1f} nJ per "
              f"synaptic event (dynamic {en['dynamic_J_per_synaptic_event'] * 1e9:.2f} nJ)")


if __name__ == "__main__":
    main()
