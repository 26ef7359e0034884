"""Single-neuron behaviour against closed-form solutions."""

import numpy as np
import pytest

import snn


def single(model, duration, dt, init=None, every=1, variables=("v",)):
    net = snn.Network()
    pop = net.population(1, model, name="n", init=init)
    net.spike_monitor(pop, name="spikes")
    net.state_monitor(pop, list(variables), every=every, name="state")
    return net.run(duration, dt=dt, seed=0)


def test_lif_membrane_matches_exponential_charging():
    tau, el, drive = 20e-3, -70e-3, 15e-3
    model = snn.LIF(tau_m=tau, v_rest=el, v_reset=-80e-3, v_thresh=0.0, i_bias=drive)
    res = single(model, 0.1, 1e-4)
    t = res["state"].times
    expected = el + drive * (1 - np.exp(-t / tau))
    np.testing.assert_allclose(res["state"]["v"][:, 0], expected, rtol=0, atol=1e-12)
    assert res["spikes"].count == 0


@pytest.mark.parametrize("reset", ["value", "subtract"])
def test_lif_firing_rate_matches_analytic(reset):
    tau, el, vr, vt, tref, drive = 20e-3, -65e-3, -70e-3, -50e-3, 2e-3, 20e-3
    dt, duration = 1e-5, 2.0
    model = snn.LIF(tau_m=tau, v_rest=el, v_reset=vr, v_thresh=vt, tau_ref=tref,
                    i_bias=drive, reset=reset)
    res = single(model, duration, dt, init={"v": vr}, every=1000)
    steps = res["spikes"].steps
    isi = np.diff(steps)
    if reset == "value":
        t_charge = tau * np.log((el + drive - vr) / (el + drive - vt))
        rate = 1.0 / (tref + t_charge)
        measured = 1.0 / (isi.mean() * dt)
        assert measured == pytest.approx(rate, rel=5e-3)
        # Discrete time: the ISI is the refractory steps plus the steps to cross threshold.
        assert set(isi) == {int(round(tref / dt)) + int(np.ceil(t_charge / dt))}
    else:
        # By subtraction the neuron keeps the overshoot: ISIs are no longer all equal,
        # but the mean stays within one step of the continuous-time period.
        t_charge = tau * np.log((el + drive - vr) / (el + drive - vt))
        assert abs(isi.mean() * dt - (tref + t_charge)) < 2 * dt


@pytest.mark.parametrize("tau_s", [5e-3, 20e-3])
@pytest.mark.parametrize("port", ["exc", "inh"])
def test_psp_matches_analytic_kernel(tau_s, port):
    tau_m, el, w, dt = 20e-3, -65e-3, 2e-3 if port == "exc" else -2e-3, 1e-4
    net = snn.Network()
    src = net.population(1, snn.SpikeSource(spike_steps=[[100]]), name="src")
    kw = {"tau_syn_exc": tau_s} if port == "exc" else {"tau_syn_inh": tau_s}
    post = net.population(1, snn.LIF(tau_m=tau_m, v_rest=el, **kw), name="post")
    net.connect(src, post, snn.OneToOne(), weight=w, synapse=port)
    net.state_monitor(post, ["v"], name="state")
    res = net.run(0.1, dt=dt, seed=0)
    v = res["state"]["v"][:, 0]
    s = (res["state"].steps - 101) * dt  # the spike of step 100 arrives at step 101
    if tau_s == tau_m:
        psp = w * s / tau_m * np.exp(-s / tau_m)
    else:
        psp = w * tau_s / (tau_s - tau_m) * (np.exp(-s / tau_s) - np.exp(-s / tau_m))
    expected = np.where(s >= 0, el + psp, el)
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-10)  # float64 round-off
    peak = np.argmax(np.abs(v - el))
    assert abs(v[peak] - el) > 0.1 * abs(w)


def test_if_integrates_delta_inputs_and_bias():
    net = snn.Network()
    src = net.population(1, snn.SpikeSource(spike_steps=[[5, 6, 7]]), name="src")
    post = net.population(1, snn.IF(v_thresh=2.5, i_bias=10.0), name="post")
    net.connect(src, post, snn.OneToOne(), weight=1.0)
    net.state_monitor(post, ["v"], name="state")
    net.spike_monitor(post, name="spikes")
    res = net.run(1e-3, dt=1e-4, seed=0)
    v = res["state"]["v"][:, 0]
    # The bias adds 1e-3 V per step. Inputs arrive at steps 6, 7, 8 and are integrated in
    # that step's update, so the monitor (reading at step start) shows them one step later.
    assert v[6] == pytest.approx(6e-3)
    assert v[7] == pytest.approx(7e-3 + 1.0)
    assert v[8] == pytest.approx(8e-3 + 2.0)
    assert res["spikes"].steps.tolist() == [8]  # the third input crosses 2.5 in step 8
    assert v[9] == pytest.approx(9e-3 + 3.0 - 2.5)  # reset by subtraction keeps the overshoot


def test_lif_refractory_holds_v_at_reset():
    model = snn.LIF(tau_m=10e-3, v_rest=0.0, v_reset=-0.01, v_thresh=0.01, tau_ref=5e-3,
                    i_bias=0.05)
    res = single(model, 0.05, 1e-4, init={"v": 0.0})
    first = res["spikes"].steps[0]
    v = res["state"]["v"][:, 0]
    assert np.all(v[first + 1:first + 51] == -0.01)  # 50 steps = 5 ms held at v_reset
    assert v[first + 52] > -0.01


def test_delta_synapse_lif_is_the_leaky_recurrence():
    """tau_syn = 0: v_k+1 = beta v_k + input_k, the update of snnTorch's Leaky."""
    beta, w = 0.9, 0.3
    net = snn.Network()
    src = net.population(1, snn.SpikeSource(spike_steps=[[0, 1, 2, 6]]), name="src")
    post = net.population(1, snn.LIF.from_beta(beta, v_thresh=10.0), name="post")
    readout = net.population(1, snn.LI.from_beta(0.5), name="out")
    net.connect(src, post, snn.OneToOne(), weight=w)
    net.connect(src, readout, snn.OneToOne(), weight=1.0)
    net.state_monitor(post, ["v"], name="v")
    net.state_monitor(readout, ["v"], name="r")
    res = net.run(0.012, dt=1e-3, seed=0)
    v, r = 0.0, 0.0
    expect_v, expect_r = [], []
    for k in range(12):
        expect_v.append(v)
        expect_r.append(r)
        x = 1.0 if k - 1 in (0, 1, 2, 6) else 0.0  # a spike of step s arrives at step s + 1
        v = beta * v + float(np.float32(w)) * x  # weights are stored as float32
        r = 0.5 * r + x
    np.testing.assert_allclose(res["v"]["v"][:, 0], expect_v, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(res["r"]["v"][:, 0], expect_r, rtol=1e-12, atol=1e-15)
