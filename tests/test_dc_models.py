"""AdaptiveConductanceLIF and SettablePoissonSource (Diehl & Cook's models) on both backends."""

import numpy as np
import pytest

import snn

DT = 0.5e-3


def dc_network() -> snn.Network:
    """30 settable Poisson inputs -> 10 adaptive excitatory neurons with lateral inhibition
    through 10 inhibitory partners (one-to-one excitation, inhibition of all the others)."""
    net = snn.Network()
    inp = net.population(30, snn.SettablePoissonSource(), name="inp")
    exc = net.population(10, snn.AdaptiveConductanceLIF(
        tau_m=np.linspace(20e-3, 40e-3, 10), v_thresh=-50e-3, tau_ref=2e-3, tau_syn_exc=3e-3,
        tau_syn_inh=2e-3, e_rev_inh=-100e-3, tau_theta=0.2, theta_plus=np.full(10, 1e-3),
        theta_init=5e-3, theta_offset=5e-3, reset="subtract"), name="exc",
        init={"v": snn.Uniform(-65e-3, -55e-3)})
    inh = net.population(10, snn.ConductanceLIF(tau_m=10e-3, v_thresh=-40e-3, v_rest=-60e-3,
                                                v_reset=-45e-3, e_rev_inh=-85e-3), name="inh")
    net.connect(inp, exc, snn.AllToAll(), weight=snn.Uniform(0.0, 1.0), synapse="exc")
    net.connect(exc, inh, snn.OneToOne(), weight=10.4, synapse="exc")
    net.connect(inh, exc, snn.FromMatrix(2.0 * (1.0 - np.eye(10))), synapse="inh")
    net.spike_monitor(inp, name="inp_s")
    net.spike_monitor(exc, name="exc_s")
    net.spike_monitor(inh, name="inh_s")
    net.state_monitor(exc, ["v", "theta", "g_exc", "g_inh"], name="exc_st")
    return net


def _run_twice(sim):
    """Two presentations with different per-neuron rates (Hz); recordings and final state."""
    rng = np.random.default_rng(7)
    out = []
    for rates in (rng.uniform(0.0, 120.0, 30), rng.uniform(0.0, 60.0, 30)):
        snn.set_rates(sim, "inp", rates)
        out.append(sim.run(0.1))
    state = {v: np.asarray(sim.state["exc"][v]) for v in ("v", "theta", "refractory_until")}
    return out, state


def test_numba_and_torch_are_identical_in_float64():
    pytest.importorskip("torch")
    net = dc_network()
    a, state_a = _run_twice(net.build(dt=DT, seed=3, exact_input=True))
    b, state_b = _run_twice(net.build(dt=DT, seed=3, backend="torch", dtype="float64"))
    assert a[0]["exc_s"].count > 15 and a[1]["exc_s"].count > 5 and a[0]["inh_s"].count > 20
    for ra, rb in zip(a, b, strict=True):
        for name in ("inp_s", "exc_s", "inh_s"):
            np.testing.assert_array_equal(ra[name].steps, rb[name].steps, err_msg=name)
            np.testing.assert_array_equal(ra[name].indices, rb[name].indices, err_msg=name)
        np.testing.assert_array_equal(ra["exc_st"].data, rb["exc_st"].data)
    for var in state_a:
        np.testing.assert_array_equal(state_a[var], state_b[var], err_msg=var)


def test_adaptive_threshold_closed_form_and_firing_condition():
    # no synaptic input: v relaxes exactly towards v_inf = v_rest + i_bias with exp(-dt / tau_m)
    m = snn.AdaptiveConductanceLIF(tau_m=20e-3, v_rest=-65e-3, v_reset=-65e-3, v_thresh=-52e-3,
                                   tau_ref=0.0, i_bias=30e-3, tau_theta=25e-3, theta_plus=3e-3,
                                   theta_init=0.0, theta_offset=5e-3)
    net = snn.Network()
    pop = net.population(1, m, name="n")
    net.spike_monitor(pop, name="s")
    net.state_monitor(pop, ["v", "theta"], name="st")
    steps = 1000
    res = net.build(dt=DT, seed=0).run(steps * DT)
    spikes = res["s"].steps
    v, theta = res["st"].data[:, 0, 0], res["st"].data[:, 1, 0]  # before steps 0 .. steps-1
    assert spikes.size > 10
    isi = np.diff(spikes)
    assert isi[-1] > isi[0] + 2  # the threshold adapted

    # theta after k steps: theta_init e^{-k dt/tau} + theta_plus sum_{s < k} e^{-(k-1-s) dt/tau}
    k = np.arange(steps)
    fired_before = spikes[None, :] < k[:, None]
    decay = np.exp(-np.clip(k[:, None] - 1 - spikes[None, :], 0, None) * DT / m.tau_theta)
    closed = m.theta_init * np.exp(-k * DT / m.tau_theta) + m.theta_plus * np.sum(
        np.where(fired_before, decay, 0.0), axis=1)
    np.testing.assert_allclose(theta, closed, rtol=1e-10, atol=0.0)

    # fires at step k exactly when the candidate v exceeds v_thresh + theta - theta_offset
    v_inf = m.v_rest + m.i_bias
    candidate = v_inf + (v[:-1] - v_inf) * np.exp(-DT / m.tau_m)
    threshold = m.v_thresh + theta[:-1] * np.exp(-DT / m.tau_theta) - m.theta_offset
    fired = np.zeros(steps - 1, bool)
    fired[spikes[spikes < steps - 1]] = True
    margin = np.abs(candidate - threshold)
    assert margin.min() > 1e-9  # no crossing within rounding of the reference
    np.testing.assert_array_equal(candidate > threshold, fired)
    np.testing.assert_array_equal(v[1:][fired], m.v_reset)


