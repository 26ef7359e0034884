"""The command line: help, JSON output, exit codes, the demo's files."""

import json
import subprocess
import sys

import pytest

from snn.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "snn.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_help_and_bad_usage():
    ok = run_cli("--help")
    assert ok.returncode == 0 and "bench" in ok.stdout and "demo" in ok.stdout
    bad = run_cli("bench", "cuba", "--neurons", "-5")
    assert bad.returncode == 2 and "positive integer" in bad.stderr


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "numba" in info["backends"] and info["cuda"] in (True, False)


def test_bench_cuba_json_fields(capsys):
    assert main(["bench", "cuba", "--neurons", "400", "--duration", "0.2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("neurons", "synapses", "duration_s", "spikes", "rate_hz", "cv_isi", "events",
                "wall_s", "build_s", "events_per_s", "bytes_per_synapse"):
        assert key in report
    assert report["neurons"] == 400 and report["spikes"] > 0
    assert report["bytes_per_synapse"] <= 10


def test_unknown_peer_is_an_error(capsys):
    assert main(["bench", "cuba", "--neurons", "100", "--duration", "0.01", "--vs", "genn"]) == 1
    assert "--vs 'genn' is unknown" in capsys.readouterr().err


def test_demo_writes_plot_and_results(tmp_path, capsys):
    from snn import Results

    assert main(["demo", "--out", str(tmp_path), "--neurons", "500", "--duration", "0.2",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    png = tmp_path / "demo_raster.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = Results.load(summary["results_h5"])
    assert res["spikes"].count == summary["spikes"] > 0


@pytest.mark.parametrize("args", [["demo", "--duration", "0"], ["bench", "cuba", "--duration", "x"]])
def test_bad_values_exit_2(args):
    assert run_cli(*args).returncode == 2
