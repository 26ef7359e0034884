"""Three-factor (neuromodulated) STDP and homeostatic scaling on the engine: closed forms,
numba against torch, argument checks."""

import math

import numpy as np
import pytest

import plasticity as pl
import snn

DT = 1e-4
N_STEPS = 1000


def network(mechanism, pre_steps, post_steps, da_steps=(), w0=0.01, connector=None):
    """SpikeSource ``pre`` -> IF ``post`` through the plastic projection ``plastic``; a drive
    makes post neuron ``p`` fire exactly at ``post_steps[p]``; population ``da`` (two
    neurons) spikes at ``da_steps`` (neuron 0). One structure, so one compiled kernel."""
    drive = [[s - 1 for s in steps] for steps in post_steps]
    net = snn.Network()
    pre = net.population(len(pre_steps), snn.SpikeSource(spike_steps=pre_steps), name="pre")
    drv = net.population(len(drive), snn.SpikeSource(spike_steps=drive), name="drv")
    net.population(2, snn.SpikeSource(spike_steps=[list(da_steps), []]), name="da")
    post = net.population(len(post_steps), snn.IF(v_thresh=1.0, v_reset=0.0, reset="value"),
                          name="post")
    net.connect(pre, post, connector or snn.OneToOne(), weight=w0, plasticity=mechanism, name="plastic")
    net.connect(drv, post, snn.OneToOne(), weight=2.0, name="drive")
    net.spike_monitor(post, name="post_spikes")
    return net


STDP = pl.PairSTDP(a_plus=0.01, a_minus=0.012, w_min=-1.0, w_max=1.0)
PRE, POST = [[100], []], [[150], []]  # one causal pair (and a silent one)
DE = 0.01 * math.exp(-50 * DT / STDP.tau_plus)  # eligibility jump at the post spike


def three_factor(**kw):
    return pl.ThreeFactor(STDP, modulator="da", tau_e=30e-3, lr=5.0, source="da", **kw)


def test_zero_modulator_changes_nothing():
    sim = network(three_factor(), PRE, POST).build(dt=DT, seed=0)
    sim.run(N_STEPS * DT)
    assert sim.weights("plastic").tolist() == [0.01, 0.01]


def test_constant_modulator_closed_form_and_changes_between_runs():
    mech = three_factor()
    sim = network(mech, PRE, POST).build(dt=DT, seed=0)
    sim.set_modulator("da", 2.0)
    sim.run(500 * DT)
    tau = mech.tau_e
    first = 5.0 * 2.0 * DE * tau * (1 - math.exp(-350 * DT / tau))
    np.testing.assert_allclose(sim.weights("plastic")[0] - 0.01, first, rtol=1e-12)
    sim.set_modulator("da", -1.0)  # punishment from step 500 on
    sim.run(500 * DT)
    second = -5.0 * DE * math.exp(-350 * DT / tau) * tau * (1 - math.exp(-500 * DT / tau))
    np.testing.assert_allclose(sim.weights("plastic")[0] - 0.01, first + second, rtol=1e-12)
    assert sim.weights("plastic")[1] == 0.01


def test_modulator_population_closed_form():
    """A 'dopamine' spike at step 600 raises M by 3, which then decays with tau_modulator."""
    mech = three_factor(tau_modulator=50e-3, increment=3.0)
    sim = network(mech, PRE, POST, da_steps=[600]).build(dt=DT, seed=0)
    sim.run(N_STEPS * DT)
    e600 = DE * math.exp(-450 * DT / mech.tau_e)
    want = 5.0 * 3.0 * e600 * mech.tau_c * (1 - math.exp(-400 * DT / mech.tau_c))
    np.testing.assert_allclose(sim.weights("plastic")[0] - 0.01, want, rtol=1e-12)