def test_training_step_follows_the_simulation():
    torch = pytest.importorskip("torch")
    from snn.backends import implementation_for
    from snn.surrogate import FastSigmoid

    m = snn.AdaptiveConductanceLIF(tau_ref=0.0, i_bias=30e-3, tau_theta=25e-3, theta_plus=3e-3,
                                   theta_init=8e-3, theta_offset=5e-3, reset="subtract")
    net = snn.Network()
    pop = net.population(1, m, name="n")
    net.spike_monitor(pop, name="s")
    net.state_monitor(pop, ["v", "theta"], name="st")
    steps = 400
    res = net.build(dt=DT, seed=0).run(steps * DT)
    impl = implementation_for(m, "training")
    consts = impl.constants(m, DT, dtype=torch.float64)
    state = impl.initial_state(m, torch.zeros(1, 1, dtype=torch.float64))
    out, v, theta = [], [], []
    for _ in range(steps - 1):
        s, state = impl.step(m, consts, torch.zeros(1, 1, dtype=torch.float64), state,
                             FastSigmoid())
        out.append(float(s))
        v.append(float(state["u"]))
        theta.append(float(state["theta"]))
    fired = np.zeros(steps - 1)
    fired[res["s"].steps[res["s"].steps < steps - 1]] = 1.0
    assert fired.sum() > 5
    np.testing.assert_array_equal(out, fired)
    np.testing.assert_allclose(v, res["st"].data[1:, 0, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(theta, res["st"].data[1:, 1, 0], rtol=1e-12)


def _source(n: int, seed: int = 1):
    net = snn.Network()
    src = net.population(n, snn.SettablePoissonSource(), name="src")
    net.spike_monitor(src, name="s")
    return net.build(dt=DT, seed=seed)


def test_settable_poisson_mean_rate_and_silence():
    n, duration = 200, 1.0
    sim = _source(n)
    assert sim.run(0.05)["s"].count == 0  # rate_init = 0
    rates = np.linspace(10.0, 100.0, n)
    snn.set_rates(sim, "src", rates)
    counts = sim.run(duration)["s"].counts()
    p = rates * DT
    steps = round(duration / DT)
    expected, var = steps * p, steps * p * (1.0 - p)  # one Bernoulli(p) trial per step
    assert abs(counts.sum() - expected.sum()) < 4.0 * np.sqrt(var.sum())
    low, high = counts[: n // 2].sum(), counts[n // 2:].sum()
    assert abs(low - expected[: n // 2].sum()) < 4.0 * np.sqrt(var[: n // 2].sum())
    assert abs(high - expected[n // 2:].sum()) < 4.0 * np.sqrt(var[n // 2:].sum())
    snn.set_rates(sim, "src", np.zeros(n))
    assert sim.run(0.2)["s"].count == 0
    snn.set_rates(sim, "src", np.full(n, 1.0 / DT))  # p = 1: a spike every step
    assert sim.run(10 * DT)["s"].count == 10 * n


def test_set_rates_errors_name_the_argument():
    sim = _source(5)
    with pytest.raises(ValueError, match="rates has shape"):
        snn.set_rates(sim, "src", np.zeros(4))
    with pytest.raises(ValueError, match="rates must be .*>= 0"):
        snn.set_rates(sim, "src", np.array([1.0, 2.0, -1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="rates must be .*1/dt = 2000 Hz"):
        snn.set_rates(sim, "src", np.full(5, 2001.0))
    with pytest.raises(ValueError, match="rates must be finite"):
        snn.set_rates(sim, "src", np.full(5, np.nan))
    with pytest.raises(ValueError, match="population 'nope'"):
        snn.set_rates(sim, "nope", np.zeros(5))


def test_set_rates_on_batched_torch_state():
    torch = pytest.importorskip("torch")
    net = snn.Network()
    net.population(4, snn.SettablePoissonSource(), name="src")
    sim = net.build(dt=DT, seed=0, backend="torch", batch=2)
    rates = np.array([[0.0, 10.0, 20.0, 30.0], [40.0, 50.0, 60.0, 70.0]])
    snn.set_rates(sim, "src", rates)
    assert isinstance(sim.state["src"]["rate"], torch.Tensor)
    np.testing.assert_allclose(sim.state["src"]["rate"].cpu().numpy(), rates, rtol=1e-7)
    assert bool((sim.state["src"]["next_spike"] == -1).all())
    with pytest.raises(ValueError, match="rates has shape"):
        snn.set_rates(sim, "src", rates[0])
