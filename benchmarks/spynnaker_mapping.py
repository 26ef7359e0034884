"""Our SpiNNaker mapping beside sPyNNaker's own, on the same networks.

For CUBA 4k (4000 IF_curr_exp, 80/20, p = 0.02), a 1,000-neuron feed-forward + recurrent net
(100 Poisson sources at 10 Hz -> 1000 LIF, p = 0.1, and 1000 -> 1000, p = 0.1) and a plastic
net (1000 Poisson sources -> 100 LIF, all-to-all, additive pair STDP; ``stdp1k``)
this builds the network once (seed 1, dt 1 ms), maps it with
``hardware.spinnaker.map_network(..., "spinn5")``, hands the *same synapses* to sPyNNaker
(``FromListConnector``) on a virtual SpiNN-5 board (``benchmarks/spynnaker_virtual_board.py``,
run by the sPyNNaker interpreter) and compares:

- cores and neurons per core (slices);
- keys and masks of every core;
- router entries per chip before compression (ours: one per tree hop that is not
  straight through, consecutive cores merged as PACMAN's generator; sPyNNaker: its generated
  table, defaultable entries counted apart) and after compressing as far as possible
  (ours: order-aware pair merging; sPyNNaker: its ``PairCompressor``);
- ring-buffer left shifts per synapse type (the library's rule,
  :func:`hardware.spinnaker.synapses.ring_buffer_shifts`, on the built synapses in nA; for
  constant delays the sum over projections of spikes per tick x largest weight x largest
  fan-in, r = ceil(log2), +1 on exact powers of 2; and those the ``spinnaker`` backend chose,
  ``sim.weight_shifts``);
- SDRAM per core, region by region (the data specifications' reserved sizes);
- wall time: our ``map_network`` against the whole sPyNNaker process (start-up, mapping,
  data specification and reports on the virtual board), as a ratio.

Weights: our LIF weights are volts added to ``R·I``; sPyNNaker's IF_curr_exp takes nA, so
``w_nA = |w_V| / R`` with ``R = tau_m / cm`` and cm = 1 nF (PyNN's default), inhibitory
weights go positive onto the ``inhibitory`` receptor.

    SYNAPTICA_SPYNNAKER_PYTHON=/work/venvs/spynnaker/bin/python \\
        .venv/bin/python benchmarks/spynnaker_mapping.py --out spynnaker_mapping.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DT = 1e-3
CM_NF = 1.0
DEFAULT_PYTHON = "/work/venvs/spynnaker/bin/python"
RUNNER = Path(__file__).with_name("spynnaker_virtual_board.py")


def cuba4k():
    from snn.bench.cuba import cuba_network

    return cuba_network(4000)


def cuba64k():
    from snn.bench.cuba import cuba_network

    return cuba_network(64000)


def ffrec1k():
    from snn import LIF, FixedProbability, Network, PoissonSource

    net = Network()
    src = net.population(100, PoissonSource(rate=10.0), name="src")
    pop = net.population(1000, LIF(tau_m=20e-3, tau_ref=1e-3), name="P")
    net.connect(src, pop, FixedProbability(0.1), weight=10e-3, synapse="exc", name="ff")
    net.connect(pop, pop, FixedProbability(0.1), weight=0.5e-3, synapse="exc", name="rec")
    net.spike_monitor(pop, name="spikes")
    return net


def stdp1k():
    import plasticity
    from snn import LIF, AllToAll, Network, PoissonSource

    net = Network()
    src = net.population(1000, PoissonSource(rate=10.0), name="src")
    pop = net.population(100, LIF(tau_m=20e-3, tau_ref=1e-3), name="P")
    w = 0.2e-3
    net.connect(src, pop, AllToAll(), weight=w, synapse="exc", name="plastic",
                plasticity=plasticity.PairSTDP(a_plus=0.01 * w, a_minus=0.0105 * w, w_min=0.0,
                                               w_max=2 * w))
    net.spike_monitor(pop, name="spikes")
    return net


def delays1k():
    """Long delays: 200 Poisson sources -> 600 LIF (p 0.1, delays 1-60 ms) and 600 -> 600
    (p 0.05, delays 1-100 ms). A 256-neuron core holds 32 delay slots, so both projections
    need delay-extension cores (1 and 3 stages)."""
    from snn import LIF, FixedProbability, Network, PoissonSource, UniformInt

    net = Network()
    src = net.population(200, PoissonSource(rate=10.0), name="src")
    pop = net.population(600, LIF(tau_m=20e-3, tau_ref=1e-3), name="P")
    net.connect(src, pop, FixedProbability(0.1), weight=10e-3, synapse="exc", name="ff",
                delay=UniformInt(1, 60))
    net.connect(pop, pop, FixedProbability(0.05), weight=0.5e-3, synapse="exc", name="rec",
                delay=UniformInt(1, 100))
    net.spike_monitor(pop, name="spikes")
    return net


def songabbott():
    """Song, Miller & Abbott's experiment as ``benchmarks/spinnaker_song_abbott.py`` runs it
    (1000 Poisson sources onto one current-based LIF through pair STDP): sPyNNaker's own
    ring-buffer shift for a plastic projection beside ours."""
    from snn.bench.stdp import song_abbott_network

    return song_abbott_network(0, membrane="example")


NETWORKS = {"cuba4k": cuba4k, "ffrec1k": ffrec1k, "stdp1k": stdp1k, "cuba64k": cuba64k,
            "delays1k": delays1k, "songabbott": songabbott}
#: Networks handed to sPyNNaker as FixedProbabilityConnector (it samples and expands the
#: synapses itself): listing 5.1 million synapses takes sPyNNaker more than half an hour.
PROBABILISTIC = {"cuba64k"}


def _scalar(value) -> float:
    arr = np.asarray(value, dtype=float)
    if arr.size != 1 and not np.all(arr == arr.flat[0]):
        raise ValueError("the comparison needs one value per parameter for every population")
    return float(arr.flat[0])


def weight_to_na(weights: np.ndarray, model) -> np.ndarray:
    """|w| in volts of R·I -> nA of IF_curr_exp (R = tau_m / cm)."""
    r_mohm = _scalar(model.tau_m) * 1e3 / CM_NF
    return np.abs(np.asarray(weights, dtype=float)) * 1e3 / r_mohm


def pynn_params(model) -> dict:
    """IF_curr_exp parameters (mV, ms, nA, nF) of one of our LIF models."""
    return {"cm": CM_NF, "tau_m": _scalar(model.tau_m) * 1e3,
            "v_rest": _scalar(model.v_rest) * 1e3, "v_reset": _scalar(model.v_reset) * 1e3,
            "v_thresh": _scalar(model.v_thresh) * 1e3, "tau_refrac": _scalar(model.tau_ref) * 1e3,
            "tau_syn_E": _scalar(model.tau_syn_exc) * 1e3,
            "tau_syn_I": _scalar(model.tau_syn_inh) * 1e3,
            "i_offset": _scalar(model.i_bias) * 1e3 / (_scalar(model.tau_m) * 1e3 / CM_NF)}


def _view_range(side) -> list[int]:
    idx = np.asarray(side.indices)
    if idx.size == 0 or not np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
        raise ValueError("the probability export needs contiguous population views")
    return [int(idx[0]), int(idx[0] + idx.size)]


def export_npz(built, path: str, network=None) -> None:
    """The built network as sPyNNaker's runner reads it: every synapse listed, or with
    ``network`` (the :class:`snn.Network` it was built from) each projection as a
    ``FixedProbabilityConnector`` between the same population views, so sPyNNaker samples
    its own synapses and generates them on chip (fast for large networks; rows and shifts then
    follow its statistical bounds, not our sample)."""
    from snn.connect import FixedProbability
    from snn.models import PoissonSource

    pops, arrays = [], {}
    for p in built.populations:
        if isinstance(p.model, PoissonSource):
            pops.append({"name": p.name, "n": p.n, "kind": "poisson",
                         "rate": _scalar(p.model.rate)})
        else:
            pops.append({"name": p.name, "n": p.n, "kind": "lif", "params": pynn_params(p.model)})
    projs = []
    for j, pr in enumerate(built.projections):
        pre = np.repeat(np.arange(len(pr.indptr) - 1), np.diff(pr.indptr))
        post_model = built.populations[pr.post].model
        d = pr.delays if pr.delays is not None else np.full(pre.size, pr.delay)
        entry = {"name": pr.name, "pre": pr.pre, "post": pr.post,
                 "receptor": "excitatory" if pr.synapse == "exc" else "inhibitory"}
        if network is None:
            arrays[f"pre{j}"] = pre
            arrays[f"post{j}"] = pr.indices
            arrays[f"w{j}"] = weight_to_na(pr.synapse_weights(), post_model)
            arrays[f"d{j}"] = d * DT * 1e3
        else:
            proj = network.projections[j]
            if not isinstance(proj.connector, FixedProbability) or not pr.homogeneous \
                    or pr.delays is not None:
                raise ValueError(f"projection {pr.name!r}: the probability export needs "
                                 "FixedProbability with one weight and one delay")
            entry.update(probability=proj.connector.p, pre_range=_view_range(proj.pre),
                         post_range=_view_range(proj.post),
                         weight=float(weight_to_na(pr.weights[0], post_model)),
                         delay=pr.delay * DT * 1e3,
                         autapses=proj.connector.allow_autapses)
        if pr.plasticity:
            (rule,) = pr.plasticity
            w_max = float(weight_to_na(rule.w_max, post_model))
            entry["stdp"] = {"tau_plus": rule.tau_plus * 1e3, "tau_minus": rule.tau_minus * 1e3,
                             "A_plus": rule.a_plus / rule.w_max, "A_minus": rule.a_minus / rule.w_max,
                             "w_min": float(weight_to_na(rule.w_min, post_model)), "w_max": w_max}
        projs.append(entry)
    meta = {"dt_ms": DT * 1e3, "run_ms": 10.0, "populations": pops, "projections": projs}
    np.savez(path, meta=json.dumps(meta), **arrays)


def ring_buffer_shifts(built, post: int, poisson_ppf: bool = False) -> list[int]:
    """Left shift per synapse type (exc, inh) of population ``post``: the library's rule
    (:func:`hardware.spinnaker.synapses.ring_buffer_shifts`, sPyNNaker 1!7.4.1's
    ``get_ring_buffer_shifts``) on nA weights; ``poisson_ppf=True`` bounds a Poisson
    source's spikes per tick by its quantile, as sPyNNaker means to but does not."""
    from hardware.spinnaker.synapses import ring_buffer_shifts as rule

    pop = built.populations[post]
    scale = weight_to_na(np.ones(pop.n), pop.model)
    return list(rule(built, post, scale, DT, poisson_quantile=poisson_ppf))