def test_three_factor_numba_equals_torch():
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    pre = [np.unique(rng.integers(1, N_STEPS, 30)).tolist() for _ in range(8)]
    post = [np.unique(rng.integers(1, N_STEPS, 20)).tolist() for _ in range(5)]
    mech = three_factor(tau_modulator=40e-3, increment=0.5, initial=0.2)
    net = network(mech, pre, post, da_steps=[200, 430, 431, 800], connector=snn.AllToAll())
    a, b = (net.build(dt=DT, seed=0, backend=x, **kw)
            for x, kw in (("numba", {}), ("torch", {"dtype": "float64"})))
    for sim in (a, b):
        sim.run(600 * DT)
        sim.set_modulator("da", -0.3)
        sim.run(400 * DT)
    assert np.abs(a.weights("plastic") - 0.01).max() > 1e-5
    np.testing.assert_array_equal(a.weights("plastic"), b.weights("plastic"))


def homeostasis(every: int, gain: float) -> tuple:
    """Symmetric STDP, then scaling to a sum of 0.3, then target-rate scaling (40 Hz): the
    same mechanisms (one kernel) for both scaling tests."""
    return (pl.SymmetricSTDP(eta=0.05, w_max=1.0), pl.SynapticScaling(target=0.3, every=every),
            pl.TargetRateScaling(target_rate=40.0, every=every, gain=gain))


def scaling_network(steps_per_post):
    """All-to-all, 6 silent pre -> 3 post (so STDP does nothing); post neuron j fires
    ``steps_per_post[j]`` times in 500 steps."""
    post = [list(range(20, 20 + 20 * c, 20)) for c in steps_per_post]
    w0 = np.linspace(0.01, 0.05, 18)
    net = network(homeostasis(500, 0.5), [[] for _ in range(6)], post, w0=w0, connector=snn.AllToAll())
    return net, w0


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_scaling_closed_form(backend):
    counts = [1, 2, 5]  # 20, 40 and 100 Hz over 50 ms
    net, w0 = scaling_network(counts)
    kw = {"dtype": "float64"} if backend == "torch" else {}
    sim = net.build(dt=DT, seed=0, backend=backend, **kw)
    sim.run(500 * DT)
    proj = sim.built.projections[0]
    sums = np.bincount(proj.indices, weights=w0, minlength=3)
    rate = np.array(counts) / (500 * DT)
    factor = np.maximum(0.0, 1 + 0.5 * (40.0 - rate) / 40.0)
    want = w0 * (0.3 / sums[proj.indices]) * factor[proj.indices]
    np.testing.assert_allclose(sim.weights("plastic"), want, rtol=1e-12)
    col = np.bincount(proj.indices, weights=sim.weights("plastic"), minlength=3)
    np.testing.assert_allclose(col, 0.3 * factor, rtol=1e-12)


def test_stdp_with_scaling_keeps_the_target_sum():
    """STDP between scalings; with gain 0 the rate scaling multiplies by exactly 1."""
    rng = np.random.default_rng(1)
    pre = [np.unique(rng.integers(1, N_STEPS, 40)).tolist() for _ in range(6)]
    post = [np.unique(rng.integers(1, N_STEPS, 30)).tolist() for _ in range(3)]
    sim = network(homeostasis(250, 0.0), pre, post, connector=snn.AllToAll()).build(dt=DT, seed=0)
    sim.run(N_STEPS * DT)
    proj = sim.built.projections[0]
    col = np.bincount(proj.indices, weights=sim.weights("plastic"), minlength=3)
    np.testing.assert_allclose(col, 0.3, rtol=1e-12)


def test_errors():
    with pytest.raises(TypeError, match="ThreeFactor.rule must be an STDP rule"):
        pl.ThreeFactor(rule=pl.SynapticScaling(1.0))
    with pytest.raises(ValueError, match="tau_e must be a positive"):
        pl.ThreeFactor(STDP, tau_e=0.0)
    with pytest.raises(ValueError, match="SynapticScaling.target must be > 0"):
        pl.SynapticScaling(target=0.0)
    sim = network(three_factor(), PRE, POST).build(dt=DT, seed=0)
    with pytest.raises(KeyError, match="no mechanism reads a modulator named 'reward'"):
        sim.set_modulator("reward", 1.0)
    with pytest.raises(ValueError, match="reads the population 'nope'"):
        network(pl.ThreeFactor(STDP, source="nope"), PRE, POST).build(dt=DT, seed=0)
    net = network(STDP, PRE, POST)
    with pytest.raises(ValueError, match="plastic projections"):
        net.build(dt=DT, seed=0, batch=2)
