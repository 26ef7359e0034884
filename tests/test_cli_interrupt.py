"""Ctrl-C during ``synaptica train`` and ``bench rules`` (issue 10). Train: a real process gets
SIGINT mid-run, keeps the checkpoint of the last finished epoch, says where it is and exits 130;
``--resume`` then continues, and interrupted + resumed equals the uninterrupted run. Bench
rules: the rules finished before Ctrl-C are written, ``--resume`` runs only the rest."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from rules.base import read_run_record
from snn.checkpoint import load_checkpoint
from snn.cli import main

ARGS = ["train", "bptt", "--arch", "64-16-10", "--steps", "2", "--batch", "256", "--no-progress"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_keeps_the_last_epoch_and_resume_continues(tmp_path, capsys):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "snn.cli", *ARGS, "--epochs", "500", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = out / "bptt_digits.h5"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), proc.communicate(timeout=60)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    done = len(load_checkpoint(checkpoint)[1]["history"])
    assert 1 <= done < 500
    assert (f"interrupted; the checkpoint {checkpoint} holds epoch {done} of 500 (the last one "
            "finished); to continue, run the same command with --resume") in stderr
    assert read_run_record(checkpoint)["arch"] == "64-16-10"
    assert not list(out.glob(".*tmp"))  # no temporary file left behind

    assert main([*ARGS, "--epochs", str(done + 1), "--resume", "--out", str(out), "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["epochs"] == done + 1 and resumed["resumed_from_epoch"] == done
    assert main([*ARGS, "--epochs", str(done + 1), "--out", str(tmp_path / "straight"), "--json"]) == 0
    straight = json.loads(capsys.readouterr().out)
    for a, b in zip(resumed["history"], straight["history"], strict=True):
        assert (a["train_loss"], a["test_accuracy"]) == (b["train_loss"], b["test_accuracy"])


@pytest.fixture
def interrupting_rules():
    """``proto-test`` (counts its builds) and ``stop-test``, whose first fit is cut by Ctrl-C."""
    from test_bench_rules import Prototypes

    import rules

    class Counted(Prototypes):
        builds = 0

        @classmethod
        def build(cls, sizes, **kwargs):
            Counted.builds += 1
            return super().build(sizes, **kwargs)

    class Stop(Prototypes):
        armed = True

        def fit(self, train, test=None, epochs=1, progress=False):
            if Stop.armed:
                Stop.armed = False
                raise KeyboardInterrupt
            return super().fit(train, test, epochs, progress)

    rules.register("proto-test")(Counted)
    rules.register("stop-test")(Stop)
    yield Counted
    rules._RULES.pop("proto-test", None)
    rules._RULES.pop("stop-test", None)


def test_ctrl_c_in_bench_rules_keeps_finished_rules_and_resume_runs_the_rest(interrupting_rules, tmp_path,
                                                                             capsys):
    from rules.bench import read_rules_bench

    args = ["bench", "rules", "--rules", "proto-test,stop-test", "--arch", "64-8-10", "--T", "2",
            "--epochs", "1", "--memory-T", "2", "--batch", "256", "--no-snntorch", "--no-progress",
            "--out", str(tmp_path)]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert (f"interrupted during stop-test; the rules that finished (proto-test) are in "
            f"{tmp_path / 'rules_bench.h5'}; to continue, run the same command with --resume") in err
    assert [r["rule"] for r in read_rules_bench(tmp_path / "rules_bench.h5")["rows"]] == ["proto-test"]
    assert main([*args, "--T", "3", "--resume"]) == 2  # the last --T counts
    assert "measured with steps=2, this command asks for steps=3" in capsys.readouterr().err
    builds = interrupting_rules.builds
    assert main([*args, "--resume", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["rule"] for r in report["rows"]] == ["proto-test", "stop-test", "bptt"]
    assert interrupting_rules.builds == builds  # proto-test was not measured again
    assert "interrupted_in" not in read_rules_bench(tmp_path / "rules_bench.h5")


def test_ctrl_c_in_an_stdp_learner_says_nothing_was_written(tmp_path, capsys, monkeypatch):
    import rules.stdp.pattern

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rules.stdp.pattern, "train_pattern", interrupted)
    assert main(["train", "pattern", "--out", str(tmp_path)]) == 130
    assert ("synaptica: interrupted; pattern writes its files when the run ends, so none were "
            "written") in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
