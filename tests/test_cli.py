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


def test_bench_cuba_stdp_throughput(capsys):
    assert main(["bench", "cuba", "--stdp", "--neurons", "300", "--duration", "0.05", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rounds"] == 3 and out["static_events_per_s"] > 0 and out["stdp_events_per_s"] > 0
    assert out["ratio"] == pytest.approx(out["stdp_events_per_s"] / out["static_events_per_s"])
    assert main(["bench", "cuba", "--stdp", "--vs", "nest", "--neurons", "100"]) == 2
    assert "takes no --vs" in capsys.readouterr().err


def test_unknown_peer_is_an_error(capsys):
    assert main(["bench", "cuba", "--neurons", "100", "--duration", "0.01", "--vs", "genn"]) == 2
    assert "--vs 'genn' is unknown" in capsys.readouterr().err


def test_demo_writes_plot_and_results(tmp_path, capsys):
    from snn import Results

    assert main(["demo", "--out", str(tmp_path), "--neurons", "500", "--duration", "0.2",
                 "--no-rules", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    png = tmp_path / "demo_raster.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = Results.load(summary["results_h5"])
    assert res["spikes"].count == summary["spikes"] > 0
    assert "rules" not in summary


def test_demo_rules_comparison_skips_what_fails(tmp_path, monkeypatch):
    import rules
    from rules.bench import RulesBenchConfig
    from snn.demo import run_demo

    monkeypatch.setitem(rules._RULES, "missing-test", "rules.no_such_module_xyz:Rule")
    config = RulesBenchConfig(rules=("missing-test", "bptt"), sizes=(64, 8, 10), steps=2, epochs=1,
                              batch=128, memory_steps=(2, 4), snntorch=False, skip_failures=True)
    summary = run_demo(tmp_path, neurons=200, duration=0.05, progress=False, rules=config)
    report = summary["rules"]
    assert [r["rule"] for r in report["rows"]] == ["bptt"]
    assert report["skipped"][0]["rule"] == "missing-test"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo_raster.png", "demo_results.h5", "demo_rules.csv", "demo_rules.h5", "demo_rules.png"]


def test_demo_default_rules_are_the_local_rules_and_bptt():
    from snn.demo import demo_rules_config

    config = demo_rules_config()
    assert set(config.rules) == {"bptt", "tess", "ff", "ccl", "softhebb"} and config.skip_failures


def test_bench_rules_and_train_usage_errors():
    ok = run_cli("bench", "rules", "--help")
    assert ok.returncode == 0 and "--rules" in ok.stdout and "--memory-T" in ok.stdout
    ok = run_cli("train", "--help")
    assert ok.returncode == 0 and "--option" in ok.stdout
    bad = run_cli("bench", "rules", "--rules", "tess,hebbian-magic")
    assert bad.returncode == 2 and "'hebbian-magic'" in bad.stderr and "available rules: bptt" in bad.stderr
    bad = run_cli("train", "hebbian-magic")
    assert bad.returncode == 2 and "available: bptt" in bad.stderr
    assert run_cli("bench", "rules", "--memory-T", "10,0").returncode == 2
    assert run_cli("train", "bptt", "--option", "no-equals-sign").returncode == 2


def test_bench_rules_usage_error_exits_2(capsys):
    assert main(["bench", "rules", "--rules", "bptt", "--arch", "784-10", "--json"]) == 2
    assert "--arch starts with 784 inputs but digits images have 64" in capsys.readouterr().err


@pytest.fixture
def proto_rule():
    from test_bench_rules import Prototypes

    import rules

    rules.register("proto-test")(Prototypes)
    yield "proto-test"
    rules._RULES.pop("proto-test", None)


def test_train_any_registered_rule(proto_rule, tmp_path, capsys):
    from test_bench_rules import Prototypes

    assert main(["train", "proto-test", "--epochs", "2", "--steps", "4", "--batch", "128",
                 "--option", "lr=0.5", "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rule"] == "proto-test" and report["epochs"] == 2 and len(report["history"]) == 2
    assert report["given"] == {"steps": 4, "batch_size": 128, "lr": 0.5}
    assert report["settings"]["encoder"] == "rate" and report["settings"]["batch_size"] == 128
    assert report["test_accuracy"] > 0.5 and report["wall_s"] > 0
    restored = Prototypes.build([64, 10])
    restored.load(report["checkpoint"])
    assert restored.sums.sum() > 0
    assert json.loads(open(report["results_json"]).read())["test_accuracy"] == report["test_accuracy"]
    with open(report["learning_curve_png"], "rb") as fh:
        assert fh.read(4) == b"\x89PNG"
    # A rule whose fit cannot resume says so; a rule refusing an option names it.
    assert main(["train", "proto-test", "--resume", "--epochs", "2", "--steps", "4", "--batch", "128",
                 "--option", "lr=0.5", "--out", str(tmp_path)]) == 2
    assert "--resume needs a rule" in capsys.readouterr().err
    assert main(["train", "proto-test", "--neuron", "adaptive", "--out", str(tmp_path)]) == 2
    assert "--neuron does not apply to proto-test" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["demo", "--duration", "0"], ["bench", "cuba", "--duration", "x"]])
def test_bad_values_exit_2(args):
    assert run_cli(*args).returncode == 2


def test_train_stdp_learners_through_the_cli(tmp_path, capsys):
    assert main(["train", "pattern", "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["test_accuracy"] == 1.0 and out["wall_s"] > 0
    assert (tmp_path / "pattern_results.json").exists()
    assert main(["train", "sym-stdp", "--neurons", "20", "--option", "train_limit=60",
                 "--option", "test_limit=40", "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.0 <= out["test_accuracy"] <= 1.0 and out["epochs"] == 1
    assert (tmp_path / "sym-stdp_digits_receptive_fields.png").exists()
    assert main(["train", "diehl-cook", "--neurons", "10", "--option", "train_samples=40",
                 "--option", "test_samples=20", "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.0 <= out["test_accuracy"] <= 1.0 and out["wall_s"] > 0
    assert (tmp_path / "diehl-cook_digits_receptive_fields.png").exists()


def test_bench_stdp_json(capsys):
    assert main(["bench", "stdp", "--duration", "0.5", "--seeds", "1,2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.0 <= out["frac_low"] <= 1.0 and 0.0 <= out["frac_high"] <= 1.0 and out["wall_s"] > 0
    assert main(["bench", "stdp", "--duration", "0.5", "--vs", "nest"]) == 2


def test_bench_cuba_on_the_emulated_chip_takes_time_scale_factor_and_machine(capsys):
    pytest.importorskip("numba")
    # dt 0.1 ms: 256 LIF updates a core overrun a 20,000-cycle tick at factor 1, not at 10
    args = ["bench", "cuba", "--backend", "spinnaker", "--neurons", "600", "--duration", "0.02",
            "--json"]
    assert main(args + ["--time-scale-factor", "1"]) == 0
    fast = json.loads(capsys.readouterr().out)["provenance"]
    assert main(args + ["--time-scale-factor", "10", "--machine", "spinn3"]) == 0
    slow = json.loads(capsys.readouterr().out)["provenance"]
    assert fast["time_scale_factor"] == 1 and fast["timer_tick_overruns"] > 0
    assert slow["time_scale_factor"] == 10 and slow["timer_tick_overruns"] == 0
    assert slow["machine"] == "spinn3" and fast["machine"] == "spinn5"
    assert main(["bench", "cuba", "--time-scale-factor", "10", "--neurons", "100"]) == 2
    assert "--time-scale-factor applies to --backend spinnaker" in capsys.readouterr().err
    assert main(["bench", "cuba", "--stdp", "--machine", "spinn3", "--neurons", "100"]) == 2
    assert "--machine applies to --backend spinnaker" in capsys.readouterr().err
    assert main(["bench", "cuba", "--backend", "spinnaker", "--machine", "3x", "--neurons",
                 "100"]) == 2
    assert "--machine: machine '3x' is unknown" in capsys.readouterr().err


def test_a_flag_given_dash_dash_as_its_value_is_a_usage_error(capsys):
    """argparse turns ``--flag=--`` into an empty list; the CLI says what is wrong instead."""
    from snn.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["demo", "--neurons=--"])
    assert exc.value.code == 2
    assert "argument --neurons: expected a value, got '--'" in capsys.readouterr().err
