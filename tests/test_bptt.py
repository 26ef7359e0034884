"""The BPTT reference trainer: learns, is reproducible, resumes exactly, and reaches the
accuracy figures (slow tests)."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import rules  # noqa: E402
from rules.bptt import BPTT, BPTTConfig, mlp  # noqa: E402
from snn.datasets import load_digits, load_mnist  # noqa: E402

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(scope="module")
def digits():
    return load_digits().stratified_split(0.2, seed=0)


def trainer(seed=0, readout="li", **kw):
    torch.manual_seed(seed)
    return BPTT(mlp([64, 64, 10], readout=readout), BPTTConfig(steps=10, batch_size=64, seed=seed, **kw))


def weights(t):
    return [p.detach().clone() for p in t.net.parameters()]


def test_registered_by_name():
    assert rules.get("bptt") is BPTT
    with pytest.raises(ValueError, match="known rules: bptt"):
        rules.get("hebb")


@pytest.mark.parametrize("readout", ["li", "lif"])
def test_learns_digits_far_above_chance(digits, readout):
    train, test = digits
    hist = trainer(readout=readout).fit(train, test, epochs=4)
    assert hist[-1].test_accuracy > 0.8  # chance is 0.1
    assert hist[-1].train_loss < hist[0].train_loss


def test_same_seed_same_run(digits):
    train, test = digits
    a, b = trainer(seed=3), trainer(seed=3)
    ha, hb = a.fit(train, test, epochs=2), b.fit(train, test, epochs=2)
    assert [h.train_loss for h in ha] == [h.train_loss for h in hb]
    assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))


def test_resume_continues_exactly(digits, tmp_path):
    train, test = digits
    whole = trainer(seed=5)
    whole.fit(train, test, epochs=3)
    ckpt = tmp_path / "run.h5"
    first = trainer(seed=5)
    first.fit(train, test, epochs=2, checkpoint=ckpt)
    resumed = trainer(seed=99)  # different init: everything must come from the checkpoint
    resumed.fit(train, test, epochs=3, checkpoint=ckpt, resume=True)
    assert [h.epoch for h in resumed.history] == [1, 2, 3]
    assert all(torch.equal(x, y) for x, y in zip(weights(whole), weights(resumed), strict=True))
    assert [p.name for p in tmp_path.iterdir()] == ["run.h5"]  # no temporary files left


def test_checkpoint_errors(digits, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.h5"):
        trainer().load(bad)
    ckpt = tmp_path / "other.h5"
    trainer().save(ckpt)
    torch.manual_seed(0)
    other = BPTT(mlp([64, 32, 10]), BPTTConfig(steps=5))
    with pytest.raises(ValueError, match="does not fit this network"):
        other.load(ckpt)
    with pytest.raises(ValueError, match="resume=True needs checkpoint"):
        trainer().fit(digits[0], epochs=1, resume=True)


@pytest.mark.parametrize(("kw", "match"), [({"steps": 0}, "steps"), ({"encoder": "morse"}, "encoder"),
                                           ({"lr": -1.0}, "lr"), ({"decoder": "vote"}, "decoder")])
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        BPTTConfig(**kw)


def test_cli_train_json(tmp_path, capsys):
    from snn.cli import main

    assert main(["train", "bptt", "--dataset", "digits", "--epochs", "2", "--steps", "8",
                 "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["epochs"] == 2 and report["test_accuracy"] > 0.5 and report["wall_s"] > 0
    assert Path(report["checkpoint"]).exists()
    assert Path(report["learning_curve_png"]).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_digits_reaches_95_percent(digits):
    train, test = digits
    torch.manual_seed(0)
    t = BPTT(mlp([64, 128, 10]), BPTTConfig(steps=25, batch_size=64))
    assert t.fit(train, test, epochs=15)[-1].test_accuracy >= 0.95


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.exists(), reason="shared MNIST test set not present")
def test_mnist_10k_reaches_94_percent_in_5_epochs():
    ds = load_mnist(directory=MNIST, split="test")
    torch.manual_seed(0)
    t = BPTT(mlp([784, 500, 10]), BPTTConfig(steps=25, batch_size=128, lr=1e-3))
    hist = t.fit(ds[:8000], ds[8000:], epochs=5)
    assert max(h.test_accuracy for h in hist) >= 0.94
    assert np.isfinite(hist[-1].train_loss)
