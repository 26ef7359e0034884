"""Run sPyNNaker's own mapping of a network on a virtual SpiNN-5 board and print its figures.

Runs under the sPyNNaker interpreter only (``pip install spynnaker pyNN==0.13.0`` in its own
venv; it does not import synaptica). ``benchmarks/spynnaker_mapping.py`` writes the network
as an ``.npz`` (populations and every synapse), calls this script and compares the output
with ``hardware.spinnaker.map_network``.

    python spynnaker_virtual_board.py NETWORK.npz OUT.json [WORKDIR]

The network is rebuilt with ``FromListConnector`` (the very synapses of our build), or for
large networks with ``FixedProbabilityConnector`` between the same population views; time
step 1 ms, and run for 10 ms with ``virtual_board = True``, ``mode = Debug`` and
``router_table_compress_as_far_as_possible = True`` in a private ``HOME`` (so the user's
``~/.spynnaker.cfg`` is neither needed nor touched). Reported: placements (slices, cores),
keys and masks (``virtual_key_space_information_report.rpt``), router tables per chip
before (``json_files/routing_tables.json``) and after compression (sPyNNaker's
``PairCompressor``, ``compressed_routing_tables_generated``), SDRAM per core
(``chip_sdram_usage_by_core.rpt``), the ring-buffer left shifts
(``PopulationVertex.get_ring_buffer_shifts``) and the delay-extension cores (source slice,
place, key, stages and stage length, read from their data specifications).
"""

import glob
import json
import os
import re
import sys
import tempfile

import numpy as np

CFG = """[Machine]
virtual_board = True
version = 5

[Mode]
mode = Debug

[Reports]
write_network_graph = False

[Mapping]
router_table_compress_as_far_as_possible = True
"""


