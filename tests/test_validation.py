"""Bad input raises ValueError/TypeError naming the argument."""

import numpy as np
import pytest

import snn


@pytest.mark.parametrize(
    ("build", "exc", "match"),
    [
        (lambda: snn.LIF(tau_m=0.0), ValueError, "LIF.tau_m"),
        (lambda: snn.LIF(tau_m=-1e-3), ValueError, "LIF.tau_m"),
        (lambda: snn.LIF(tau_syn_exc=float("nan")), ValueError, "LIF.tau_syn_exc"),
        (lambda: snn.LIF(tau_ref=-1e-3), ValueError, "LIF.tau_ref"),
        (lambda: snn.LIF(v_reset=-40e-3, v_thresh=-50e-3), ValueError, "v_reset"),
        (lambda: snn.LIF(reset="zero"), ValueError, "LIF.reset"),
        (lambda: snn.LIF(tau_m="fast"), TypeError, "LIF.tau_m"),
        (lambda: snn.LIF(tau_m=np.ones((2, 2))), ValueError, "LIF.tau_m"),
        (lambda: snn.PoissonSource(rate=-1.0), ValueError, "rate"),
        (lambda: snn.PoissonSource(rate=float("inf")), ValueError, "rate"),
        (lambda: snn.PoissonSource(rate=[1.0], rate_interval=0.0), ValueError, "rate_interval"),
        (lambda: snn.SpikeSource(), ValueError, "spike_times"),
        (lambda: snn.SpikeSource(spike_times=[[-1.0]]), ValueError, "spike_times"),
        (lambda: snn.FixedProbability(1.5), ValueError, "FixedProbability.p"),
        (lambda: snn.FixedProbability(-0.1), ValueError, "FixedProbability.p"),
        (lambda: snn.FixedInDegree(2.5), TypeError, "FixedInDegree.k"),
        (lambda: snn.FromList([0, 1], [0]), ValueError, "FromList.pre"),
        (lambda: snn.Uniform(1.0, 0.0), ValueError, "Uniform.high"),
    ],
)
def test_constructors_reject_bad_values(build, exc, match):
    with pytest.raises(exc, match=match):
        build()


@pytest.fixture
def net():
    n = snn.Network()
    n.population(10, snn.LIF(), name="a")
    n.population(5, snn.PoissonSource(rate=10.0), name="src")
    return n


def test_population_checks(net):
    with pytest.raises(ValueError, match="n must be >= 1"):
        net.population(0, snn.LIF())
    with pytest.raises(TypeError, match="model"):
        net.population(3, "LIF")
    with pytest.raises(ValueError, match=r"LIF.tau_m has shape \(3,\)"):
        net.population(4, snn.LIF(tau_m=np.full(3, 0.02)))
    with pytest.raises(ValueError, match="unknown state variable 'u'"):
        net.population(4, snn.LIF(), init={"u": 0.0})
    with pytest.raises(ValueError, match="already used"):
        net.population(4, snn.LIF(), name="a")


def test_connect_checks(net):
    a, src = net.populations
    with pytest.raises(ValueError, match="synapse='ampa' is not a port of LIF"):
        net.connect(src, a, weight=1.0, synapse="ampa")
    with pytest.raises(ValueError, match="spike sources take no input"):
        net.connect(a, src, weight=1.0)
    with pytest.raises(ValueError, match="weight must be finite"):
        net.connect(src, a, weight=float("nan"))
    with pytest.raises(TypeError, match="whole time steps"):
        net.connect(src, a, weight=1.0, delay=1.5)
    with pytest.raises(ValueError, match="delay must be >= 1"):
        net.connect(src, a, weight=1.0, delay=0)
    with pytest.raises(TypeError, match="connector"):
        net.connect(src, a, 0.1, weight=1.0)
    other = snn.Network().population(3, snn.LIF())
    with pytest.raises(ValueError, match="not in this network"):
        net.connect(other, a, weight=1.0)


def test_build_time_checks(net):
    a, src = net.populations
    net.connect(src, a, snn.AllToAll(), weight=np.ones(7))
    with pytest.raises(ValueError, match="connector made 50 synapses"):
        net.instantiate(1e-4, 0)


def test_missing_weight_is_named():
    n = snn.Network()
    a = n.population(3, snn.LIF())
    n.connect(a, a, snn.OneToOne())
    with pytest.raises(ValueError, match="pass weight="):
        n.instantiate(1e-4, 0)


def test_run_checks(net):
    with pytest.raises(ValueError, match=r"dt=0.03 s is larger than LIF.tau_m"):
        net.run(0.1, dt=0.03)
    with pytest.raises(ValueError, match="duration"):
        net.run(-1.0)
    with pytest.raises(ValueError, match="backend='gpu' is unknown; known backends: numba"):
        net.run(0.1, backend="gpu")
    with pytest.raises(ValueError, match="whole number of steps"):
        net.build(dt=1e-4, seed=0).run(1.5e-4)
    fast = snn.Network()
    fast.population(2, snn.PoissonSource(rate=2e4))
    with pytest.raises(ValueError, match="more than one spike per step"):
        fast.run(0.01, dt=1e-4)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        net.run(0.1, seed=-3)


def test_state_monitor_checks(net):
    a, _ = net.populations
    with pytest.raises(ValueError, match="'w', not a state variable of LIF"):
        net.state_monitor(a, ["w"])
    with pytest.raises(ValueError, match="every must be >= 1"):
        net.state_monitor(a, "v", every=0)



@pytest.mark.parametrize(("option", "value"), [("chunk_steps", 0), ("spike_capacity", -1)])
def test_backend_options_are_checked(net, option, value):
    with pytest.raises(ValueError, match=f"{option} must be >= 1"):
        net.build(dt=1e-4, seed=0, **{option: value})
