"""benchmarks/gpu_check.sh in its CPU dry run: every stage runs in its own process and lands in
one JSON file; a stage that runs out of time is stopped and recorded."""

import importlib.util
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_dry_run_on_cpu(tmp_path):
    out = tmp_path / "check.json"
    subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu", "--out", str(out)],
                   check=True, timeout=400)
    report = json.loads(out.read_text())
    stages = report["stages"]
    assert report["mode"] == "cpu"
    assert list(stages) == ["cuba", "threads", "bptt_step", "bench_rules", "brian2cuda"]
    assert not any("error" in stage for stage in stages.values())
    assert all(s["returncode"] == 0 and 0 < s["stage_s"] <= s["budget_s"] for s in stages.values())
    cuba = {r["backend"]: r for r in stages["cuba"]["rows"]}
    assert set(cuba) == {"torch", "numba", "numba-1-thread"}
    assert cuba["torch"]["rate_hz"] > 0 and cuba["numba"]["wall_s_per_simulated_s"] > 0
    # float32 torch against float64 numba on 1000 neurons for 20 ms: the same network, rates close
    assert 0.8 < cuba["torch"]["rate_ratio_vs_numba"] < 1.25
    assert cuba["numba-1-thread"]["threads"] == 1 and cuba["numba"]["speedup_vs_1_thread"] > 0
    threads = stages["threads"]["results"][0]
    assert threads["identical_spikes"] and [r["threads"] for r in threads["rows"]][0] == 1
    bptt = stages["bptt_step"]["rows"][0]
    assert bptt["time_per_step_s"] > 0
    assert ("snntorch" in bptt) == (importlib.util.find_spec("snntorch") is not None)
    assert "bptt" in {r["rule"] for r in stages["bench_rules"]["rows"]}
    assert stages["brian2cuda"]["skipped"] == "no GPU in the dry run"


def test_a_stage_out_of_time_is_stopped_and_recorded(tmp_path):
    gpu_check = load_gpu_check()
    out = gpu_check.supervise("bench_rules", cpu=True, budget=2.0, data_dir=str(tmp_path),
                              scratch=tmp_path)
    assert out["timed_out"]
    assert out["error"].startswith("out of time after 2 s")
    assert out["stage_s"] < 2.0 + gpu_check.GRACE_S + 5