REGIONS = {  # sPyNNaker's region label -> ours
    "SynBlocks": "synaptic_matrix", "PopTable": "master_pop_table",
    "neuron_params": "neuron_params", "initial_values": "initial_values",
    "Neuron Core Params": "neuron_core_params", "neuron recording": "recording_setup",
    "SynapseParams": "synapse_params", "bit_field region": "bit_field",
    "synapseDynamicsParams": "stdp_params",
}
FIXED_LABELS = ("System", "Provenance", "profilerRegion", "Recording", "CurrentSourceParams",
                "neuron_builder", "ConnectorBuilderRegion")


DELAY_REGIONS = {"Provenance": "provenance"}   # a delay-extension core's region labels


def _name(v) -> str:
    """A core's name in the comparison: ``population:start``, a delay-extension core's
    ``population_delayed:start`` (sPyNNaker's label of the delay vertex)."""
    return f"{v.population}{'_delayed' if v.is_delay else ''}:{v.start}"


def _figures(mapping) -> dict:
    before = mapping.router_entries(compressed=False)
    after = mapping.router_entries(compressed=True)
    return {"cores": [[_name(v), v.stop, v.x, v.y, v.p] for v in mapping.vertices],
            "before": {f"{x},{y}": n for (x, y), n in before.items()},
            "after": {f"{x},{y}": n for (x, y), n in after.items()},
            "total_before": sum(before.values()), "total_after": sum(after.values())}


