"""Connectivity, delays, monitors, reproducibility and recordings."""

import numpy as np
import pytest

import snn


def test_fixed_probability_count_and_no_autapses(rng):
    pre, post, _, _ = snn.FixedProbability(0.1, allow_autapses=False).pairs(300, 300, rng, True)
    assert abs(pre.size - 0.1 * 300 * 299) < 5 * np.sqrt(0.1 * 0.9 * 300 * 299)
    assert not np.any(pre == post)
    assert np.unique(pre * 300 + post).size == pre.size


def test_fixed_in_degree_is_exact_and_distinct(rng):
    pre, post, _, _ = snn.FixedInDegree(20).pairs(50, 40, rng, False)
    assert np.all(np.bincount(post, minlength=40) == 20)
    assert np.unique(post * 50 + pre).size == pre.size


def test_from_matrix_and_list_round_trip():
    dense = np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0]])
    net = snn.Network()
    a = net.population(3, snn.IF(), name="a")
    b = net.population(2, snn.IF(), name="b")
    net.connect(a, b, snn.FromMatrix(dense))
    net.connect(a, b, snn.FromList(np.array([2, 0]), np.array([0, 1]), np.array([5.0, 6.0]),
                                   np.array([3, 1])))
    built = net.instantiate(1e-4, 0)
    m = built.projections[0]
    rows = np.repeat(np.arange(3), np.diff(m.indptr))
    assert rows.tolist() == [0, 1, 2] and m.indices.tolist() == [1, 0, 1]
    assert m.weights.tolist() == [1.0, 2.0, 3.0]
    lst = built.projections[1]
    assert lst.delays.tolist() == [1, 3] and lst.weights.tolist() == [6.0, 5.0]


def test_scipy_sparse_matrix_is_accepted():
    sparse = pytest.importorskip("scipy.sparse")
    m = sparse.random(20, 30, density=0.1, random_state=1, format="csr")
    net = snn.Network()
    a = net.population(20, snn.IF(), name="a")
    b = net.population(30, snn.IF(), name="b")
    net.connect(a, b, snn.FromMatrix(m))
    assert net.instantiate(1e-4, 0).projections[0].n_synapses == m.nnz


@pytest.mark.parametrize("delay", [1, 2, 7, 30])
def test_delay_in_steps_is_exact(delay):
    net = snn.Network()
    src = net.population(1, snn.SpikeSource(spike_steps=[[10, 50]]), name="src")
    post = net.population(1, snn.IF(v_thresh=0.5, v_reset=0.0, reset="value"), name="post")
    net.connect(src, post, snn.OneToOne(), weight=1.0, delay=delay)
    net.spike_monitor(post, name="out")
    res = net.run(0.01, dt=1e-4, seed=0)
    assert res["out"].steps.tolist() == [10 + delay, 50 + delay]


def test_heterogeneous_delays_route_each_synapse():
    net = snn.Network()
    src = net.population(1, snn.SpikeSource(spike_steps=[[0]]), name="src")
    post = net.population(4, snn.IF(v_thresh=0.5, v_reset=0.0, reset="value"), name="post")
    net.connect(src, post, snn.FromList(np.zeros(4, int), np.arange(4), np.ones(4),
                                        np.array([1, 3, 300, 2])))
    net.spike_monitor(post, name="out")
    res = net.run(0.05, dt=1e-4, seed=0)
    got = dict(zip(res["out"].indices.tolist(), res["out"].steps.tolist(), strict=True))
    assert got == {0: 1, 1: 3, 2: 300, 3: 2}


def test_views_restrict_pre_and_post():
    net = snn.Network()
    src = net.population(4, snn.SpikeSource(spike_steps=[[1], [1], [1], [1]]), name="src")
    post = net.population(6, snn.IF(v_thresh=0.5), name="post")
    net.connect(src[2:], post[[0, 5]], snn.AllToAll(), weight=0.3)
    net.spike_monitor(post, name="out")
    net.spike_monitor(post[:3], name="part")
    res = net.run(1e-3, dt=1e-4, seed=0)
    assert sorted(res["out"].indices.tolist()) == [0, 5]  # 2 inputs x 0.3 > 0.5
    assert res["part"].indices.tolist() == [0]


def cuba(seed, **kw):
    from snn.bench.cuba import cuba_network

    return cuba_network(800).run(0.2, dt=1e-4, seed=seed, **kw)


def test_same_seed_same_spikes_and_different_seed_differs():
    a, b, c = cuba(3), cuba(3), cuba(4)
    assert np.array_equal(a["spikes"].steps, b["spikes"].steps)
    assert np.array_equal(a["spikes"].indices, b["spikes"].indices)
    assert not np.array_equal(a["spikes"].indices, c["spikes"].indices)


def test_chunking_and_overflow_do_not_change_the_run():
    from snn.bench.cuba import cuba_network

    ref = cuba(5)
    odd = cuba_network(800).build(dt=1e-4, seed=5, chunk_steps=7, spike_capacity=10)
    res = odd.run(0.2)
    assert np.array_equal(ref["spikes"].steps, res["spikes"].steps)
    assert np.array_equal(ref["spikes"].indices, res["spikes"].indices)


