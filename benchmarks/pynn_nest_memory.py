"""Where the memory of a CUBA run through the PyNN export on NEST goes, stage by stage.

    python benchmarks/pynn_nest_memory.py --neurons 64000 --threads 2

Builds CUBA (``snn.bench.cuba``, spikes of every ``--record-every``-th neuron recorded) and
reads this process's resident set size (Linux ``/proc/self/statm``) after each stage: the
export (``hardware.pynn.to_pynn``, the connection lists it holds), PyNN's ``setup``, the
populations, each projection's ``nest.Connect`` calls (as ``run.py`` makes them), and the first
step of ``sim.run`` (PyNN connects the recorded neurons to NEST's spike recorder, NEST
prepares and runs). Each stage's growth is given per neuron (populations), per synapse, and
for the first step per recorded neuron, with the peak (``ru_maxrss``). Prints JSON (``--out``
also writes it).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings

from hardware import pynn_script
from hardware.pynn import to_pynn
from snn.bench.cuba import DT, cuba_network
from snn.cli.common import write_json


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--neurons", type=int, default=64000)
    ap.add_argument("--threads", type=int, default=2, help="NEST threads")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--record-every", type=int, default=1, help="record every k-th neuron")
    ap.add_argument("--out", default=None, help="also write the JSON document here")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    stages = [("start", pynn_script.resident_gb(), 0.0)]

    def mark(name: str) -> None:
        stages.append((name, pynn_script.resident_gb(), time.perf_counter() - t0))

    net = cuba_network(a.neurons, record=False)
    net.spike_monitor(net.populations[0][::a.record_every], name="spikes")
    recorded = len(range(0, a.neurons, a.record_every))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        meta, arrays = to_pynn(net, 0.001, DT, a.seed, exact=False)
    del net
    synapses = sum(arrays[p["pre"]].size for p in meta["projections"])
    list_bytes = sum(arrays[k].nbytes for p in meta["projections"]
                     for k in (p["pre"], p["post"], p["weight"], p["delay"]))
    mark("export")
    export_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    import nest
    import pyNN.nest as sim

    sim.setup(timestep=meta["dt_ms"], min_delay=meta["min_delay_ms"], spike_precision="on_grid",
              threads=a.threads, verbosity="error", rng_seed=a.seed + 1)
    mark("pynn_setup")
    projections = meta["projections"]
    pops, _ = pynn_script.build(sim, {**meta, "projections": []}, arrays, "nest")
    mark("populations")
    for proj in projections:
        pynn_script._connect_nest(pops, proj, arrays)
        mark(f"connect_{proj['name']}")
    sim.run(meta["dt_ms"])  # PyNN connects its spike recorder, then NEST prepares and runs a step
    mark("first_step")

    sizes = {"populations": a.neurons}
    sizes.update({f"connect_{p['name']}": arrays[p["pre"]].size for p in projections})
    growth = {}
    for (_, before, _), (name, after, _) in zip(stages, stages[1:], strict=False):
        per = sizes.get(name, synapses)
        unit = "bytes_per_neuron" if name == "populations" else "bytes_per_synapse"
        growth[name] = {"gb": after - before, unit: (after - before) * 1e9 / per}
        if name == "first_step":
            growth[name]["bytes_per_recorded_neuron"] = (after - before) * 1e9 / recorded
    out = {"neurons": a.neurons, "synapses": synapses, "recorded_neurons": recorded,
           "threads": a.threads,
           "nest": nest.__version__, "export_list_bytes_per_synapse": list_bytes / synapses,
           "export_peak_gb": export_peak,
           "resident_gb": {name: gb for name, gb, _ in stages},
           "seconds": {name: s for name, _, s in stages}, "growth": growth,
           "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
    print(json.dumps(out, indent=1))
    if a.out:
        write_json(a.out, out)
    return out


if __name__ == "__main__":
    main()
