"""Memory preflight: build() refuses, before allocating, a network that cannot fit."""

from __future__ import annotations

import time

import numpy as np
import pytest

import plasticity as pl
import snn
from snn import memory


@pytest.mark.parametrize("n", [10**8, 10**9])
def test_huge_network_fails_at_once_with_the_estimate_and_the_fix(n):
    net = snn.Network()
    pop = net.population(n, snn.LIF(), name="P")
    net.connect(pop, pop, snn.FixedProbability(0.1), weight=1e-4)
    t0 = time.perf_counter()
    with pytest.raises(MemoryError, match=r"build\(\) would need about .* PiB .*synapses.*"
                                          r"more than the .* available\. Make the network smaller"):
        net.build(dt=1e-4, seed=0)
    assert time.perf_counter() - t0 < 2.0
    with pytest.raises(ValueError, match=r"build\(check_memory=False\) skips"):  # also a ValueError
        net.run(0.001, seed=0)


def test_estimate_counts_synapses_state_rings_and_monitors():
    net = snn.Network()
    a = net.population(1000, snn.LIF(), name="a")
    b = net.population(500, snn.LIF(), name="b")
    net.connect(a, b, snn.FixedProbability(0.02), weight=snn.Uniform(0.0, 1e-3),
                delay=snn.UniformInt(1, 10))
    net.connect(a, b, snn.FixedInDegree(30), weight=1e-3, plasticity=pl.PairSTDP())
    net.connect(b, b, snn.OneToOne(), weight=1e-3, delay=4, synapse="inh")
    net.spike_monitor(b)
    net.state_monitor(b[:10], ["v"], every=4)
    est = memory.estimate(net)
    m1, m2, m3 = 0.02 * 1000 * 500, 30 * 500, 500
    synapses = (m1 * (4 + 4 + 1) + m2 * (4 + 8 + memory.PLASTIC_BYTES_PER_SYNAPSE) + m3 * 4
                + 8 * (1001 * 2 + 501) + 8 * 501)
    assert est["synapses"] == pytest.approx(synapses)
    state_vars = snn.LIF().state_vars
    per = sum(np.dtype(v.dtype).itemsize for v in state_vars)
    assert est["state"] == pytest.approx(1500 * (per + 5))
    # Ring buffers: exc with delays up to 10 (depth 11), inh with delay 4 (depth 5).
    assert est["ring_buffers"] == pytest.approx(8 * 500 * (11 + 5))
    assert est["monitors"] == pytest.approx(12 * (1 << 20) + 8 * (2000 // 4 + 2) * 10)
    built = net.instantiate(1e-4, 0)
    assert abs(built.synapse_bytes - sum(p.indptr.nbytes for p in built.projections)) < \
        est["synapses"]
    real = built.n_synapses
    assert abs(real - (m1 + m2 + m3)) < 0.05 * real


def test_refusal_uses_available_memory_and_can_be_skipped(monkeypatch):
    net = snn.Network()
    pop = net.population(2000, snn.LIF(), name="P")
    net.connect(pop, pop, snn.FixedProbability(0.1), weight=1e-4)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)
    with pytest.raises(memory.InsufficientMemoryError, match="more than the 1 MiB"):
        net.build(dt=1e-4, seed=0)
    assert net.instantiate(1e-4, 0, check_memory=False).n_synapses > 300_000
    monkeypatch.setattr(memory, "available_bytes", lambda: None)  # unknown: no check
    assert net.instantiate(1e-4, 0).n_synapses > 300_000


def test_every_builtin_connector_predicts_its_synapse_count():
    rng = np.random.default_rng(0)
    dense = (rng.random((40, 30)) < 0.3) * 1e-3
    cases = [snn.AllToAll(), snn.AllToAll(allow_autapses=False), snn.OneToOne(),
             snn.FixedProbability(0.3), snn.FixedProbability(0.01), snn.FixedInDegree(7),
             snn.FromList(np.array([0, 1, 2]), np.array([3, 4, 5])), snn.FromMatrix(dense)]
    for conn in cases:
        n_pre, n_post = (40, 30) if isinstance(conn, snn.FromMatrix) else (300, 300)
        same = isinstance(conn, snn.AllToAll)
        m = conn.pairs(n_pre, n_post, np.random.default_rng(1), same)[0].size
        expected = conn.expected_synapses(n_pre, n_post, same)
        assert abs(expected - m) <= max(3 * np.sqrt(expected), 1e-9), conn