def compare(name: str, python: str, seed: int = 1, reports: str | None = None) -> dict:
    """Map network ``name`` here and in sPyNNaker (interpreter ``python``) and compare; keep
    sPyNNaker's reports under ``reports`` (default: removed)."""
    from hardware.spinnaker import map_network
    from hardware.spinnaker.machine import Machine

    built = NETWORKS[name]().instantiate(DT, seed)
    with tempfile.TemporaryDirectory() as tmp:
        npz, out = os.path.join(tmp, "net.npz"), os.path.join(tmp, "out.json")
        export_npz(built, npz, NETWORKS[name]() if name in PROBABILISTIC else None)
        t0 = time.perf_counter()
        work = os.path.join(reports, name) if reports else tmp
        proc = subprocess.run([python, str(RUNNER), npz, out, work], capture_output=True,
                              text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError("sPyNNaker run failed:\n" + "\n".join(
                (proc.stderr or proc.stdout).strip().splitlines()[-8:]))
        spy = json.loads(Path(out).read_text())
        spy_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours = map_network(built, Machine.spinn5())
    ours_s = time.perf_counter() - t0
    # the same machine as sPyNNaker sees it: every core but the monitor, system cores taken
    like = map_network(built, Machine.spinn5().with_spare_cores(0).with_failed(
        cores=[tuple(c) for c in spy["system_cores"]]))
    slices_ours = sorted((v.population, v.start, v.stop) for v in ours.vertices
                         if not v.is_delay)
    slices_spy = sorted((c["population"], c["start"], c["stop"]) for c in spy["cores"])
    places_like = sorted((v.population, v.start, v.x, v.y, v.p) for v in like.vertices
                         if not v.is_delay)
    places_spy = sorted((c["population"], c["start"], c["x"], c["y"], c["p"])
                        for c in spy["cores"])
    delay_like = sorted([v.population, v.start, v.stop, v.x, v.y, v.p, v.key, v.delay_stages,
                         v.delay_per_stage] for v in like.vertices if v.is_delay)
    delay_spy = sorted([c["source"], c["start"], c["stop"], c["x"], c["y"], c["p"], c["key"],
                        c["stages"], c["delay_per_stage"]] for c in spy.get("delay_cores", []))
    keys_ours = {_name(v): [v.key, v.mask] for v in ours.vertices if v.key is not None}
    key_diff = {k: {"ours": [hex(x) for x in keys_ours.get(k, [])],
                    "spynnaker": [hex(x) for x in spy["keys"].get(k, [])]}
                for k in sorted(set(keys_ours) | set(spy["keys"]))
                if keys_ours.get(k) != spy["keys"].get(k)}
    spy_before = {c: t["entries"] - t["defaultable"] for c, t in spy["tables"].items()}
    like_fig = _figures(like)
    shifts_ours = {p.name: ring_buffer_shifts(built, i) for i, p in enumerate(built.populations)
                   if not p.model.is_source}
    emulator = NETWORKS[name]().build(dt=DT, backend="spinnaker", seed=seed)
    shifts_backend = {p.name: list(emulator.weight_shifts(p.name)) for p in built.populations
                      if not p.model.is_source}
    regions = {}
    for core in like.resources.cores:
        key = _name(like.vertices[core.vertex])
        if core.kind == "delay" and key in spy["regions"]:
            theirs = {DELAY_REGIONS.get(lb, lb): b for lb, b in spy["regions"][key].items()}
            regions[key] = {r: {"ours": core.sdram.get(r), "spynnaker": theirs.get(r)}
                            for r in sorted(set(core.sdram) | set(theirs))}
            continue
        if key not in spy["regions"] or "SynBlocks" not in spy["regions"][key]:
            continue
        theirs = spy["regions"][key]
        row = {ours_name: {"ours": core.sdram.get(ours_name), "spynnaker": theirs.get(label)}
               for label, ours_name in REGIONS.items()}
        row["fixed_regions"] = {"ours": core.sdram.get("fixed_regions"),
                                "spynnaker": sum(theirs.get(lb, 0) for lb in FIXED_LABELS)}
        row["total_modelled"] = {"ours": core.sdram_bytes, "spynnaker": sum(
            theirs.get(lb, 0) for lb in (*REGIONS, *FIXED_LABELS))}
        row["spynnaker_not_modelled"] = {lb: b for lb, b in theirs.items()
                                         if lb not in REGIONS and lb not in FIXED_LABELS}
        regions[key] = row
    equal_regions = {k: all(v["ours"] == v["spynnaker"] for n, v in r.items()
                            if n not in ("spynnaker_not_modelled",))
                     for k, r in regions.items()}
    return {
        "network": name, "seed": seed, "dt_s": DT, "synapses": built.n_synapses,
        "spynnaker_version": spy["spynnaker_version"],
        "cores": {"ours": len(slices_ours), "spynnaker": len(slices_spy),
                  "slices_equal": slices_ours == slices_spy,
                  "neurons_per_core_ours": [s[2] - s[1] for s in slices_ours],
                  "neurons_per_core_spynnaker": [s[2] - s[1] for s in slices_spy],
                  "system_cores_spynnaker": spy["system_cores"],
                  "placement_equal_with_system_cores": places_like == places_spy,
                  "placement_ours_default": _figures(ours)["cores"],
                  "placement_spynnaker": places_spy},
        "delay_extension_cores": {
            "ours": delay_like, "spynnaker": delay_spy, "equal": delay_like == delay_spy,
            "fields": ["source", "start", "stop", "x", "y", "p", "key", "stages",
                       "delay_per_stage"]},
        "keys": {"equal": not key_diff, "n": len(keys_ours), "differences": key_diff,
                 "examples": {k: [hex(x) for x in v] for k, v in list(keys_ours.items())[:4]}},
        "router_entries": {
            "ours_default_machine": {k: v for k, v in _figures(ours).items() if k != "cores"},
            "ours_spynnaker_machine": {k: v for k, v in like_fig.items() if k != "cores"},
            "spynnaker_before": spy_before,
            "spynnaker_defaultable": {c: t["defaultable"] for c, t in spy["tables"].items()},
            "spynnaker_after": spy["compressed"],
            "total_spynnaker_before": sum(spy_before.values()),
            "total_spynnaker_after": sum(spy["compressed"].values()),
            "before_equal_per_chip": like_fig["before"] == spy_before,
            "after_equal_per_chip": like_fig["after"] == spy["compressed"],
        },
        "ring_buffer_shifts": {
            "ours": shifts_ours, "spynnaker": spy["shifts"], "equal": shifts_ours == spy["shifts"],
            "backend": shifts_backend, "backend_equal": shifts_backend == spy["shifts"],
            "ours_with_poisson_quantile": {
                p.name: ring_buffer_shifts(built, i, poisson_ppf=True)
                for i, p in enumerate(built.populations) if not p.model.is_source}},
        "sdram_regions": {"equal_per_core": equal_regions, "per_core": regions},
        "wall_s": {"ours_map_network": ours_s, "spynnaker_process": spy_s,
                   "ratio_spynnaker_over_ours": spy_s / ours_s},
        "report_dir": spy["report_dir"] if reports else None,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="+",
                    default=["cuba4k", "ffrec1k", "stdp1k", "delays1k", "songabbott"],
                    choices=list(NETWORKS),
                    help="networks to compare (cuba64k: 5.1M synapses, sPyNNaker takes minutes)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="spynnaker_mapping.json")
    ap.add_argument("--reports", metavar="DIR", help="keep sPyNNaker's reports under DIR")
    ap.add_argument("--python", default=os.environ.get("SYNAPTICA_SPYNNAKER_PYTHON",
                                                       DEFAULT_PYTHON),
                    help="interpreter with spynnaker and pyNN 0.13.0 installed")
    args = ap.parse_args(argv)
    results = {name: compare(name, args.python, args.seed, args.reports)
               for name in args.networks}
    tmp = args.out + ".tmp"
    Path(tmp).write_text(json.dumps(results, indent=1, default=list))
    os.replace(tmp, args.out)
    for name, r in results.items():
        re_ = r["router_entries"]
        print(f"{name}: cores {r['cores']['ours']} vs {r['cores']['spynnaker']} (slices equal "
              f"{r['cores']['slices_equal']}, placement equal with its system cores "
              f"{r['cores']['placement_equal_with_system_cores']}), delay-extension cores "
              f"{len(r['delay_extension_cores']['ours'])} vs "
              f"{len(r['delay_extension_cores']['spynnaker'])} (equal "
              f"{r['delay_extension_cores']['equal']}), keys equal "
              f"{r['keys']['equal']}, shifts {r['ring_buffer_shifts']['ours']} vs "
              f"{r['ring_buffer_shifts']['spynnaker']}, router entries before "
              f"{re_['ours_spynnaker_machine']['total_before']} vs "
              f"{re_['total_spynnaker_before']} (per chip equal {re_['before_equal_per_chip']}), "
              f"after {re_['ours_spynnaker_machine']['total_after']} vs "
              f"{re_['total_spynnaker_after']} (per chip equal {re_['after_equal_per_chip']}); "
              f"ours on the default machine {re_['ours_default_machine']['total_before']} -> "
              f"{re_['ours_default_machine']['total_after']}; SDRAM regions equal on "
              f"{sum(r['sdram_regions']['equal_per_core'].values())}/"
              f"{len(r['sdram_regions']['equal_per_core'])} cores; wall "
              f"{r['wall_s']['ours_map_network']:.2f} s vs {r['wall_s']['spynnaker_process']:.1f} s")
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
