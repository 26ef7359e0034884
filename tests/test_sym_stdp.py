"""The symmetric-STDP supervised classifier (rules/stdp/sym_stdp.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import snn
from rules.sym_stdp import SymSTDP, SymSTDPConfig, train_sym_stdp


def _mnist_dir() -> Path:
    """The MNIST files: $SYNAPTICA_DATA (holding them, or an ``mnist`` folder that does), else
    ``../shared/data/mnist`` beside the repository root."""
    env = os.environ.get("SYNAPTICA_DATA")
    if env:
        return Path(env) / "mnist" if (Path(env) / "mnist").is_dir() else Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


MNIST_DIR = _mnist_dir()
_DIGITS = {"max_rate": 255.0, "hidden_sum": 0.2}


def _digits(n_train: int, n_test: int):
    train, test = snn.datasets.load_digits().stratified_split(0.2, seed=0)
    return (train.to_float32()[:n_train], train.labels[:n_train],
            test.to_float32()[:n_test], test.labels[:n_test])


def test_digits_subset_learns_well_above_chance():
    x, y, xt, yt = _digits(400, 150)
    model = SymSTDP(64, 10, SymSTDPConfig(n_hidden=50, synapses="current", **_DIGITS), seed=0)
    before = model.evaluate(xt, yt)["accuracy"]
    w0 = model.w_pe.copy()
    model.fit(x, y)
    after = model.evaluate(xt, yt)
    # Chance is 0.1; measured 0.5-0.6 on this subset.
    assert after["accuracy"] >= 0.35
    assert after["accuracy"] > before + 0.15
    # Scaling keeps each hidden neuron's input-weight sum at 0.1 per input (x hidden_sum 0.2).
    np.testing.assert_allclose(model.w_pe.sum(0), 0.2 * 64, rtol=1e-6)
    np.testing.assert_allclose(model.w_ec.sum(0), 0.1 * 50 * 8.0, rtol=1e-6)
    assert not np.allclose(model.w_pe, w0)
    assert model.w_pe.max() <= 1.0 and model.w_ec.max() <= 8.0
    # The teacher wires each class neuron to the hidden neurons that respond to that class.
    wired = np.argmax(model.w_ec, axis=1)
    assert np.mean(wired == model.assignments) > 0.3  # chance 0.1; measured 0.5


def test_conductance_synapses_learn_well_above_chance(tmp_path):
    x, y, xt, yt = _digits(400, 150)
    model = SymSTDP(64, 10, SymSTDPConfig(n_hidden=50, synapses="conductance", **_DIGITS), seed=0)
    before = model.evaluate(xt, yt)["accuracy"]
    model.fit(x, y)
    after = model.evaluate(xt, yt)
    # Chance is 0.1; measured 0.80 on this subset (seeds 1, 2: 0.76, 0.77; current-based: 0.49).
    assert after["accuracy"] >= 0.6
    assert after["accuracy"] > before + 0.15
    # The weights are the conductance jumps themselves: no driving-force scaling.
    np.testing.assert_allclose(model.w_pe.sum(0), 0.2 * 64, rtol=1e-6)
    np.testing.assert_allclose(model.w_ec.sum(0), 0.1 * 50 * 8.0, rtol=1e-6)
    assert model.w_pe.max() <= 1.0 and model.w_ec.max() <= 8.0
    # theta is the paper's theta - 20 mV: raised by spikes, decaying towards -20 mV.
    assert model.theta.max() > 0 and model.theta.min() > -20e-3
    model.save(tmp_path / "m.h5")
    c = SymSTDP.load(tmp_path / "m.h5")
    assert c.config.synapses == "conductance"
    np.testing.assert_array_equal(c.theta, model.theta)
    np.testing.assert_array_equal(c.predict(xt[:20])["supervised"], model.predict(xt[:20])["supervised"])
    # During training only the label's (teacher-clamped) class neuron fires.
    _e, counts, _res = model._present(x[:40], y[:40], (9, 0))
    others = np.ones(counts.shape, bool)
    others[np.arange(40), y[:40]] = False
    assert counts.sum() > 0 and counts[others].sum() == 0


def test_reproducible_from_seed_and_checkpoint_round_trip(tmp_path):
    x, y, xt, yt = _digits(40, 20)
    cfg = SymSTDPConfig(n_hidden=20, chunk=20, **_DIGITS)
    a, b = SymSTDP(64, 10, cfg, seed=3), SymSTDP(64, 10, cfg, seed=3)
    a.fit(x, y)
    b.fit(x, y)
    np.testing.assert_array_equal(a.w_pe, b.w_pe)
    np.testing.assert_array_equal(a.w_ec, b.w_ec)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.theta.max() > 0, "hidden spikes raise the adaptive thresholds"
    a.save(tmp_path / "m.h5")
    c = SymSTDP.load(tmp_path / "m.h5")
    np.testing.assert_array_equal(c.w_pe, a.w_pe)
    assert c.config == a.config
    np.testing.assert_array_equal(c.predict(xt)["supervised"], a.predict(xt)["supervised"])


def test_train_sym_stdp_writes_outputs(tmp_path):
    r = train_sym_stdp("digits", neurons=16, seed=0, out_dir=str(tmp_path), train_limit=30,
                       test_limit=10, chunk=30)
    for key in ("test_accuracy", "wall_s", "n_hidden"):
        assert key in r
    assert r["n_hidden"] == 16 and r["n_train"] == 30
    json.dumps(r)
    assert Path(r["checkpoint"]).is_file() and r["history"][0]["epoch"] == 1
    assert r["rule"] == "sym-stdp"
    for name in ("sym-stdp_digits.h5", "sym-stdp_digits_results.h5", "sym-stdp_digits_weights.png",
                 "sym-stdp_digits_receptive_fields.png", "sym-stdp_digits_raster.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_re_presentation_of_weak_samples():
    # At the MNIST input rate (63.75 Hz) most 8x8 digits evoke < 5 hidden spikes; the paper's
    # rule shows them again at +31.875 Hz until they do (measured on the full digits split,
    # 1 epoch: 33.7% -> 82.5%, mean hidden spikes 2.4 -> 6.3).
    x, y, xt, yt = _digits(100, 40)
    cfg = {"n_hidden": 20, "chunk": 50, "max_rate": 63.75, "hidden_sum": 0.2, "synapses": "current"}
    plain, paper = (SymSTDP(64, 10, SymSTDPConfig(**cfg, min_spikes=m), seed=0) for m in (0, 5))
    s_plain, s_paper = plain.fit(x, y), paper.fit(x, y)
    assert s_paper["mean_hidden_spikes"] > s_plain["mean_hidden_spikes"]
    hidden = paper.predict(xt)["hidden_counts"].sum(1)
    assert np.mean(hidden >= 5) > np.mean(plain.predict(xt)["hidden_counts"].sum(1) >= 5)
    with pytest.raises(ValueError, match="max_retries"):
        SymSTDPConfig(min_spikes=5, rate_step=100.0)


def test_paper_threshold_increment_shrinks_as_theta_grows():
    # theta_plus * 10 / |theta_p - 10| with the paper's theta_p = theta + 20 mV (in mV).
    model = SymSTDP(4, config=SymSTDPConfig(n_hidden=3, paper_theta=True))
    model.theta = np.array([0.0, 10e-3, 30e-3])
    np.testing.assert_allclose(model._theta_plus(), 0.07e-3 * np.array([1.0, 0.5, 0.25]))
    assert SymSTDP(4, config=SymSTDPConfig(n_hidden=3))._theta_plus() == SymSTDPConfig().theta_plus


def test_eval_every_epoch_records_the_learning_curve():
    kw = {"neurons": 16, "seed": 0, "train_limit": 30, "test_limit": 10, "chunk": 30, "epochs": 2}
    r = train_sym_stdp("digits", eval_every_epoch=True, **kw)
    assert [h["epoch"] for h in r["history"]] == [1, 2]
    assert r["history"][-1]["test_accuracy"] == r["test_accuracy"]
    # Evaluating between epochs does not change the training.
    assert train_sym_stdp("digits", **kw)["test_accuracy"] == r["test_accuracy"]
    with pytest.raises(ValueError, match="eval_every_epoch"):
        train_sym_stdp("digits", eval_every_epoch="yes", **kw)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="t_present"):
        SymSTDPConfig(t_present=0.3502)
    for bad in ("conductances", None):
        with pytest.raises(ValueError, match=r"SymSTDPConfig.synapses must be one of \('current', "
                                             r"'conductance'\)"):
            SymSTDPConfig(synapses=bad)
    with pytest.raises(ValueError, match="images must have shape"):
        SymSTDP(64).fit(np.zeros((3, 10)), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SymSTDP(4).fit(np.full((3, 4), 2.0), np.zeros(3, int))
    with pytest.raises(ValueError, match="unknown sym-STDP option"):
        train_sym_stdp("digits", bogus=1)
    with pytest.raises(ValueError, match="dataset"):
        train_sym_stdp("cifar")


@pytest.mark.slow
def test_digits_full():
    r = train_sym_stdp("digits", neurons=100, epochs=2, seed=0)
    assert r["test_accuracy"] >= 0.7


@pytest.mark.slow
@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="MNIST 10k not present")
def test_mnist_10k():
    r = train_sym_stdp("mnist", data_dir=str(MNIST_DIR), neurons=400, epochs=1, seed=0)
    # conductance synapses, min_spikes 5 (the MNIST defaults): measured 0.8945 after 1 epoch over
    # 8000 samples, 0.8885 after 2, 0.9075 after 3 (current-based synapses: 0.755, 0.819, 0.8455)
    assert r["test_accuracy"] >= 0.87


def test_layer_by_layer_schedule():
    x, y, xt, yt = _digits(300, 100)
    model = SymSTDP(64, 10, SymSTDPConfig(n_hidden=30, hidden_epochs=1, **_DIGITS), seed=0)
    w_ec0 = model.w_ec.copy()
    after = []
    model.fit(x, y, epochs=2, on_epoch=lambda e, s: after.append(
        (model.w_pe.copy(), model.theta.copy(), model.w_ec.copy())))
    (pe1, th1, ec1), (pe2, th2, ec2) = after
    # epoch 1: P->E and the thresholds learn, E->C does not; epoch 2: the reverse
    np.testing.assert_array_equal(ec1, w_ec0)
    assert th1.max() > 0
    np.testing.assert_array_equal(pe2, pe1)
    np.testing.assert_array_equal(th2, th1)
    assert not np.allclose(ec2, ec1)
    assert model.evaluate(xt, yt)["accuracy"] >= 0.4  # chance 0.1; measured 0.71 (together: 0.79)
    with pytest.raises(ValueError, match="hidden_epochs"):
        model.fit(x, y, epochs=1)
    with pytest.raises(ValueError, match="hidden_epochs"):
        SymSTDPConfig(hidden_epochs=-1)
