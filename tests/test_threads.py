"""The numba run loop on several threads: the same spikes, state and weights bit for bit as
on one thread, for a network with every delivery path and for a plastic one."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import snn
from snn.backends.numba import block_bounds, block_pointers

DT = 1e-4


def delays_network() -> snn.Network:
    """Poisson (constant and stepped rates) and scheduled inputs into a CUBA-like population
    with per-synapse delays (direct and ring-buffer delivery), a one-step inhibitory
    projection, a uniform 3-step projection into a second population, spike and state
    monitors."""
    from snn.bench import cuba

    net = snn.Network()
    lif = snn.LIF(tau_m=cuba.TAU_M, v_rest=cuba.E_L, v_reset=cuba.V_R, v_thresh=cuba.V_T,
                  tau_ref=cuba.T_REF, tau_syn_exc=cuba.TAU_E, tau_syn_inh=cuba.TAU_I)
    noise = net.population(300, snn.PoissonSource(rate=20.0), name="noise")
    burst = net.population(100, snn.PoissonSource(rate=np.array([5.0, 60.0]), rate_interval=0.02),
                           name="burst")
    sched = net.population(2, snn.SpikeSource(spike_steps=[[5, 50, 500], [7, 70]]), name="sched")
    P = net.population(1000, lif, name="P", init={"v": snn.Uniform(cuba.V_R, cuba.V_T)})
    Q = net.population(150, lif, name="Q")
    net.connect(noise, P, snn.FixedProbability(0.05), weight=snn.Normal(0.6e-3, 0.1e-3),
                synapse="exc", delay=snn.UniformInt(1, 8))
    net.connect(sched, P, snn.AllToAll(), weight=2e-3, synapse="exc")
    net.connect(burst, Q, snn.FixedProbability(0.2), weight=1e-3, synapse="exc")
    net.connect(P[:800], P, snn.FixedProbability(0.04), weight=cuba.W_E, synapse="exc",
                delay=snn.UniformInt(1, 4))
    net.connect(P[800:], P, snn.FixedProbability(0.04), weight=cuba.W_I, synapse="inh")
    net.connect(P, Q, snn.FixedProbability(0.1), weight=1.5e-3, synapse="exc", delay=3)
    net.spike_monitor(P, name="sP")
    net.spike_monitor(Q, name="sQ")
    net.state_monitor(P[[0, 63, 64, 500, 999]], ["v", "i_exc"], name="vP")
    return net


def plastic_network() -> snn.Network:
    from snn.bench.cuba import cuba_network

    return cuba_network(600, stdp=True)


def outcome(sim, duration: float = 0.1) -> dict[str, np.ndarray]:
    """Every recording, state array and weight array after two runs (a run boundary too)."""
    out = {}
    for r, res in enumerate((sim.run(duration / 2), sim.run(duration / 2))):
        for name, rec in res.spikes.items():
            out[f"{r}/{name}/steps"], out[f"{r}/{name}/indices"] = rec.steps, rec.indices
        for name, rec in res.states.items():
            out[f"{r}/{name}/steps"], out[f"{r}/{name}/data"] = rec.steps, rec.data
    for pop, variables in sim.state.items():
        for var, arr in variables.items():
            out[f"state/{pop}/{var}"] = np.array(arr)
    for proj in sim.built.projections:
        out[f"w/{proj.name}"] = sim.weights(proj.name)
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


NETWORKS = {"delays": delays_network, "plastic": plastic_network}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_threads_give_identical_runs(name, tmp_path):
    net = NETWORKS[name]
    ref = outcome(net().build(dt=DT, seed=3, threads=1))
    assert sum(v.size for k, v in ref.items() if k.endswith("/indices")) > 100  # it spikes
    par = net().build(dt=DT, seed=3, threads=2)
    assert "prange" in par.source and "prange" not in net().build(dt=DT, seed=3).source
    assert_same(ref, outcome(par))
    # N threads (more than this machine's cores, up to four blocks) in a fresh process.
    script = (
        "import numpy as np, tests.test_threads as t\n"
        f"sim = t.NETWORKS[{name!r}]().build(dt=t.DT, seed=3, threads=4)\n"
        f"np.savez({str(tmp_path / 'n.npz')!r}, **t.outcome(sim))\n"
    )
    env = {**os.environ, "NUMBA_NUM_THREADS": "4", "OMP_WAIT_POLICY": "passive"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=root, timeout=300)
    with np.load(tmp_path / "n.npz") as data:
        assert_same(ref, {k: data[k] for k in data.files})


def test_blocks_split_rows_at_post_boundaries():
    bounds = block_bounds(200, 3)
    assert bounds.tolist() == [0, 64, 128, 200]
    assert block_bounds(100, 4).tolist() == [0, 0, 64, 64, 100]
    net = snn.Network()
    a = net.population(3, snn.IF(), name="a")
    b = net.population(200, snn.IF(), name="b")
    post = np.array([0, 63, 64, 199, 5, 130])
    net.connect(a, b, snn.FromList(np.array([0, 0, 0, 0, 2, 2]), post, np.ones(6)))
    proj = net.build(dt=DT).built.projections[0]
    ptr = block_pointers(proj, bounds)
    # row 0: posts 0, 63 | 64 | 199; row 1 empty; row 2: posts 5 | 130
    assert ptr.tolist() == [[0, 2, 3, 4], [4, 4, 4, 4], [4, 5, 5, 6]]


def test_threads_argument_is_checked():
    net = snn.Network()
    net.population(10, snn.IF(), name="a")
    import numba

    with pytest.raises(ValueError, match="threads must be >= 1"):
        net.build(dt=DT, threads=0)
    with pytest.raises(TypeError, match="threads must be an integer"):
        net.build(dt=DT, threads=1.5)
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
        net.build(dt=DT, threads=numba.config.NUMBA_NUM_THREADS + 1)
    assert net.build(dt=DT, threads="auto").threads == 1  # 10 neurons: one thread


def test_info_reports_threads(capsys):
    import argparse

    from snn.cli.info import cmd_info

    assert cmd_info(argparse.Namespace(json=True)) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["numba_threads"] >= 1 and info["numba_default_threads"] == 1