def main(npz_path: str, out_path: str, workdir: str | None = None) -> None:
    """Map the network of ``npz_path`` and write the figures to ``out_path``; sPyNNaker's
    reports stay under ``workdir`` (default: a new temporary directory)."""
    if workdir:
        os.makedirs(workdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="spynnaker_vb_", dir=workdir)
    os.environ["HOME"] = work
    with open(os.path.join(work, ".spynnaker.cfg"), "w") as f:
        f.write(CFG)
    os.chdir(work)
    data = np.load(npz_path, allow_pickle=False)
    meta = json.loads(str(data["meta"]))

    import pyNN.spiNNaker as sim

    sim.setup(timestep=meta["dt_ms"])
    pops = []
    for p in meta["populations"]:
        if p["kind"] == "poisson":
            cell = sim.SpikeSourcePoisson(rate=p["rate"])
        else:
            cell = sim.IF_curr_exp(**p["params"])
        pops.append(sim.Population(p["n"], cell, label=p["name"]))
        if p.get("neurons_per_core"):
            pops[-1].set_max_atoms_per_core(p["neurons_per_core"])
    for j, pr in enumerate(meta["projections"]):
        pre, post = pops[pr["pre"]], pops[pr["post"]]
        if "probability" in pr:
            lo, hi = pr["pre_range"]
            pre = pre if (lo, hi) == (0, pre.size) else pre[lo:hi]
            lo, hi = pr["post_range"]
            post = post if (lo, hi) == (0, post.size) else post[lo:hi]
            sim.Projection(pre, post, sim.FixedProbabilityConnector(
                pr["probability"], allow_self_connections=pr["autapses"]),
                sim.StaticSynapse(weight=pr["weight"], delay=pr["delay"]),
                receptor_type=pr["receptor"], label=pr["name"])
            continue
        conn = np.column_stack([data[f"pre{j}"], data[f"post{j}"], data[f"w{j}"],
                                data[f"d{j}"]]).astype(float)
        if "stdp" in pr:
            st = pr["stdp"]
            synapse = sim.STDPMechanism(
                timing_dependence=sim.SpikePairRule(tau_plus=st["tau_plus"],
                                                    tau_minus=st["tau_minus"],
                                                    A_plus=st["A_plus"], A_minus=st["A_minus"]),
                weight_dependence=sim.AdditiveWeightDependence(w_min=st["w_min"],
                                                               w_max=st["w_max"]))
        else:
            synapse = sim.StaticSynapse()
        sim.Projection(pre, post, sim.FromListConnector(conn),
                       synapse, receptor_type=pr["receptor"], label=pr["name"])
    sim.run(meta["run_ms"])
    shifts = {p.label: [int(s) for s in p._vertex.get_ring_buffer_shifts()]
              for p, m in zip(pops, meta["populations"], strict=True) if m["kind"] != "poisson"}
    sim.end()

    run = sorted(glob.glob(os.path.join(work, "reports", "*", "run_1")))[-1]
    out = {"spynnaker_version": _version(), "shifts": shifts}
    # placements: application cores only (system cores are listed separately)
    with open(os.path.join(run, "json_files", "placements.json")) as f:
        placements = json.load(f)
    labels = {p["name"] for p in meta["populations"]}
    cores, system, delay_places = [], [], []
    for pl in placements:
        m = re.match(r"(\w+)\((\d+):(\d+)\)$", pl["vertex_label"])
        if m and m.group(1) in labels:
            cores.append({"population": m.group(1), "start": int(m.group(2)),
                          "stop": int(m.group(3)) + 1, "x": pl["x"], "y": pl["y"], "p": pl["p"]})
        elif pl["vertex_label"].startswith("Delay extension for "):
            delay_places.append(pl)
        else:
            system.append(pl)
    out["cores"] = sorted(cores, key=lambda c: (c["population"], c["start"]))
    out["system_cores"] = sorted([s["x"], s["y"], s["p"]] for s in system)
    out["system_cores_on_used_chips"] = sum(
        1 for s in system if (s["x"], s["y"]) in {(c["x"], c["y"]) for c in cores})
    # keys and masks
    keys = {}
    app = None
    with open(os.path.join(run, "virtual_key_space_information_report.rpt")) as f:
        for line in f:
            m = re.match(r"Vertex: (\w+)", line)
            if m:
                app = m.group(1)
            m = re.search(r"Machine Vertex: (\w+)\((\d+):(\d+)\).*KeyAndMask:(0x[0-9a-f]+):"
                          r"(0x[0-9a-f]+)", line)
            if m:
                keys[f"{m.group(1)}:{m.group(2)}"] = [int(m.group(4), 16), int(m.group(5), 16)]
            m = re.search(r"Machine Vertex: Delay extension for .*Slice: \((\d+):\d+\).*"
                          r"KeyAndMask:(0x[0-9a-f]+):(0x[0-9a-f]+)", line)
            if m:   # app is "<source>_delayed"
                keys[f"{app}:{m.group(1)}"] = [int(m.group(2), 16), int(m.group(3), 16)]
    out["keys"] = keys
    # delay-extension cores: their source slice, stages and stage length from the delay
    # parameters each one's data specification writes (key, incoming key and mask, atoms,
    # stages, delay per stage)
    source_of_key = {tuple(km): name for name, km in keys.items()}
    delay_cores = []
    for pl in delay_places:
        path = os.path.join(run, "data_spec_text_files",
                            f"dataSpec_{pl['x']}_{pl['y']}_{pl['p']}.txt")
        with open(path) as f:
            text = f.read()
        words = [int(w) for w in re.findall(
            r"WRITE data=(\d+)", text.split("Writing Delay Parameters", 1)[1])]
        _has_key, key, in_key, in_mask, n_atoms, stages, per_stage = words[:7]
        source = source_of_key[(in_key, in_mask)]
        name, start = source.split(":")
        delay_cores.append({"source": name, "start": int(start),
                            "stop": int(start) + n_atoms, "x": pl["x"], "y": pl["y"],
                            "p": pl["p"], "key": key, "stages": stages,
                            "delay_per_stage": per_stage})
    out["delay_cores"] = sorted(delay_cores, key=lambda c: (c["source"], c["start"]))
    # router tables before compression (defaultable entries flagged)
    with open(os.path.join(run, "json_files", "routing_tables.json")) as f:
        tables = json.load(f)
    out["tables"] = {f"{t['x']},{t['y']}": {
        "entries": len(t["entries"]),
        "defaultable": sum(1 for e in t["entries"] if e.get("defaultable")),
        "keys": [[e["key"], e["mask"], e["spinnaker_route"]] for e in t["entries"]]}
        for t in tables}
    compressed = {}
    for path in glob.glob(os.path.join(run, "compressed_routing_tables_generated", "*.rpt")):
        m = re.search(r"routing_table_(\d+)_(\d+)\.rpt$", path)
        with open(path) as f:
            n = re.search(r"Router contains (\d+) entries", f.read())
        compressed[f"{m.group(1)},{m.group(2)}"] = int(n.group(1))
    out["compressed"] = compressed
    # SDRAM per core
    sdram = {}
    with open(os.path.join(run, "chip_sdram_usage_by_core.rpt")) as f:
        for line in f:
            m = re.search(r"core \((\d+),(\d+),(\d+)\) is .*\((\d+) bytes\) for "
                          r"Placement\(vertex=(\w+)\((\d+):(\d+)\)", line)
            if m and m.group(5) in labels:
                sdram[f"{m.group(5)}:{m.group(6)}"] = int(m.group(4))
    out["sdram"] = sdram
    # SDRAM regions of every application core (data specification text files)
    where = {(c["x"], c["y"], c["p"]): f"{c['population']}:{c['start']}" for c in cores}
    where.update({(c["x"], c["y"], c["p"]): f"{c['source']}_delayed:{c['start']}"
                  for c in delay_cores})
    regions = {}
    for (x, y, p), name in where.items():
        path = os.path.join(run, "data_spec_text_files", f"dataSpec_{x}_{y}_{p}.txt")
        with open(path) as f:
            regions[name] = {m.group(2): int(m.group(1)) for m in re.finditer(
                r"RESERVE memRegion=\d+ size=(\d+) label='([^']+)'", f.read())}
    out["regions"] = regions
    out["report_dir"] = run
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, out_path)


def _version() -> str:
    from importlib.metadata import version

    return version("sPyNNaker")


if __name__ == "__main__":
    main(*sys.argv[1:4])
