"""Snapshots: save a running simulation, restore it, and continue bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import plasticity as pl
import snn
from snn.snapshot import read

DT = 1e-4


def network() -> snn.Network:
    """Poisson input through plastic (pair STDP + three-factor) and delayed static synapses
    into a recurrent LIF population: state, ring buffers, traces and weights all matter."""
    net = snn.Network()
    src = net.population(60, snn.PoissonSource(rate=80.0), name="src")
    net.population(5, snn.PoissonSource(rate=20.0), name="da")
    exc = net.population(40, snn.LIF(tau_m=20e-3, v_thresh=-50e-3, v_reset=-60e-3,
                                     v_rest=-60e-3, tau_ref=2e-3), name="exc",
                         init={"v": snn.Uniform(-60e-3, -50e-3)})
    stdp = pl.PairSTDP(a_plus=1e-4, a_minus=1.2e-4, w_min=0.0, w_max=4e-3)
    net.connect(src, exc, snn.FixedProbability(0.3), weight=snn.Uniform(1e-3, 3e-3),
                delay=snn.UniformInt(1, 6), plasticity=stdp, name="ff")
    net.connect(src[:30], exc, snn.FixedProbability(0.2), weight=1e-3,
                plasticity=pl.ThreeFactor(stdp, modulator="da", tau_e=20e-3, lr=2.0, source="da"),
                name="mod")
    net.connect(exc, exc, snn.FixedProbability(0.1), weight=-0.5e-3, delay=snn.UniformInt(1, 4),
                synapse="inh", name="rec")
    net.spike_monitor(exc, name="spikes")
    net.state_monitor(exc[:5], "v", every=3, name="v")
    return net


# (backend, options, seconds per run): torch's per-step Python loop is slow on the CPU.
BACKENDS = [("numba", {}, 0.05), ("torch", {"dtype": "float64"}, 0.008)]


def _same(a: snn.Results, b: snn.Results) -> None:
    np.testing.assert_array_equal(a["spikes"].steps, b["spikes"].steps)
    np.testing.assert_array_equal(a["spikes"].indices, b["spikes"].indices)
    np.testing.assert_array_equal(a["v"].steps, b["v"].steps)
    np.testing.assert_array_equal(a["v"].data, b["v"].data)


@pytest.mark.parametrize(("backend", "options", "t"), BACKENDS)
def test_restore_continues_bit_for_bit(tmp_path, backend, options, t):
    net = network()
    ref = net.build(dt=DT, backend=backend, seed=3, **options)
    ref.run(t)
    sim = net.build(dt=DT, backend=backend, seed=3, **options)
    sim.run(t)
    path = sim.save(tmp_path / "snap.h5")
    sim.run(2 * DT)  # the saved simulation moves on; the snapshot must not
    back = snn.Simulation.restore(path)
    assert type(back) is type(ref) and back.step == ref.step and back.options == ref.options
    a, b = ref.run(t), back.run(t)
    assert a["spikes"].count > 5
    _same(a, b)
    for proj in ("ff", "mod"):
        np.testing.assert_array_equal(ref.weights(proj), back.weights(proj))
    assert not np.array_equal(ref.weights("ff"), net.build(dt=DT, backend=backend, seed=3,
                                                          **options).weights("ff"))


def test_snapshot_every_writes_snapshots_and_equals_the_plain_run(tmp_path):
    net = network()
    plain = net.build(dt=DT, seed=5)
    parts = [plain.run(0.02) for _ in range(3)]
    path = tmp_path / "snap.h5"
    res = net.run(0.06, dt=DT, seed=5, snapshot_every=0.02, snapshot=path)
    assert res.start_step == 0 and res.end_step == 600
    np.testing.assert_array_equal(res["spikes"].steps,
                                  np.concatenate([p["spikes"].steps for p in parts]))
    np.testing.assert_array_equal(res["v"].data, np.concatenate([p["v"].data for p in parts]))
    assert read(path)[3] == 600
    # A run that stopped after its second snapshot continues from it.
    second = tmp_path / "second.h5"
    net.run(0.04, dt=DT, seed=5, snapshot_every=0.02, snapshot=second)
    tail = snn.Simulation.restore(second).run(0.02)
    np.testing.assert_array_equal(tail["spikes"].steps, parts[2]["spikes"].steps)


def test_restore_rejects_wrong_class_damage_and_unsupported_backends(tmp_path):
    from snn.backends.torch import TorchSimulation

    sim = network().build(dt=DT, seed=1)
    sim.run(0.01)
    path = sim.save(tmp_path / "snap.h5")
    with pytest.raises(ValueError, match="holds a 'numba' simulation"):
        TorchSimulation.restore(path)
    import h5py

    with h5py.File(path, "r+") as fh:
        key = next(iter(fh["state"]))
        data = fh["state"][key][()]
        data.flat[0] += 1
        fh["state"][key][...] = data
    with pytest.raises(ValueError, match="damaged snapshot"):
        snn.Simulation.restore(path)

    class Elsewhere:
        backend, built, step, options = "elsewhere", sim.built, 0, {}

    with pytest.raises(ValueError, match="backend 'elsewhere' cannot save snapshots"):
        snn.snapshot.save(Elsewhere(), tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
    with pytest.raises(ValueError, match="snapshot_every"):
        network().run(0.01, dt=DT, snapshot_every=0.02)


@pytest.mark.parametrize("attribute, value", [("step", 201), ("backend", "torch"),
                                              ("options", '{"chunk_steps": 51}')])
def test_a_changed_record_attribute_is_refused(tmp_path, attribute, value):
    """The step, backend and options are attributes, outside the arrays' digests: the slow
    file fuzzer found one flipped bit that moved a snapshot's step from 200 to 201 and
    restored without a word. The record has its own digest now."""
    import h5py

    sim = network().build(dt=DT, seed=1)
    sim.run(0.01)
    path = sim.save(tmp_path / "snap.h5")
    assert read(path)[3] == sim.step
    with h5py.File(path, "r+") as fh:
        fh.attrs[attribute] = value
    with pytest.raises(ValueError, match="record .* does not match its SHA-256 digest"):
        snn.Simulation.restore(path)
