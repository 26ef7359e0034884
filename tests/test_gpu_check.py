"""benchmarks/gpu_check.sh in its CPU dry run: every stage runs and lands in one JSON file."""

import importlib.util
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_dry_run_on_cpu(tmp_path):
    out = tmp_path / "check.json"
    subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu", "--out", str(out)],
                   check=True, timeout=300)
    report = json.loads(out.read_text())
    assert report["mode"] == "cpu" and list(report["stages"]) == ["cuba", "bptt_step", "bench_rules"]
    assert not any("error" in stage for stage in report["stages"].values())
    cuba = {r["backend"]: r for r in report["stages"]["cuba"]["rows"]}  # numba: all threads
    assert cuba["torch"]["rate_hz"] > 0 and cuba["numba"]["wall_s_per_simulated_s"] > 0
    bptt = report["stages"]["bptt_step"]["rows"][0]
    assert bptt["time_per_step_s"] > 0
    assert ("snntorch" in bptt) == (importlib.util.find_spec("snntorch") is not None)
    rows = {r["rule"] for r in report["stages"]["bench_rules"]["rows"]}
    assert "bptt" in rows
