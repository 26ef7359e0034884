"""The chunked torch engine (whole chunks on the device, no host synchronisation) against the
loop engine and the numba backend, on the CPU: the same code path as on CUDA minus the graph
capture, with the Triton kernels in Triton's interpreter."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from test_batch import same_spikes, stack  # noqa: E402
from test_snapshot import network as plastic_network  # noqa: E402
from test_torch_backend import family_network, mixed_network  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import snn  # noqa: E402
from snn.backends import numba_rng  # noqa: E402
from snn.backends.torch import chunked, kernels, libm, rng  # noqa: E402
from snn.bench.cuba import cuba_network  # noqa: E402

DT = 1e-4
CHUNKED = {"backend": "torch", "dtype": "float64", "engine": "chunked"}


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensor operations on a shared 2-core machine: one intra-op thread is faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_same(a: snn.Results, b: snn.Results) -> None:
    assert a.spikes.keys() == b.spikes.keys() and a.states.keys() == b.states.keys()
    for name in a.spikes:
        assert same_spikes(a.spikes[name], b.spikes[name]), name
    for name in a.states:
        np.testing.assert_array_equal(a[name].steps, b[name].steps)
        np.testing.assert_array_equal(a[name].data, b[name].data)


def numba(net, duration, seed, **kw):
    return net.build(dt=DT, seed=seed, exact_input=True, **kw).run(duration)


def feedforward(rate: float = 20.0) -> snn.Network:
    net = snn.Network()
    src = net.population(200, snn.PoissonSource(rate=rate), name="src")
    out = net.population(100, snn.LIF(tau_ref=2e-3), name="out")
    net.connect(src, out, snn.FixedProbability(0.2), weight=snn.Uniform(4e-3, 9e-3),
                delay=snn.UniformInt(1, 3))
    net.spike_monitor(src, name="inputs")
    net.spike_monitor(out, name="s")
    return net


def test_cuba_equals_loop_engine_and_numba_in_float64():
    net = cuba_network(1000)
    a = numba(net, 0.1, 3)
    loop = net.build(dt=DT, seed=3, backend="torch", dtype="float64", engine="loop").run(0.1)
    sim = net.build(dt=DT, seed=3, chunk_steps=400, **CHUNKED)
    b = sim.run(0.1)
    assert a["spikes"].count > 300
    assert_same(a, b)
    assert_same(loop, b)
    assert sim.options["engine"] == "chunked" and sim.options["kernels"] == "auto"


def test_feedforward_poisson_with_triton_kernel_equals_numba():
    """The Triton kernels (compaction, delivery, arrival; interpreted on the CPU) and their
    torch equivalents give the same spikes as numba."""
    net = feedforward(rate=80.0)
    a = numba(net, 0.012, 2)
    assert a["s"].count > 30
    for way in ("triton", "torch"):
        if way == "triton" and not kernels.HAVE_TRITON:
            continue
        assert_same(a, net.build(dt=DT, seed=2, kernels=way, chunk_steps=50, spike_capacity=4,
                                 **CHUNKED).run(0.012))


def test_every_model_delays_subsets_and_state_monitors_equal_numba():
    net = mixed_network()
    net.spike_monitor(net.populations[3][[1, 4, 9, 20]], name="lif_subset")
    a = numba(net, 0.06, 11)
    assert a["lif_subset"].count > 0
    assert_same(a, net.build(dt=DT, seed=11, chunk_steps=170, **CHUNKED).run(0.06))


def test_batch_is_vectorised_and_equals_numba():
    a = stack().build(dt=DT, seed=3, batch=3, exact_input=True).run(0.03)
    sim = stack().build(dt=DT, seed=3, batch=3, **CHUNKED)
    assert all(samples is None for *_, samples in sim._chunked.pops)  # no loop over samples
    assert_same(a, sim.run(0.03))


def test_per_sample_spike_trains_that_cannot_be_stacked_step_sample_by_sample():
    trains = [[[0.001, 0.003], []], [[0.002], [0.001, 0.002, 0.004]]]
    net = snn.Network()
    src = net.population(2, snn.SpikeSource(spike_times=trains[0]), name="src",
                         per_sample={"spike_times": trains})
    net.spike_monitor(src)
    rec = net.run(0.005, dt=1e-3, batch=2, **CHUNKED).spikes["src_spikes"]
    got = sorted(zip(rec.samples.tolist(), rec.indices.tolist(), rec.steps.tolist(), strict=True))
    assert got == [(0, 0, 1), (0, 0, 3), (1, 0, 2), (1, 1, 1), (1, 1, 2), (1, 1, 4)]


def test_a_network_without_projections_or_spike_monitors():
    net = snn.Network()
    pop = net.population(5, snn.LIF(tau_m=10e-3, v_rest=-0.04), name="p")
    net.state_monitor(pop, "v", name="v")
    a, b = numba(net, 0.01, 0), net.build(dt=DT, seed=0, **CHUNKED).run(0.01)
    assert a["v"].data.shape == (100, 1, 5)
    assert_same(a, b)


def test_adaptive_meta_and_ultra_neurons_equal_numba():
    steps = 400
    net = family_network(steps)
    a = numba(net, steps * DT, 8)
    assert all(rec.count > 0 for rec in a.spikes.values())
    assert_same(a, net.build(dt=DT, seed=8, chunk_steps=150, **CHUNKED).run(steps * DT))


def conductance_network() -> snn.Network:
    """The models neither other network has: settable Poisson, conductance-based LIF with
    and without an adaptive threshold."""
    net = snn.Network()
    drive = net.population(30, snn.SettablePoissonSource(rate_init=150.0), name="drive")
    cond = net.population(20, snn.ConductanceLIF(tau_ref=2e-3), name="cond",
                          init={"v": snn.Uniform(-70e-3, -55e-3)})
    adapt = net.population(10, snn.AdaptiveConductanceLIF(), name="adapt")
    net.connect(drive, cond, snn.FixedProbability(0.5), weight=snn.Uniform(0.05, 0.3),
                delay=snn.UniformInt(1, 4))
    net.connect(cond, adapt, snn.FixedProbability(0.5), weight=0.4, delay=2)
    net.connect(adapt, cond, snn.AllToAll(), weight=0.1, synapse="inh")
    for pop in (drive, cond, adapt):
        net.spike_monitor(pop, name=f"{pop.name}_spikes")
    net.state_monitor(cond[:3], ["v", "g_exc"], every=2, name="cond_v")
    return net


def test_conductance_models_and_settable_poisson_equal_numba():
    net = conductance_network()
    a = numba(net, 0.03, 4)
    assert a["cond_spikes"].count > 0 and a["adapt_spikes"].count > 0
    assert_same(a, net.build(dt=DT, seed=4, **CHUNKED).run(0.03))


class _HostSyncs(TorchDispatchMode):
    """Records the operations that would make a CUDA step wait for the host or copy host
    data to the device (either breaks CUDA graph capture)."""

    SYNCS = {"_local_scalar_dense", "is_nonzero", "item", "nonzero", "masked_select", "unique",
             "_unique2", "repeat_interleave", "lift_fresh", "lift_fresh_copy"}

    def __init__(self) -> None:
        super().__init__()
        self.found = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        masks = [a for a in args if isinstance(a, (list, tuple)) for a in a
                 if isinstance(a, torch.Tensor) and a.dtype == torch.bool]
        if name in self.SYNCS or (name.startswith("index") and masks):
            self.found.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("network", ["mixed", "family", "conductance", "batched"])
def test_a_step_never_waits_for_the_host(network, monkeypatch):
    """What CUDA graph capture needs, checked on the CPU: every model's step, the compaction,
    delivery, arrival and monitors run without a host synchronisation or host-to-device
    copy. (``libm`` runs the C library through NumPy for float64 CPU tensors only; on CUDA it
    is torch's, as patched in here.)"""
    monkeypatch.setattr(libm, "_apply", lambda kernel, fallback, x: fallback(x))
    nets = {"mixed": mixed_network, "family": lambda: family_network(200),
            "conductance": conductance_network, "batched": stack}
    kw = {"batch": 3} if network == "batched" else {}
    sim = nets[network]().build(dt=DT, seed=1, backend="torch", dtype="float32",
                                engine="chunked", **kw)
    sim.run(0.002)
    with _HostSyncs() as mode:
        for _ in range(5):
            sim._chunked._step()
    assert mode.found == []


def test_plastic_projections_equal_numba_and_their_weights_learn():
    net = plastic_network()
    ref = net.build(dt=DT, seed=3)
    a = ref.run(0.03)
    sim = net.build(dt=DT, seed=3, chunk_steps=128, **CHUNKED)
    assert_same(a, sim.run(0.03))
    for proj in ("ff", "mod"):
        np.testing.assert_array_equal(ref.weights(proj), sim.weights(proj))
    assert not np.array_equal(sim.weights("ff"), net.build(dt=DT, seed=3).weights("ff"))


def test_overflowing_buffers_rerun_the_chunk_and_lose_no_spike():
    """A capacity of one spike per step and a two-entry monitor buffer: every chunk overflows,
    is restored from its saved start and run again with larger buffers."""
    net = mixed_network()
    a = numba(net, 0.03, 11)
    sim = net.build(dt=DT, seed=11, chunk_steps=100, spike_capacity=1, **CHUNKED)
    for rec in sim._chunked.spike_recorders:
        rec.allocate(2)
    assert_same(a, sim.run(0.03))
    assert max(c.capacity for c in sim._chunked.compactions.values()) > 1 and sim._chunked.reruns
    assert max(rec.capacity for rec in sim._chunked.spike_recorders) > 2
    # plastic projections (state and weights are restored too)
    ref = plastic_network().build(dt=DT, seed=3)
    b = plastic_network().build(dt=DT, seed=3, chunk_steps=64, spike_capacity=1, **CHUNKED)
    assert_same(ref.run(0.02), b.run(0.02))
    np.testing.assert_array_equal(ref.weights("ff"), b.weights("ff"))


def test_graph_replay_bookkeeping_with_a_stand_in_graph(monkeypatch):
    """The CUDA graph path's step counting, on the CPU: ``_capture`` is replaced by a stand-in
    that, like the real one, runs one step and returns a replay of ``GRAPH_STEPS`` steps.
    Chunks of 95 steps (9 replays and 4 eager steps after the warm-up) and forced overflows
    (a new capture after each) still give numba's spikes."""
    net = mixed_network()
    a = numba(net, 0.03, 11)
    sim = net.build(dt=DT, seed=11, chunk_steps=95, spike_capacity=1, **CHUNKED)
    engine = sim._chunked
    captures = []

    def capture():
        engine._step()
        captures.append(int(engine.k))
        return lambda: [engine._step() for _ in range(chunked.GRAPH_STEPS)]

    monkeypatch.setattr(engine, "_capture", capture)
    engine.cuda_graphs = True
    assert_same(a, sim.run(0.03))
    assert len(captures) > 1 and captures[0] == 1


def test_continued_runs_and_snapshots(tmp_path):
    net = plastic_network()
    whole = net.build(dt=DT, seed=3, **CHUNKED).run(0.02)
    sim = net.build(dt=DT, seed=3, chunk_steps=50, **CHUNKED)
    first = sim.run(0.01)
    path = sim.save(tmp_path / "snap.h5")
    back = snn.Simulation.restore(path)
    assert back.options == sim.options and back.engine == "chunked"
    second, again = sim.run(0.01), back.run(0.01)
    assert_same(second, again)
    np.testing.assert_array_equal(
        np.concatenate([first["spikes"].steps, second["spikes"].steps]), whole["spikes"].steps)


def test_float32_agrees_with_numba_on_a_feedforward_network():
    net = feedforward()
    a = net.build(dt=DT, seed=2, exact_input=True).run(0.2)
    b = net.build(dt=DT, seed=2, backend="torch", dtype="float32", engine="chunked").run(0.2)
    assert same_spikes(a["inputs"], b["inputs"])  # the random streams are the same
    ka = set(zip(a["s"].steps.tolist(), a["s"].indices.tolist(), strict=True))
    kb = set(zip(b["s"].steps.tolist(), b["s"].indices.tolist(), strict=True))
    assert len(ka) > 300
    assert len(ka & kb) / len(ka | kb) >= 0.999


def test_float32_equals_the_loop_engine():
    net = cuba_network(1000)
    a = net.build(dt=DT, seed=1, backend="torch", dtype="float32").run(0.05)
    b = net.build(dt=DT, seed=1, backend="torch", dtype="float32", engine="chunked").run(0.05)
    assert a["spikes"].count > 100
    assert_same(a, b)


def pooled_cuba_counts(**torch_kw) -> tuple[int, int]:
    """CUBA 4000 for 1 s on seeds 1-3: total spikes of numba (float64) and of torch float32.
    Single runs of this chaotic network differ by up to about 3% either way once float32
    rounding has made the trajectories diverge (measured: -2.8%, +2.5%, -0.3%), so the
    rate is compared over three seeds."""
    net = cuba_network(4000)
    a = sum(net.build(dt=DT, seed=s).run(1.0)["spikes"].count for s in (1, 2, 3))
    b = sum(net.build(dt=DT, seed=s, backend="torch", dtype="float32", **torch_kw).run(1.0)
            ["spikes"].count for s in (1, 2, 3))
    return a, b


@pytest.mark.slow
def test_cuba_float32_rate_within_two_percent_of_numba():
    a, b = pooled_cuba_counts(engine="chunked")
    assert a > 30000
    assert abs(b / a - 1) < 0.02


def test_delivery_kernels_equal_a_hand_written_scatter():
    g = np.random.default_rng(0)
    n_pre, n_post, batch, depth = 40, 30, 2, 4
    lengths = g.integers(0, 20, n_pre)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = g.integers(0, n_post, indptr[-1]).astype(np.int32)
    weights = g.uniform(-1, 1, indptr[-1]).astype(np.float32)
    delays = g.integers(0, 3, indptr[-1]).astype(np.int32)
    fired = [3, 7, 41, 79]  # flat sample * n_pre + neuron; buffer has one stale entry
    expected = np.zeros((depth, batch, n_post))
    for f in fired:
        b, i = divmod(f, n_pre)
        for q in range(indptr[i], indptr[i + 1]):
            expected[(5 + delays[q]) % depth, b, indices[q]] += np.float64(weights[q])
    ways = ["torch"] + (["triton"] if kernels.HAVE_TRITON else [])
    for way in ways:
        ring = torch.zeros((depth, batch, n_post), dtype=torch.float64)
        kernels.deliver(torch.tensor(fired + [12, 0]), torch.tensor([4]), 5,
                        torch.as_tensor(indptr), torch.as_tensor(indices), torch.as_tensor(weights),
                        torch.as_tensor(delays), ring, torch.tensor(5), n_pre, n_post,
                        int(lengths.max()), way == "triton")
        np.testing.assert_allclose(ring.numpy(), expected, rtol=0, atol=1e-12, err_msg=way)


def test_compaction_and_arrival_kernels():
    """Compaction appends the codes of set flags after the count, drops (but counts) those
    beyond the capacity and raises the peak; arrival adds a ring slot rounded to the target's
    dtype and clears it."""
    flags = torch.as_tensor(np.random.default_rng(1).random(3000) < 0.02)
    want = (np.flatnonzero(flags.numpy()) + 4 * 3000).tolist()  # k - k0 = 4, stride 3000
    ways = [False] + ([True] if kernels.HAVE_TRITON else [])
    index = torch.arange(3000)
    for use_triton in ways:
        for capacity in (100, 20):
            out = torch.full((capacity + 1,), -1)
            count, peak = torch.tensor([5]), torch.tensor([0])
            kernels.compact(flags, out, count, capacity, torch.tensor(9), torch.tensor(5), 3000,
                            index, use_triton, peak=peak)
            assert int(count) == 5 + len(want) and int(peak) == int(count)
            got = out[5:capacity].tolist()
            if capacity == 100:
                assert sorted(got[:len(want)]) == want and got[len(want):] == [-1] * (95 - len(want))
            else:
                assert set(got) <= set(want) and len(set(got)) == 15  # the rest was dropped
        ring = torch.arange(24, dtype=torch.float64).reshape(3, 2, 4) / 3
        target = torch.ones((2, 4), dtype=torch.float32)
        kernels.arrive(ring, target, torch.tensor(4), use_triton)  # slot (4 + 1) % 3 = 2
        expected = 1 + (torch.arange(16, 24, dtype=torch.float64) / 3).to(torch.float32)
        assert torch.equal(target, expected.reshape(2, 4))
        assert torch.equal(ring[2], torch.zeros(2, 4)) and float(ring[1].sum()) > 0


def test_random_streams_per_sample_equal_numba():
    j = torch.arange(5)
    streams = torch.tensor([[2], [9]])
    got = rng.uniform01(77, streams, torch.tensor(13), j).numpy()
    want = [[numba_rng.uniform01(77, s, 13, i) for i in range(5)] for s in (2, 9)]
    np.testing.assert_array_equal(got, want)
    assert rng.uniform01(77, 9, 13, 4).item() == numba_rng.uniform01(77, 9, 13, 4)


def test_argument_errors_name_the_option():
    net = feedforward()
    with pytest.raises(ValueError, match="engine='fast' is not known"):
        net.build(backend="torch", engine="fast")
    with pytest.raises(ValueError, match="kernels='cuda' is not known"):
        net.build(backend="torch", engine="chunked", kernels="cuda")
    with pytest.raises(ValueError, match="options of engine='chunked'"):
        net.build(backend="torch", spike_capacity=8)
    with pytest.raises(ValueError, match="spike_capacity"):
        net.build(backend="torch", engine="chunked", spike_capacity=0)
    with pytest.raises(TypeError, match="cuda_graphs must be True or False"):
        net.build(backend="torch", engine="chunked", cuda_graphs="yes")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_chunks_equal_the_loop_engine_on_the_gpu():
    """On a GPU: the captured and replayed step gives the loop engine's spikes on the same
    device (float64), with graphs, without, and after forced overflows (recapture)."""
    net = mixed_network()
    loop = net.build(dt=DT, seed=11, backend="torch", dtype="float64", device="cuda",
                     engine="loop").run(0.05)
    for kw in ({}, {"cuda_graphs": False}, {"spike_capacity": 1, "chunk_steps": 100},
               {"kernels": "torch"}):
        sim = net.build(dt=DT, seed=11, device="cuda", **{**CHUNKED, **kw})
        assert sim._chunked.cuda_graphs == kw.get("cuda_graphs", True)
        assert_same(loop, sim.run(0.05))
    gpu = {"backend": "torch", "dtype": "float64", "device": "cuda"}
    batched = [stack().build(dt=DT, seed=3, batch=3, engine=e, **gpu) for e in ("loop", "chunked")]
    assert_same(batched[0].run(0.03), batched[1].run(0.03))
    # Plastic weights are not float32 values, and index_add_ on CUDA adds in any order, so
    # plastic runs on a GPU agree to rounding, not bit for bit (the loop engine's too).
    plastic = [plastic_network().build(dt=DT, seed=3, engine=e, **gpu).run(0.03)["spikes"]
               for e in ("loop", "chunked")]
    ka, kb = ({*zip(r.steps.tolist(), r.indices.tolist(), strict=True)} for r in plastic)
    assert len(ka) > 5 and len(ka & kb) / len(ka | kb) >= 0.95


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_float32_agrees_with_numba():
    net = feedforward()
    a = net.build(dt=DT, seed=2, exact_input=True).run(0.2)
    b = net.build(dt=DT, seed=2, backend="torch", dtype="float32", device="cuda").run(0.2)
    ka = set(zip(a["s"].steps.tolist(), a["s"].indices.tolist(), strict=True))
    kb = set(zip(b["s"].steps.tolist(), b["s"].indices.tolist(), strict=True))
    assert len(ka & kb) / len(ka | kb) >= 0.999
    a, b = pooled_cuba_counts(device="cuda")
    assert abs(b / a - 1) < 0.02