def test_runs_continue_where_they_stopped():
    from snn.bench.cuba import cuba_network

    whole = cuba(6)
    sim = cuba_network(800).build(dt=1e-4, seed=6)
    first, second = sim.run(0.1), sim.run(0.1)
    assert second.start_step == 1000
    assert second.duration == pytest.approx(0.1)
    steps = np.concatenate([first["spikes"].steps, second["spikes"].steps])
    assert np.array_equal(steps, whole["spikes"].steps)


def test_poisson_source_rates(rng):
    net = snn.Network()
    rates = np.array([5.0, 50.0, 200.0, 0.0])
    src = net.population(4, snn.PoissonSource(rate=rates), name="src")
    net.spike_monitor(src, name="s")
    res = net.run(20.0, dt=1e-3, seed=1)
    counts = np.bincount(res["s"].indices, minlength=4)
    expected = rates * 20.0
    assert counts[3] == 0
    assert np.all(np.abs(counts[:3] - expected[:3]) < 4 * np.sqrt(expected[:3]) + 1)
    cv = [np.std(np.diff(t)) / np.mean(np.diff(t)) for t in res["s"].trains()[1:3]]
    # A Bernoulli process with p = rate * dt per step has geometric ISIs: CV = sqrt(1 - p).
    assert np.allclose(cv, np.sqrt(1 - rates[1:3] * 1e-3), atol=0.06)


def test_time_varying_poisson_follows_the_rate_table():
    net = snn.Network()
    table = np.array([0.0, 100.0, 0.0, 400.0])
    src = net.population(200, snn.PoissonSource(rate=table, rate_interval=0.5), name="src")
    net.spike_monitor(src, name="s")
    res = net.run(2.0, dt=1e-3, seed=2)
    per_window = np.bincount(res["s"].steps // 500, minlength=4) / (200 * 0.5)
    assert per_window[0] == 0 and per_window[2] == 0
    assert per_window[1] == pytest.approx(100, rel=0.1)
    assert per_window[3] == pytest.approx(400, rel=0.1)


def test_state_monitor_subset_and_every():
    from snn.bench.cuba import cuba_network

    net = cuba_network(400)
    P = net.populations[0]
    net.state_monitor(P[[3, 7]], ["v", "i_exc"], every=10, name="vm")
    res = net.run(0.05, dt=1e-4, seed=1)
    rec = res["vm"]
    assert rec.data.shape == (50, 2, 2)
    assert rec.steps.tolist() == list(range(0, 500, 10))
    assert rec["v"].shape == (50, 2)


def test_hdf5_round_trip_and_streaming_are_identical(tmp_path):
    from snn.bench.cuba import cuba_network

    net = cuba_network(400)
    net.state_monitor(net.populations[0][:5], ["v"], every=3, name="vm")
    mem = net.run(0.1, dt=1e-4, seed=2)
    path = mem.to_hdf5(tmp_path / "mem.h5")
    streamed = net.run(0.1, dt=1e-4, seed=2, hdf5=tmp_path / "stream.h5")
    for res in (snn.Results.load(path), streamed):
        assert np.array_equal(res["spikes"].steps, mem["spikes"].steps)
        assert np.array_equal(res["spikes"].indices, mem["spikes"].indices)
        assert np.array_equal(res["vm"].data, mem["vm"].data)
        assert res.seed == 2 and res.dt == 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mem.h5", "stream.h5"]


def test_damaged_results_file_gives_clear_error(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="bad.h5"):
        snn.Results.load(bad)


def test_scalar_weight_is_stored_once_and_runs_identically():
    from snn.bench import cuba

    def build(weight_e, weight_i):
        net = snn.Network()
        model = snn.LIF(tau_m=cuba.TAU_M, v_rest=cuba.E_L, v_reset=cuba.V_R, v_thresh=cuba.V_T,
                        tau_ref=cuba.T_REF, tau_syn_exc=cuba.TAU_E, tau_syn_inh=cuba.TAU_I)
        P = net.population(800, model, name="P", init={"v": snn.Uniform(cuba.V_R, cuba.V_T)})
        net.connect(P[:640], P, snn.FixedProbability(0.1), weight=weight_e, synapse="exc")
        net.connect(P[640:], P, snn.FixedProbability(0.1), weight=weight_i, synapse="inh")
        net.spike_monitor(P, name="spikes")
        return net.build(dt=1e-4, seed=8)

    hom = build(cuba.W_E, cuba.W_I)
    het = build(snn.Normal(cuba.W_E, 0.0), snn.Normal(cuba.W_I, 0.0))
    assert all(p.homogeneous for p in hom.built.projections)
    assert not any(p.homogeneous for p in het.built.projections)
    assert np.array_equal(hom.built.projections[0].synapse_weights(), het.built.projections[0].weights)
    per_syn = hom.built.synapse_bytes / hom.built.n_synapses
    assert per_syn < 4.5 < 8.0 < het.built.synapse_bytes / het.built.n_synapses <= 10
    a, b = hom.run(0.2)["spikes"], het.run(0.2)["spikes"]
    assert a.count > 0
    assert np.array_equal(a.steps, b.steps) and np.array_equal(a.indices, b.indices)


def test_written_files_follow_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = cuba(1).to_hdf5(tmp_path / "r.h5")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
