"""Snapshots of the SpiNNaker target: save a run, restore it, continue bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import plasticity as pl
import snn

DT = 1e-3


def network() -> snn.Network:
    """Poisson sources (JKISS32 on the core) through on-chip pair STDP (deferred updates,
    post histories), long delays (a delay-extension core) and inhibitory recurrence."""
    net = snn.Network()
    src = net.population(80, snn.PoissonSource(rate=40.0), name="src")
    exc = net.population(30, snn.LIF(tau_m=20e-3, v_thresh=-50e-3, v_reset=-60e-3,
                                     v_rest=-60e-3, tau_ref=2e-3), name="exc",
                         init={"v": snn.Uniform(-60e-3, -50e-3)})
    stdp = pl.PairSTDP(a_plus=1e-4, a_minus=1.2e-4, w_min=0.0, w_max=4e-3)
    net.connect(src, exc, snn.FixedProbability(0.5), weight=snn.Uniform(1e-3, 3e-3),
                delay=snn.UniformInt(1, 6), plasticity=stdp, name="ff")
    net.connect(src, exc, snn.FixedProbability(0.1), weight=2e-3,
                delay=snn.UniformInt(1, 90), name="slow")
    net.connect(exc, exc, snn.FixedProbability(0.2), weight=-1e-3, delay=snn.UniformInt(1, 4),
                synapse="inh", name="rec")
    net.spike_monitor(exc, name="spikes")
    net.state_monitor(exc[:5], "v", every=3, name="v")
    return net


def test_restore_continues_bit_for_bit_with_plasticity(tmp_path):
    net, t = network(), 0.25
    ref = net.build(dt=DT, backend="spinnaker", seed=3, machine="spinn3")
    assert ref.mapping.delay_vertices                     # delays to 90 > 32 slots
    ref.run(t)
    sim = net.build(dt=DT, backend="spinnaker", seed=3, machine="spinn3")
    sim.run(t)
    path = sim.save(tmp_path / "snap.h5")
    sim.run(2 * DT)   # the saved simulation moves on; the snapshot must not
    back = snn.Simulation.restore(path)
    assert type(back) is type(ref) and back.step == ref.step and back.options == ref.options
    assert back.mapping.machine == ref.mapping.machine
    a, b = ref.run(t), back.run(t)
    assert a["spikes"].count > 20
    np.testing.assert_array_equal(a["spikes"].steps, b["spikes"].steps)
    np.testing.assert_array_equal(a["spikes"].indices, b["spikes"].indices)
    np.testing.assert_array_equal(a["v"].data, b["v"].data)
    np.testing.assert_array_equal(ref.weights("ff"), back.weights("ff"))
    assert a.provenance["cores"] == b.provenance["cores"]
    assert a.provenance["totals"]["plastic_pre_synaptic_events"] > 0
    # the plastic weights moved, so the snapshot carried learned state
    fresh = net.build(dt=DT, backend="spinnaker", seed=3, machine="spinn3")
    assert not np.array_equal(ref.weights("ff"), fresh.weights("ff"))
    # and the continued run is the uninterrupted one
    whole = fresh.run(2 * t)
    tail = whole["spikes"].steps >= int(round(t / DT))
    np.testing.assert_array_equal(whole["spikes"].steps[tail], a["spikes"].steps)
    np.testing.assert_array_equal(whole["spikes"].indices[tail], a["spikes"].indices)


def test_restore_refuses_another_network(tmp_path):
    sim = network().build(dt=DT, backend="spinnaker", seed=3, machine="spinn3")
    sim.run(0.01)
    arrays = sim.state_arrays()
    other = snn.Network()
    s = other.population(5, snn.PoissonSource(rate=10.0), name="src")
    other.connect(s, other.population(3, snn.LIF(), name="exc"), weight=1e-3)
    small = other.build(dt=DT, backend="spinnaker", seed=3, machine="spinn3")
    with pytest.raises(ValueError, match="does not fit this spinnaker simulation"):
        small.load_state_arrays(arrays)
