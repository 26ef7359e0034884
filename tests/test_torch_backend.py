"""The torch simulation backend against the numba backend on the same seeded networks."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import snn  # noqa: E402
from snn.backends import available_backends  # noqa: E402
from snn.bench.cuba import cuba_network  # noqa: E402


def run_both(net, duration, dt=1e-4, seed=3, **torch_kw):
    a = net.build(dt=dt, seed=seed, backend="numba", exact_input=True).run(duration)
    b = net.build(dt=dt, seed=seed, backend="torch", **torch_kw).run(duration)
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
    whole = net.build(dt=1e-4, seed=4, backend="torch").run(0.05)
    sim = net.build(dt=1e-4, seed=4, backend="torch")
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
    a = net.build(dt=1e-4, seed=5, backend="torch").run(0.1)
    b = net.build(dt=1e-4, seed=5, backend="torch", device="cuda").run(0.1)
    assert np.array_equal(a["spikes"].indices, b["spikes"].indices)
