"""Ctrl-C during ``synaptica train`` (issue 10): a real process gets SIGINT mid-run, keeps the
checkpoint of the last finished epoch, says where it is and exits 130; ``--resume`` then
continues, and interrupted + resumed equals the uninterrupted run."""

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
