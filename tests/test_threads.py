"""The numba run loop on several threads: the same spikes, state and weights bit for bit as
on one thread, for a network with every delivery path, a plastic one and one with a
whole-population model; the atomics and the barrier they synchronise with."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import snn
from snn.backends.numba import NEURONS_PER_THREAD, block_bounds, block_pointers

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


def whole_network() -> snn.Network:
    """Poisson input into UltraDLIF (a model stepped as a whole population, so block 0 owns
    it) through delays, UltraDLIF into a LIF population watched by a subset spike monitor."""
    net = snn.Network()
    src = net.population(400, snn.PoissonSource(rate=80.0), name="src")
    ring = net.population(300, snn.UltraDLIF(eps=0.3, tau=0.95, theta=1.2), name="ring")
    lif = net.population(500, snn.LIF(tau_m=10e-3), name="lif",
                         init={"v": snn.Uniform(-65e-3, -52e-3)})
    net.connect(src, ring, snn.FixedProbability(0.05), weight=0.3, delay=snn.UniformInt(1, 3))
    net.connect(ring, lif, snn.FixedProbability(0.1), weight=3e-3)
    net.connect(src, lif, snn.FixedProbability(0.1), weight=2e-3, delay=2)
    net.spike_monitor(ring, name="sR")
    net.spike_monitor(lif[::3], name="sL")
    net.state_monitor(ring[[0, 299]], ["v"], name="vR", every=3)
    return net


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


NETWORKS = {"delays": delays_network, "plastic": plastic_network, "whole": whole_network}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_threads_give_identical_runs(name, tmp_path):
    net = NETWORKS[name]
    ref = outcome(net().build(dt=DT, seed=3, threads=1))
    assert sum(v.size for k, v in ref.items() if k.endswith("/indices")) > 100  # it spikes
    par = net().build(dt=DT, seed=3, threads=2)
    assert "barrier(" in par.source and "barrier" not in net().build(dt=DT, seed=3).source
    assert_same(ref, outcome(par))
    # One barrier a step, two more for the plastic projections' serial section.
    stats = par.thread_stats()
    assert stats["barriers"] == (2 if name == "plastic" else 1) * 1000
    assert all(0 <= w <= c for w, c in zip(stats["wait_cpu_s"], stats["cpu_s"], strict=True))
    if name == "whole":  # full monitor buffers stop every thread at the same step
        small = net().build(dt=DT, seed=3, threads=2, spike_capacity=1)
        assert_same(ref, outcome(small))
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


def test_batched_runs_are_identical():
    """Per-sample state and random streams: each sample is one call of every thread."""
    ref = outcome(whole_network().build(dt=DT, seed=4, batch=2, threads=1), duration=0.04)
    assert_same(ref, outcome(whole_network().build(dt=DT, seed=4, batch=2, threads=2),
                             duration=0.04))


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
    assert net.build(dt=DT).threads == 1  # the default, "auto": 10 neurons, one thread
    with pytest.raises(TypeError, match="threads must be an integer"):
        net.build(dt=DT, threads="all")


def test_auto_takes_a_thread_per_block_of_neurons_on_idle_cores(monkeypatch):
    import numba

    import snn.backends.numba as backend

    net = snn.Network()
    net.population(1000, snn.IF(), name="a")
    net.population(300, snn.IF(), name="b")
    built = net.build(dt=DT).built
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(backend, "busy_cores", lambda cpus: 0.0)  # an idle machine
    monkeypatch.setattr(backend, "NEURONS_PER_THREAD", 1300)
    assert backend.check_threads("auto", built) == 1
    monkeypatch.setattr(backend, "NEURONS_PER_THREAD", 650)
    assert backend.check_threads("auto", built) == min(2, cores)
    monkeypatch.setattr(backend, "NEURONS_PER_THREAD", 1)
    assert backend.check_threads("auto", built) == min(cores, numba.config.NUMBA_NUM_THREADS)
    # other processes keep all but one core busy: one thread
    monkeypatch.setattr(backend, "busy_cores", lambda cpus: len(cpus) - 0.6)
    assert backend.check_threads("auto", built) == 1


def test_snapshots_keep_auto_and_restore_on_any_thread_count(tmp_path):
    from snn.snapshot import Simulation

    sim = whole_network().build(dt=DT, seed=3, threads=2)
    sim.run(0.02)
    sim.save(tmp_path / "two.h5")
    rest = outcome(sim)
    one = Simulation.restore(tmp_path / "two.h5", threads=1)
    assert one.threads == 1
    assert_same(rest, outcome(one))
    auto = whole_network().build(dt=DT, seed=3)
    assert auto.options["threads"] == "auto" and auto.threads == 1
    auto.save(tmp_path / "auto.h5")
    assert Simulation.restore(tmp_path / "auto.h5").options["threads"] == "auto"


def test_busy_cores_reads_the_machine():
    from snn.backends.numba import busy_cores

    cpus = os.sched_getaffinity(0)
    assert 0.0 <= busy_cores(cpus, window=0.05) <= len(cpus) + 1e-9
    assert busy_cores(set(), window=0.01) == 0.0


def test_atomics_and_barrier_across_threads():
    """Four threads add 20,000 times each to one word, and pass 2,000 barriers in which each
    writes its round number and then reads everyone's: a barrier that let a thread through
    early would show it a number from the round before."""
    import threading

    from numba import njit

    from snn.backends.numba_sync import atomic_add, atomic_load, barrier

    @njit(nogil=True)
    def work(count, total, slots, bad, t, threads, rounds):
        for _ in range(20000):
            atomic_add(total, 0, 1)
        for e in range(1, rounds + 1):
            slots[e % 2, 16 * t] = e
            barrier(count, (2 * e - 1) * threads)
            for u in range(threads):
                if slots[e % 2, 16 * u] != e:
                    bad[16 * t] += 1
            barrier(count, 2 * e * threads)
        return atomic_load(total, 0)

    threads, rounds = 4, 2000
    count, total = np.zeros(8, np.int64), np.zeros(8, np.int64)
    slots, bad = np.zeros((2, 16 * threads), np.int64), np.zeros(16 * threads, np.int64)
    work(count, total, slots, bad, 0, 1, 1)  # compile
    count[:], total[:], slots[:], bad[:] = 0, 0, 0, 0
    workers = [threading.Thread(target=work, args=(count, total, slots, bad, t, threads, rounds),
                                daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers)
    assert total[0] == threads * 20000 and count[0] == 2 * rounds * threads
    assert bad.sum() == 0


def test_info_reports_threads(capsys):
    import argparse

    from snn.cli.info import cmd_info

    assert cmd_info(argparse.Namespace(json=True)) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["numba_threads"] >= 1 and info["numba_default_threads"] == "auto"
    assert info["numba_neurons_per_thread"] == NEURONS_PER_THREAD


def test_threads_benchmark_reports_speedup_ceiling_and_identical_spikes(tmp_path):
    """benchmarks/threads_cuba.py on a small CUBA: its JSON line and file carry the speedup, the
    no-barrier kernel's speedup (what the cores give) and the efficiency between them, and the
    spikes of 1 and 2 threads agree (it exits 1 when they do not)."""
    out = tmp_path / "threads.json"
    run = subprocess.run([sys.executable, "benchmarks/threads_cuba.py", "--neurons", "4000",
                          "--duration", "0.02", "--threads", "1,2", "--rounds", "2", "--json",
                          str(out)], capture_output=True, text=True, timeout=600,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert run.returncode == 0, run.stderr
    line = json.loads(run.stdout.strip().splitlines()[-1])
    assert line["identical_spikes"] and set(line["ceiling"]) == {"1", "2"}
    report = json.loads(out.read_text())
    two = report["rows"][1]
    assert two["threads"] == 2 and two["ceiling"] > 0 and len(two["ceiling_s_runs"]) == 2
    assert two["parallel_efficiency"] == pytest.approx(two["speedup_vs_first"] / two["ceiling"])
