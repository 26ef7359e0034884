"""The batch axis: B independent samples of one network, with their own state, random
streams and per-sample parameters, identical on numba and torch."""

import numpy as np
import pytest

from snn import Network
from snn.connect import AllToAll, FixedProbability
from snn.distributions import Uniform
from snn.models import LIF, PoissonSource, SpikeSource
from snn.results import Results

DT = 1e-4


def stack(batch: int = 3, seed: int = 0) -> Network:
    """A 3-layer feed-forward stack (with feedback inhibition and delays) driven by Poisson
    inputs whose rates differ per sample."""
    rates = np.random.default_rng(seed).uniform(20, 120, size=(batch, 60))
    net = Network()
    inp = net.population(60, PoissonSource(rate=20.0), name="inp", per_sample={"rate": rates})
    h1 = net.population(50, LIF(tau_m=20e-3, tau_syn_exc=5e-3), name="h1",
                        init={"v": Uniform(-0.07, -0.055)})
    h2 = net.population(40, LIF(tau_m=10e-3), name="h2")
    out = net.population(10, LIF(tau_m=10e-3), name="out")
    net.connect(inp, h1, FixedProbability(0.4), weight=Uniform(0, 8e-3), synapse="exc", delay=2)
    net.connect(h1, h2, FixedProbability(0.5), weight=Uniform(0, 12e-3), synapse="exc")
    net.connect(h2, out, AllToAll(), weight=Uniform(0, 8e-3), synapse="exc", delay=3)
    net.connect(h2, h1, FixedProbability(0.2), weight=-2e-3, synapse="inh")
    for p in (inp, h1, h2, out):
        net.spike_monitor(p)
    net.state_monitor(h2[:4], "v", every=5, name="h2_v")
    return net


def same_spikes(a, b) -> bool:
    return (np.array_equal(a.steps, b.steps) and np.array_equal(a.indices, b.indices)
            and (a.samples is None or np.array_equal(a.samples, b.samples)))


@pytest.fixture(scope="module")
def numba_run() -> Results:
    return stack().build(dt=DT, seed=3, batch=3, exact_input=True).run(0.04)


def test_every_layer_spikes_and_samples_differ(numba_run):
    counts = {name: rec.counts() for name, rec in numba_run.spikes.items()}
    for name, c in counts.items():
        assert c.shape[0] == 3
        assert c.sum() > 0, name
    assert not np.array_equal(counts["inp_spikes"][0], counts["inp_spikes"][1])
    assert numba_run["h2_v"]["v"].shape[1:] == (3, 4)


def test_torch_float64_equals_numba(numba_run):
    torch = pytest.importorskip("torch")
    sim = stack().build(dt=DT, seed=3, batch=3, backend="torch", dtype="float64")
    layouts = {m.layout for *_, m in sim._projections}
    assert layouts == {torch.strided, torch.sparse_csr}  # the all-to-all projection is dense
    res = sim.run(0.04)
    for name, rec in numba_run.spikes.items():
        assert same_spikes(rec, res.spikes[name]), name
    np.testing.assert_array_equal(numba_run["h2_v"].data, res["h2_v"].data)


def test_torch_float32_agrees_on_most_spikes(numba_run):
    pytest.importorskip("torch")
    res = stack().build(dt=DT, seed=3, batch=3, backend="torch", dtype="float32").run(0.04)
    for name, rec in numba_run.spikes.items():
        ours = set(zip(rec.steps, rec.samples, rec.indices, strict=True))
        theirs = set(zip(res.spikes[name].steps, res.spikes[name].samples, res.spikes[name].indices,
                         strict=True))
        assert len(ours & theirs) >= 0.999 * max(len(ours), len(theirs)), name


def test_sample_zero_is_the_unbatched_network(numba_run):
    rates = np.random.default_rng(0).uniform(20, 120, size=(3, 60))
    net = stack(batch=1)
    net.populations[0].per_sample = {}
    net.populations[0].model = PoissonSource(rate=rates[0])
    # Initial state is drawn for all samples at once; give sample 0's draw explicitly.
    net.populations[1].init["v"] = stack().build(dt=DT, seed=3, batch=3).state["h1"]["v"][0].copy()
    single = net.build(dt=DT, seed=3, exact_input=True).run(0.04)
    for name, rec in numba_run.spikes.items():
        assert same_spikes(rec.sample(0), single.spikes[name]), name


def test_chunking_and_full_spike_buffers_change_nothing(numba_run):
    res = stack().build(dt=DT, seed=3, batch=3, exact_input=True, chunk_steps=37,
                        spike_capacity=8).run(0.04)
    for name, rec in numba_run.spikes.items():
        assert same_spikes(rec, res.spikes[name]), name
    np.testing.assert_array_equal(numba_run["h2_v"].data, res["h2_v"].data)


def test_streamed_hdf5_round_trip(numba_run, tmp_path):
    sim = stack().build(dt=DT, seed=3, batch=3, exact_input=True, chunk_steps=100)
    res = sim.run(0.04, hdf5=tmp_path / "batch.h5")
    for name, rec in numba_run.spikes.items():
        assert res.spikes[name].batch == 3
        assert same_spikes(rec, res.spikes[name]), name
    np.testing.assert_array_equal(numba_run["h2_v"].data, res["h2_v"].data)
    again = Results.load(numba_run.to_hdf5(tmp_path / "again.h5"))
    assert same_spikes(numba_run.spikes["out_spikes"], again.spikes["out_spikes"])


def test_per_sample_spike_sources_with_ragged_trains():
    trains = [[[0.001, 0.003], []], [[0.002], [0.001, 0.002, 0.004]]]
    net = Network()
    src = net.population(2, SpikeSource(spike_times=trains[0]), name="src",
                         per_sample={"spike_times": trains})
    net.spike_monitor(src)
    for backend in ("numba", "torch"):
        rec = net.run(0.005, dt=1e-3, batch=2, backend=backend).spikes["src_spikes"]
        got = sorted(zip(rec.samples.tolist(), rec.indices.tolist(), rec.steps.tolist(), strict=True))
        assert got == [(0, 0, 1), (0, 0, 3), (1, 0, 2), (1, 1, 1), (1, 1, 2), (1, 1, 4)], backend


def test_batch_errors_name_the_argument():
    net = Network()
    with pytest.raises(ValueError, match="per_sample has unknown parameter 'rates'"):
        net.population(3, PoissonSource(rate=5.0), per_sample={"rates": np.ones((2, 3))})
    pop = net.population(3, PoissonSource(rate=5.0), per_sample={"rate": np.ones((2, 3))})
    net.spike_monitor(pop)
    with pytest.raises(ValueError, match="build the network with batch="):
        net.build(dt=DT, seed=0)
    with pytest.raises(ValueError, match=r"has 2 entries but batch=4"):
        net.build(dt=DT, seed=0, batch=4)
    with pytest.raises(ValueError, match="batch must be"):
        net.build(dt=DT, seed=0, batch=0)
