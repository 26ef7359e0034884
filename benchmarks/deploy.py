"""Deployment checks against the vendors' own toolchains (each in its own virtual environment).

    python benchmarks/deploy.py spynnaker            # CUBA 4k mapped by sPyNNaker, virtual board
    synaptica train bptt --readout lif --epochs 15 --batch 64 --out run     # digits, 64-128-10
    python benchmarks/deploy.py loihi --checkpoint run/bptt_digits.h5
    python benchmarks/deploy.py xylo --checkpoint run/bptt_digits.h5

``loihi`` / ``xylo``: the trained network's test-set accuracy three ways (float in our
layers, our own model of the chip's integers, the vendor's simulator: lava-nc's fixed-point
models in ``/work/venvs/lava``, xylosim through rockpool in ``/work/venvs/rockpool``) on the
same encoded input spikes, and the per-sample agreement of their predictions.

``spynnaker``: exports the CUBA network through ``synaptica export pynn`` (``exact=False``:
CUBA's one-step delays become the minimal delay) and runs the exported ``run.py`` with
``pyNN.spiNNaker`` in the sPyNNaker environment (``--python``, default
``/work/venvs/spynnaker/bin/python``), with a private ``HOME`` whose ``.spynnaker.cfg`` selects
a virtual SpiNN-5 board and Debug reports. sPyNNaker then maps the network completely
(partitioning, placement, keys, routing tables, SDRAM plans) and skips loading and running.
The figures come from its own reports: application cores (by vertex kind) and chips from
``json_files/placements.json``, router entries per chip from ``json_files/routing_tables.json``,
SDRAM per core from ``chip_sdram_usage_by_core.rpt``. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

SPYNNAKER_CFG = """[Machine]
virtual_board = True
version = 5

[Mode]
mode = Debug

