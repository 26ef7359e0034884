"""The torch simulation backend against the numba backend on the same seeded networks."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import snn  # noqa: E402
from snn.backends import available_backends  # noqa: E402
from snn.bench.cuba import cuba_network  # noqa: E402


def run_both(net, duration, dt=1e-4, seed=3, **torch_kw):
    a = net.build(dt=dt, seed=seed, backend="numba", exact_input=True).run(duration)
    b = net.build(dt=dt, seed=seed, backend="torch", **{"dtype": "float64", **torch_kw}).run(duration)
    return a, b


def test_registered():
    assert {"numba", "torch"} <= set(available_backends())


def test_cuba_spikes_identical_in_float64():
    a, b = run_both(cuba_network(4000), 0.3)
    sa, sb = a["spikes"], b["spikes"]
    assert sa.count > 3000
    assert np.array_equal(sa.steps, sb.steps) and np.array_equal(sa.indices, sb.indices)


def mixed_network():
    """Every built-in model, heterogeneous delays, both ports, views and a state monitor."""
    net = snn.Network()
    poisson = net.population(50, snn.PoissonSource(rate=np.linspace(5, 80, 50)), name="poisson")
    wave = net.population(20, snn.PoissonSource(rate=[0.0, 200.0, 50.0], rate_interval=0.02),
                          name="wave")
    given = net.population(3, snn.SpikeSource(spike_times=[[0.001, 0.02], [0.005], []]), name="given")
    lif = net.population(30, snn.LIF(tau_ref=2e-3, tau_syn_inh=10e-3, v_rest=-65e-3,
                                     reset="subtract"), name="lif",
                         init={"v": snn.Uniform(-65e-3, -55e-3)})
    iff = net.population(10, snn.IF(v_thresh=1.0, tau_ref=1e-3), name="iff")
    li = net.population(5, snn.LI(tau_m=10e-3), name="li")
    net.connect(poisson, lif, snn.FixedProbability(0.3), weight=snn.Uniform(3e-3, 9e-3),
                delay=snn.UniformInt(1, 12))
    net.connect(wave, lif[:15], snn.FixedInDegree(5), weight=1.5e-3, delay=3)
    net.connect(given, iff, snn.AllToAll(), weight=0.6)
    net.connect(lif, lif, snn.FixedProbability(0.1), weight=-1e-3, synapse="inh", delay=2)
    net.connect(lif, iff, snn.FixedProbability(0.5), weight=0.2, delay=snn.UniformInt(1, 4))
    net.connect(iff, li, snn.AllToAll(), weight=0.1)
    for pop in (poisson, wave, given, lif, iff):
        net.spike_monitor(pop, name=f"{pop.name}_spikes")
    net.state_monitor(lif[[0, 7]], ["v", "i_exc", "i_inh"], every=3, name="lif_v")
    net.state_monitor(li, ["v"], name="li_v")
    return net


def test_every_model_delays_and_monitors_identical_in_float64():
    a, b = run_both(mixed_network(), 0.1, seed=11)
    for name in a.spikes:
        sa, sb = a[name], b[name]
        assert np.array_equal(sa.steps, sb.steps) and np.array_equal(sa.indices, sb.indices), name
    assert a["lif_spikes"].count > 20 and a["iff_spikes"].count > 0
    for name in ("lif_v", "li_v"):
        np.testing.assert_array_equal(a[name].steps, b[name].steps)
        np.testing.assert_array_equal(a[name].data, b[name].data)


def test_float32_agrees_on_a_feedforward_network():
    net = snn.Network()
    src = net.population(200, snn.PoissonSource(rate=20.0), name="src")
    out = net.population(100, snn.LIF(tau_ref=2e-3), name="out")
    net.connect(src, out, snn.FixedProbability(0.2), weight=snn.Uniform(4e-3, 9e-3))
    net.spike_monitor(out, name="s")
    a, b = run_both(net, 0.5, seed=2, dtype="float32")
    ka = set(zip(a["s"].steps.tolist(), a["s"].indices.tolist(), strict=True))
    kb = set(zip(b["s"].steps.tolist(), b["s"].indices.tolist(), strict=True))
    assert len(ka) > 500
    assert len(ka & kb) / len(ka | kb) >= 0.999


def test_continued_runs_and_hdf5(tmp_path):
    net = cuba_network(400)
    whole = net.build(dt=1e-4, seed=4, backend="torch", dtype="float64").run(0.05)
    sim = net.build(dt=1e-4, seed=4, backend="torch", dtype="float64")
    first, second = sim.run(0.02), sim.run(0.03, hdf5=tmp_path / "r.h5")
    steps = np.concatenate([first["spikes"].steps, second["spikes"].steps])
    assert np.array_equal(steps, whole["spikes"].steps)
    assert snn.Results.load(tmp_path / "r.h5")["spikes"].count == second["spikes"].count


def test_argument_errors():
    net = cuba_network(100)
    with pytest.raises(ValueError, match="dtype='float16' is not supported"):
        net.build(backend="torch", dtype="float16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            net.build(backend="torch", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    net = cuba_network(1000)
    a = net.build(dt=1e-4, seed=5, backend="torch", dtype="float64").run(0.1)
    b = net.build(dt=1e-4, seed=5, backend="torch", dtype="float64", device="cuda").run(0.1)
    assert np.array_equal(a["spikes"].indices, b["spikes"].indices)


def family_network(steps):
    """AdaptiveLIF (both resets, refractory), MetaNeuron (both resets), UltraLIF and UltraDLIF,
    driven by Poisson and SpikeSource inputs through both ports with heterogeneous delays,
    coupled to each other, per-neuron parameters, every declared state variable monitored.
    The subtract-reset populations straddle 0 V (threshold above, reset below), so that
    ``v - (v_thresh - v_reset)`` rounds differently from ``v - v_thresh + v_reset``."""
    rng = np.random.default_rng(5)
    net = snn.Network()
    poisson = net.population(40, snn.PoissonSource(rate=np.linspace(20.0, 300.0, 40)), name="poisson")
    trains = [np.unique(rng.integers(0, steps, 80)).tolist() for _ in range(10)]
    given = net.population(10, snn.SpikeSource(spike_steps=trains), name="given")
    alif_v = net.population(
        20, snn.AdaptiveLIF(tau_m=np.linspace(15e-3, 25e-3, 20), tau_ref=2e-3, tau_syn_inh=10e-3,
                            tau_theta=50e-3, theta_plus=2e-3), name="alif_v",
        init={"v": snn.Uniform(-65e-3, -52e-3)})
    alif_s = net.population(
        15, snn.AdaptiveLIF(tau_ref=0.0, tau_syn_exc=0.0, reset="subtract", v_rest=-20e-3,
                            v_reset=-20e-3, v_thresh=4e-3, tau_theta=30e-3,
                            theta_plus=np.linspace(0.5e-3, 3e-3, 15), theta_init=1e-3), name="alif_s")
    meta_v = net.population(
        20, snn.MetaNeuron(kappa=np.linspace(0.5e-3, 2e-3, 20), v_reset=-70e-3), name="meta_v",
        init={"v": snn.Uniform(-65e-3, -55e-3)})
    meta_s = net.population(10, snn.MetaNeuron(tau_m=10e-3, v_rest=-10e-3, v_reset=-10e-3, v_thresh=5e-3,
                                               kappa=1.5e-3, reset="subtract"), name="meta_s")
    ultra = net.population(16, snn.UltraLIF(eps=0.5, theta=np.linspace(0.8, 1.2, 16), tau=0.9),
                           name="ultra")
    dlif = net.population(12, snn.UltraDLIF(eps=0.3, tau=0.95, theta=np.linspace(1.0, 1.4, 12)),
                          name="dlif")
    volts = {alif_v: 4e-3, alif_s: 1.5e-3, meta_v: 1.5e-3, meta_s: 1.5e-3, ultra: 0.8, dlif: 0.5}
    for pop, w in volts.items():
        net.connect(poisson, pop, snn.FixedProbability(0.3), weight=snn.Uniform(0.5 * w, w),
                    delay=snn.UniformInt(1, 8))
        net.connect(given, pop, snn.FixedProbability(0.4), weight=snn.Uniform(-w, -0.2 * w),
                    synapse="inh", delay=snn.UniformInt(1, 5))
        net.connect(given, pop, snn.FixedProbability(0.3), weight=0.5 * w, delay=snn.UniformInt(2, 6))
    net.connect(alif_v, meta_v, snn.FixedProbability(0.3), weight=2e-3, delay=snn.UniformInt(1, 4))
    net.connect(meta_v, alif_s, snn.FixedProbability(0.3), weight=-1e-3, synapse="inh", delay=2)
    net.connect(alif_s, ultra, snn.FixedProbability(0.3), weight=0.3, delay=snn.UniformInt(1, 3))
    net.connect(ultra, dlif, snn.FixedProbability(0.3), weight=0.2, delay=snn.UniformInt(1, 6))
    net.connect(dlif, ultra, snn.FixedProbability(0.3), weight=-0.2, synapse="inh", delay=3)
    net.connect(meta_s, meta_s, snn.FixedProbability(0.2), weight=-1e-3, synapse="inh",
                delay=snn.UniformInt(1, 3))
    for pop in (poisson, given, alif_v, alif_s, meta_v, meta_s, ultra, dlif):
        net.spike_monitor(pop, name=f"{pop.name}_spikes")
    for pop in (alif_v, alif_s, meta_v, meta_s, ultra, dlif):
        net.state_monitor(pop, [v.name for v in pop.model.state_vars], name=f"{pop.name}_state")
    return net


@pytest.fixture
def one_thread():
    """Many small sparse products a step: with several threads, start-up costs dominate."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_neuron_family_spikes_and_states_identical_in_float64(one_thread):
    steps = 1500
    a, b = run_both(family_network(steps), steps * 1e-4, seed=8)
    for name in a.spikes:
        sa, sb = a[name], b[name]
        assert sa.count > 0, f"{name} never spikes"
        assert np.array_equal(sa.steps, sb.steps) and np.array_equal(sa.indices, sb.indices), name
    for name in a.states:
        assert a[name].steps.size == steps
        np.testing.assert_array_equal(a[name].steps, b[name].steps)
        np.testing.assert_array_equal(a[name].data, b[name].data, err_msg=name)
