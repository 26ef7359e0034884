"""Deployment checks against the vendors' own toolchains (each in its own virtual environment).

    python benchmarks/deploy.py spynnaker            # CUBA 4k mapped by sPyNNaker, virtual board

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
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="synaptica-deploy-") as tmp:
        workdir = Path(a.keep) if a.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        out = run_spynnaker(a.neurons, a.duration, a.seed, a.python, workdir)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
