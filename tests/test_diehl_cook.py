"""Diehl & Cook (2015) unsupervised digit classifier (rules/stdp/diehl_cook.py)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

import snn
from rules.diehl_cook import (
    FEEDFORWARD,
    AdaptiveConductanceLIF,
    DiehlCook,
    DiehlCookConfig,
    SettablePoissonSource,
    assign_labels,
    class_proportions,
    classify,
    classify_proportion,
    normalise_columns,
    set_rates,
    train_diehl_cook,
)
from snn.checkpoint import load_checkpoint, save_checkpoint
from snn.datasets import load_digits


def _mnist_dir() -> Path:
    """The MNIST files: $SYNAPTICA_DATA (holding them, or an ``mnist`` folder that does), else
    ``../shared/data/mnist`` beside the repository root."""
    env = os.environ.get("SYNAPTICA_DATA")
    if env:
        return Path(env) / "mnist" if (Path(env) / "mnist").is_dir() else Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


MNIST_DIR = _mnist_dir()


@pytest.fixture(scope="module")
def digits():
    return load_digits().stratified_split(0.2, seed=0)


def test_assign_labels_and_classify_on_hand_made_responses():
    # neurons 0, 1 answer class 0; neuron 2 class 1; neuron 3 never fires
    responses = np.array([[5, 3, 0, 0],
                          [4, 5, 1, 0],
                          [0, 1, 6, 0],
                          [1, 0, 4, 0]])
    labels = np.array([0, 0, 1, 1])
    assignment = assign_labels(responses, labels, n_classes=3)
    np.testing.assert_array_equal(assignment, [0, 0, 1, -1])
    # class scores are the mean count of each class's neurons: [4, 2] -> 3 vs 5 -> class 1
    test = np.array([[4, 2, 5, 9], [6, 6, 1, 9], [0, 0, 0, 9]])
    np.testing.assert_array_equal(classify(test, assignment, 3), [1, 0, 0])
    with pytest.raises(ValueError, match="assignment"):
        classify(test, assignment[:3], 3)


def test_proportion_weighting_on_hand_made_responses():
    # neuron 0 fires for both classes (mean 4.5 for class 0, 1.5 for class 1); neuron 1 only for
    # class 1; neuron 2 never
    responses = np.array([[5, 0, 0], [4, 0, 0], [2, 2, 0], [1, 4, 0]])
    labels = np.array([0, 0, 1, 1])
    shares = class_proportions(responses, labels, n_classes=3)
    np.testing.assert_allclose(shares, [[0.75, 0.0, 0.0], [0.25, 1.0, 0.0], [0.0, 0.0, 0.0]])
    # votes: [4, 1] -> class 0: 3, class 1: 1 + 1 = 2; [4, 3] -> 3 vs 4; the paper's readout
    # (mean count of each class's neurons: 4 vs 1, then 4 vs 3) says class 0 for both
    test = np.array([[4, 1, 7], [4, 3, 7]])
    np.testing.assert_array_equal(classify_proportion(test, shares), [0, 1])
    np.testing.assert_array_equal(classify(test, assign_labels(responses, labels, 3), 3), [0, 0])
    with pytest.raises(ValueError, match="proportions"):
        classify_proportion(test, shares[:, :2])


def test_normalise_columns_keeps_each_neurons_input_sum():
    model = DiehlCook(64, DiehlCookConfig(n_neurons=7), seed=3)
    sim = model._network(learning=True).build(dt=model.config.dt, seed=3)
    post = sim.built.projections[0].indices
    target = model.config.target_sum(64)
    assert target == pytest.approx(78.0 * 64 / 784)
    sim.set_weights(FEEDFORWARD, normalise_columns(sim.weights(FEEDFORWARD), post, 7, target))
    sums = np.bincount(post, weights=sim.weights(FEEDFORWARD), minlength=7)
    np.testing.assert_allclose(sums, target, rtol=1e-12)
    w = np.array([1.0, 0.0, 3.0, 0.0])
    np.testing.assert_allclose(normalise_columns(w, np.array([0, 1, 0, 1]), 2, 2.0),
                               [0.5, 0.0, 1.5, 0.0])


def _one_neuron(model, duration=0.5):
    net = snn.Network()
    pop = net.population(1, model, name="n")
    net.spike_monitor(pop, name="s")
    sim = net.build(dt=0.5e-3, seed=0)
    return sim, sim.run(duration)["s"]


def test_adaptive_threshold_matches_conductance_lif_and_rises_per_spike():
    common = dict(tau_m=100e-3, v_rest=-65e-3, v_reset=-65e-3, v_thresh=-52e-3, tau_ref=5e-3,
                  tau_syn_exc=1e-3, tau_syn_inh=2e-3, e_rev_inh=-100e-3, i_bias=40e-3)
    _, plain = _one_neuron(snn.ConductanceLIF(**common))
    # theta_init = theta_offset and no increment: exactly the plain neuron
    _, frozen = _one_neuron(AdaptiveConductanceLIF(**common, theta_plus=0.0, theta_init=20e-3,
                                                   theta_offset=20e-3))
    assert plain.steps.size > 5
    np.testing.assert_array_equal(plain.steps, frozen.steps)
    sim, adaptive = _one_neuron(AdaptiveConductanceLIF(**common, theta_plus=1e-3, tau_theta=1e6,
                                                       theta_init=20e-3, theta_offset=20e-3))
    assert 0 < adaptive.steps.size < plain.steps.size
    assert sim.state["n"]["theta"][0] == pytest.approx(20e-3 + 1e-3 * adaptive.steps.size, rel=1e-6)


def test_settable_poisson_rates_change_between_runs():
    net = snn.Network()
    src = net.population(200, SettablePoissonSource(), name="src")
    net.spike_monitor(src, name="s")
    sim = net.build(dt=0.5e-3, seed=1)
    assert sim.run(0.1)["s"].steps.size == 0
    set_rates(sim, "src", np.full(200, 40.0))
    counts = sim.run(1.0)["s"].counts()
    assert counts.mean() == pytest.approx(40.0, rel=0.05)
    set_rates(sim, "src", np.zeros(200))
    assert sim.run(0.2)["s"].steps.size == 0
    with pytest.raises(ValueError, match="rates"):
        set_rates(sim, "src", np.full(200, 5000.0))


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="t_present"):
        DiehlCookConfig(t_present=0.3501)
    with pytest.raises(ValueError, match="w_init_low"):
        DiehlCookConfig(w_init_low=0.5, w_init_high=0.2)
    with pytest.raises(ValueError, match="n_inputs"):
        DiehlCook(64).responses(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="readout"):
        DiehlCookConfig(readout="linear")


def test_training_is_reproducible_from_the_seed(digits):
    train, _ = digits
    cfg = DiehlCookConfig(n_neurons=10, intensity=12.0)
    runs = []
    for seed in (5, 5, 6):
        model = DiehlCook(64, cfg, seed=seed)
        model.train(train[:15])
        runs.append((model.weights, model.theta))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])
    assert np.all(runs[0][1] > 0.0199) and runs[0][1].max() > 20e-3


def test_small_digits_run_learns(digits, tmp_path):
    """40 neurons, 400 training and 200 test images: well above chance (10%)."""
    train, test = digits
    model = DiehlCook(64, DiehlCookConfig(n_neurons=40, intensity=12.0), seed=0)
    model.fit(train[:400])
    accuracy = model.evaluate(test[:200])
    assert accuracy > 0.5
    assert len(set(model.assignment.tolist()) - {-1}) >= 8
    restored = DiehlCook.load(model.save(tmp_path / "dc.h5"))
    np.testing.assert_array_equal(restored.weights, model.weights)
    np.testing.assert_array_equal(restored.theta, model.theta)
    np.testing.assert_array_equal(restored.assignment, model.assignment)
    np.testing.assert_array_equal(restored.proportions, model.proportions)
    np.testing.assert_allclose(model.proportions.sum(0)[model.assignment >= 0], 1.0)
    assert restored.config == model.config
    # a checkpoint from before proportion weighting falls back to the paper's readout
    arrays, meta = load_checkpoint(tmp_path / "dc.h5")
    del arrays["proportions"]
    old = DiehlCook.load(save_checkpoint(tmp_path / "old.h5", arrays, meta))
    assert old.config.readout == "assignment"
    np.testing.assert_array_equal(old.predict(test[:20]), model.predict(test[:20], readout="assignment"))


def test_train_diehl_cook_writes_checkpoint_results_and_plots(tmp_path):
    summary = train_diehl_cook("digits", neurons=8, seed=1, out_dir=str(tmp_path),
                               train_samples=30, test_samples=10, t_present=0.1, t_rest=0.05)
    json.dumps(summary)
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["wall_s"] > 0
    assert summary["test_accuracy"] == summary[f"test_accuracy_{summary['readout']}"]
    assert 0.0 <= summary["test_accuracy_proportion"] <= 1.0
    assert summary["neurons"] == 8 and summary["train_samples"] == 30
    assert summary["rule"] == "diehl-cook"
    assert summary["checkpoint"] == str(tmp_path / "diehl-cook_digits.h5")
    for name in ("diehl-cook_digits.h5", "diehl-cook_digits_results.h5",
                 "diehl-cook_digits_receptive_fields.png", "diehl-cook_digits_weight_histograms.png",
                 "diehl-cook_digits_theta.png", "diehl-cook_digits_raster.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert DiehlCook.load(tmp_path / "diehl-cook_digits.h5").weights.shape == (64, 8)
    with pytest.raises(ValueError, match="unknown option"):
        train_diehl_cook("digits", bogus=1)


@pytest.mark.slow
def test_digits_accuracy_with_100_neurons():
    """The issue's 85%: measured 85.8% with proportion weighting, 82.5% with the paper's
    assignment readout (seed 0, deterministic; seeds 0-2: 85.8-89.7% and 82.5-87.5%)."""
    summary = train_diehl_cook("digits", neurons=100, seed=0)
    assert summary["readout"] == "proportion"
    assert summary["test_accuracy"] >= 0.85
    assert summary["test_accuracy_assignment"] >= 0.80


@pytest.mark.slow
@pytest.mark.skipif(not MNIST_DIR.exists(), reason=f"MNIST 10k not in {MNIST_DIR} (set $SYNAPTICA_DATA)")
def test_mnist_10k_accuracy_with_100_neurons():
    """The issue's 80%: one pass over 8000 images with the MNIST defaults (k = 3, input sums of
    104, learning rates 1.5x the paper's), about 4 min: measured 83.35% with proportion
    weighting, 77.15% with the paper's assignment readout (seed 0; seeds 1 and 2: 79.45 and
    80.75%, 72.8 and 75.75%). The paper's 82.9% took 60,000 images."""
    summary = train_diehl_cook("mnist", data_dir=str(MNIST_DIR), neurons=100, seed=0)
    assert summary["test_accuracy"] >= 0.82
    assert summary["test_accuracy_assignment"] >= 0.75