[Reports]
write_network_graph = False
"""


def spynnaker_reports(run_dir: Path) -> dict:
    """Cores, router entries and SDRAM from sPyNNaker's reports folder ``run_dir``
    (``reports/<timestamp>/run_1``)."""
    placements = json.loads((run_dir / "json_files" / "placements.json").read_text())
    app = [p for p in placements if not p["vertex_label"].startswith("SYSTEM")]
    kinds = Counter(re.sub(r"[:(].*", "", p["vertex_label"]) for p in app)
    tables = json.loads((run_dir / "json_files" / "routing_tables.json").read_text())
    entries = {f"{t['x']},{t['y']}": len(t["entries"]) for t in tables}
    sdram = {}
    pattern = re.compile(r"SDRAM reqs for core \((\d+),(\d+),(\d+)\) is .*?\((\d+) bytes\) for "
                         r"Placement\(vertex=([^,]+),")
    for line in (run_dir / "chip_sdram_usage_by_core.rpt").read_text().splitlines():
        m = pattern.search(line)
        if m and not m.group(5).startswith("SYSTEM"):
            sdram[m.group(5)] = int(m.group(4))
    by_kind: dict[str, set] = {}
    for label, size in sdram.items():
        by_kind.setdefault(re.sub(r"[:(].*", "", label), set()).add(size)
    return {
        "application_cores": len(app), "cores_by_kind": dict(kinds),
        "chips_used": len({(p["x"], p["y"]) for p in app}),
        "system_cores": len(placements) - len(app),
        "router_entries_total": sum(entries.values()), "router_entries_max_per_chip":
            max(entries.values(), default=0), "router_entries_by_chip": entries,
        "sdram_bytes_total": sum(sdram.values()),
        "sdram_bytes_per_core_by_kind": {k: sorted(v) for k, v in by_kind.items()},
    }


def run_spynnaker(neurons: int, duration: float, seed: int, python: str, workdir: Path) -> dict:
    """Export CUBA with ``neurons`` neurons and map it with sPyNNaker (virtual board)."""
    from hardware.pynn import export_pynn
    from snn.bench.cuba import DT, cuba_network

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        script = export_pynn(cuba_network(neurons), workdir / "cuba", duration=duration, dt=DT,
                             seed=seed, exact=False)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    (home / ".spynnaker.cfg").write_text(SPYNNAKER_CFG)
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(script), "--simulator", "spiNNaker", "--no-record"],
                          cwd=script.parent, capture_output=True, text=True,
                          env={**os.environ, "HOME": str(home)})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"sPyNNaker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    runs = sorted((script.parent / "reports").glob("*/run_1"))
    if not runs:
        raise RuntimeError(f"sPyNNaker wrote no reports under {script.parent / 'reports'}")
    info = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    return {"target": "spinnaker (sPyNNaker, virtual SpiNN-5 board)", "neurons": neurons,
            "synapses_exported": _synapses(script.parent / "network.npz"),
            "wall_s": wall, "mapping_s": info["run_s"], **spynnaker_reports(runs[-1])}


def _synapses(path: Path) -> int:
    from hardware import pynn_script

    meta, arrays = pynn_script.load(str(path))
    return int(sum(arrays[p["pre"]].size for p in meta["projections"]))


def _bptt_digits(checkpoint: str, arch: str, seed: int):
    """The trained BPTT network of ``checkpoint``, its test set's encoded spikes (steps,
    samples, inputs; the encoder seeded as BPTT.evaluate seeds it) and labels."""
    import torch

    from rules.bptt import BPTT
    from snn.cli.common import load_split

    sizes = [int(s) for s in arch.split("-")]
    rule = BPTT.build(sizes, readout="lif")
    rule.load(checkpoint)
    _, test = load_split("digits", None, seed)
    x, y = rule._inputs(test)
    gen = torch.Generator().manual_seed(rule.config.seed + 7)
    spikes = rule._encode(x, gen)
    return rule, spikes, y.numpy()


def run_loihi(checkpoint: str, arch: str, seed: int, python: str, workdir: Path) -> dict:
    """Digits accuracy of a BPTT network three ways: float (our layers), our model of
    Loihi's fixed point, lava-nc's fixed-point models; and per-sample agreement."""
    import numpy as np
    import torch

    from hardware.targets import loihi

    rule, spikes, labels = _bptt_digits(checkpoint, arch, seed)
    with torch.no_grad():
        float_counts = rule.net(spikes).sum(0).numpy()
    layers = loihi.quantize(rule.net)
    net_path = loihi.write_netx(layers, workdir / "digits_netx.h5")
    steps, samples = spikes.shape[0], spikes.shape[1]
    depth = len(layers)
    interval = steps + depth + 1
    stream = np.zeros((samples * interval + depth, spikes.shape[2]), dtype=bool)
    for k in range(samples):
        stream[k * interval:k * interval + steps] = spikes[:, k].numpy() > 0
    t0 = time.perf_counter()
    ours = loihi.simulate(layers, stream, interval)
    ours_s = time.perf_counter() - t0
    np.savez(workdir / "inputs.npz", spikes=stream, reset_interval=interval)
    script = Path(loihi.__file__).with_name("lava_run.py")
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(script), str(net_path), str(workdir / "inputs.npz"),
                           str(workdir / "outputs.npz")], capture_output=True, text=True)
    lava_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"lava-nc failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    with np.load(workdir / "outputs.npz") as fh:
        theirs = fh["spikes"]

    def counts(raster):
        rows = np.arange(1, samples * interval + 1)
        return np.add.reduceat(raster[1:samples * interval + 1].astype(np.int64),
                               rows[::interval] - 1, axis=0)

    preds = {"float": float_counts.argmax(1), "fixed_point_ours": counts(ours).argmax(1),
             "lava_nc_fixed_pt": counts(theirs).argmax(1)}
    names = list(preds)
    return {
        "target": "loihi2 (lava-dl netx, lava-nc 0.10.0 fixed_pt)", "samples": samples,
        "steps": steps, "checkpoint": str(checkpoint),
        "accuracy": {k: float(np.mean(v == labels)) for k, v in preds.items()},
        "agreement": {f"{a}|{b}": float(np.mean(preds[a] == preds[b]))
                      for i, a in enumerate(names) for b in names[i + 1:]},
        "identical_output_spikes_ours_vs_lava": bool(np.array_equal(ours, theirs)),
        "output_spikes": {"ours": int(ours.sum()), "lava": int(theirs.sum())},
        "layers": [{"shape": list(layer.weight.shape), "weight_range":
                    [int(layer.weight.min()), int(layer.weight.max())],
                    "bias_range": [int(layer.bias.min()), int(layer.bias.max())],
                    "vThMant": layer.v_th_mant, "iDecay": layer.i_decay,
                    "vDecay": layer.v_decay, "scale": layer.scale} for layer in layers],
        "wall_s": {"fixed_point_ours": ours_s, "lava_nc": lava_s},
    }


def run_xylo(checkpoint: str, arch: str, seed: int, python: str, workdir: Path) -> dict:
    """Digits accuracy of a BPTT network three ways: float (our layers), our model of
    Xylo's integer neurons, xylosim (rockpool's XyloSim); and per-sample agreement."""
    import numpy as np
    import torch

    from hardware.targets import xylo

    rule, spikes, labels = _bptt_digits(checkpoint, arch, seed)
    with torch.no_grad():
        float_counts = rule.net(spikes).sum(0).numpy()
    spec = xylo.quantize(rule.net)
    spec_path = xylo.save_spec(spec, workdir / "digits_xylo_spec.npz")
    x = spikes.numpy().transpose(1, 0, 2) > 0                  # samples, steps, inputs
    x = np.concatenate([x, np.zeros((x.shape[0], 1, x.shape[2]), bool)], axis=1)  # 1-step lag
    t0 = time.perf_counter()
    ours = np.stack([xylo.simulate(spec, sample) for sample in x])
    ours_s = time.perf_counter() - t0
    np.savez(workdir / "xylo_inputs.npz", spikes=x)
    script = Path(xylo.__file__).with_name("xylo_run.py")
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(script), str(spec_path), str(workdir / "xylo_inputs.npz"),
                           str(workdir / "xylo_outputs.npz")], capture_output=True, text=True)
    sim_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"xylosim failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    with np.load(workdir / "xylo_outputs.npz") as fh:
        theirs = fh["spikes"]
    preds = {"float": float_counts.argmax(1), "fixed_point_ours": ours.sum(1).argmax(1),
             "xylosim": theirs.sum(1).argmax(1)}
    names = list(preds)
    return {
        "target": "xylo audio 3 (SYNS65302; rockpool 3.1.0 XyloSim, xylosim 0.1.3)",
        "samples": int(x.shape[0]), "steps": int(spikes.shape[0]), "checkpoint": str(checkpoint),
        "accuracy": {k: float(np.mean(v == labels)) for k, v in preds.items()},
        "agreement": {f"{a}|{b}": float(np.mean(preds[a] == preds[b]))
                      for i, a in enumerate(names) for b in names[i + 1:]},
        "identical_output_spikes_ours_vs_xylosim": bool(np.array_equal(ours, theirs)),
        "output_spikes": {"ours": int(ours.sum()), "xylosim": int(theirs.sum())},
        "spec": {"dash_mem": int(spec.dash_mem[0]), "dash_syn": int(spec.dash_syn[0]),
                 "threshold": int(spec.threshold[0]), "threshold_out": int(spec.threshold_out[0]),
                 "weight_shift_in": spec.weight_shift_in, "weight_shift_out": spec.weight_shift_out,
                 "weights_in_range": [int(spec.weights_in.min()), int(spec.weights_in.max())],
                 "weights_out_range": [int(spec.weights_out.min()), int(spec.weights_out.max())]},
        "wall_s": {"fixed_point_ours": ours_s, "xylosim": sim_s},
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="target", required=True)
    sp = sub.add_parser("spynnaker", help="CUBA mapped by sPyNNaker on a virtual board")
    sp.add_argument("--neurons", type=int, default=4000)
    sp.add_argument("--duration", type=float, default=1.0, help="s (sets recording SDRAM)")
    sp.add_argument("--seed", type=int, default=1)
    sp.add_argument("--python", default="/work/venvs/spynnaker/bin/python",
                    help="interpreter of the sPyNNaker environment")
    sp.add_argument("--keep", default=None, help="keep the export and reports in this folder")
    lo = sub.add_parser("loihi", help="BPTT digits net: float, our Loihi model, lava-nc")
    lo.add_argument("--checkpoint", required=True,
                    help="from `synaptica train bptt --readout lif` (digits)")
    lo.add_argument("--arch", default="64-128-10")
    lo.add_argument("--seed", type=int, default=0, help="the training run's split seed")
    lo.add_argument("--python", default="/work/venvs/lava/bin/python",
                    help="interpreter with lava-nc 0.10.0 and lava-dl (Python 3.10)")
    lo.add_argument("--keep", default=None, help="keep the netx file and spikes in this folder")
    xy = sub.add_parser("xylo", help="BPTT digits net: float, our Xylo model, xylosim")
    xy.add_argument("--checkpoint", required=True,
                    help="from `synaptica train bptt --readout lif` (digits)")
    xy.add_argument("--arch", default="64-128-10")
    xy.add_argument("--seed", type=int, default=0, help="the training run's split seed")
    xy.add_argument("--python", default="/work/venvs/rockpool/bin/python",
                    help="interpreter with rockpool 3.1.0, xylosim, bitstruct, packaging")
    xy.add_argument("--keep", default=None, help="keep the specification and spikes here")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="synaptica-deploy-") as tmp:
        workdir = Path(a.keep) if a.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if a.target == "spynnaker":
            out = run_spynnaker(a.neurons, a.duration, a.seed, a.python, workdir)
        elif a.target == "loihi":
            out = run_loihi(a.checkpoint, a.arch, a.seed, a.python, workdir)
        else:
            out = run_xylo(a.checkpoint, a.arch, a.seed, a.python, workdir)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
