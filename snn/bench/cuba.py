"""The CUBA benchmark (Vogels & Abbott 2005, as in Brian2's examples).

4000 current-based LIF neurons (80% excitatory), random connectivity with 80 synapses per
neuron on average, exponential synaptic currents, dt = 0.1 ms. Scaling to N neurons keeps
80 synapses per neuron (p = 80 / N) so the dynamics, and so the cost per neuron, stay the same.
"""

from __future__ import annotations

import numpy as np

from snn import LIF, FixedProbability, Network, Uniform

TAU_M, TAU_E, TAU_I = 20e-3, 5e-3, 10e-3
V_T, V_R, E_L = -50e-3, -60e-3, -49e-3
T_REF = 5e-3
W_E = 60 * 0.27 / 10 * 1e-3   # 1.62 mV
W_I = -20 * 4.5 / 10 * 1e-3   # -9 mV
SYNAPSES_PER_NEURON = 80
DT = 1e-4


def cuba_network(neurons: int = 4000, record: bool = True, stdp: bool = False) -> Network:
    """The CUBA network with ``neurons`` neurons; a spike monitor named ``spikes``.

    ``stdp=True`` makes every synapse plastic with additive pair STDP (amplitudes 1% of the
    weight, weights bounded between 0 and twice their initial value, inhibitory ones likewise
    on the negative side): the plasticity throughput benchmark.
    """
    if neurons < 10:
        raise ValueError(f"neurons must be >= 10 for CUBA, got {neurons}")
    n_exc = int(round(0.8 * neurons))
    p = min(1.0, SYNAPSES_PER_NEURON / neurons)
    net = Network()
    model = LIF(tau_m=TAU_M, v_rest=E_L, v_reset=V_R, v_thresh=V_T, tau_ref=T_REF,
                tau_syn_exc=TAU_E, tau_syn_inh=TAU_I)
    P = net.population(neurons, model, name="P", init={"v": Uniform(V_R, V_T)})
    rules = {"Ce": None, "Ci": None}
    if stdp:
        from plasticity import PairSTDP  # the layer above the engine, loaded only for this

        rules = {"Ce": PairSTDP(a_plus=0.01 * W_E, a_minus=0.0105 * W_E, w_min=0.0, w_max=2 * W_E),
                 "Ci": PairSTDP(a_plus=0.01 * -W_I, a_minus=0.0105 * -W_I, w_min=2 * W_I, w_max=0.0)}
    net.connect(P[:n_exc], P, FixedProbability(p), weight=W_E, synapse="exc", name="Ce",
                plasticity=rules["Ce"])
    net.connect(P[n_exc:], P, FixedProbability(p), weight=W_I, synapse="inh", name="Ci",
                plasticity=rules["Ci"])
    if record:
        net.spike_monitor(P, name="spikes")
    return net


def spike_statistics(steps: np.ndarray, indices: np.ndarray, n: int, duration: float,
                     dt: float) -> dict:
    """Rate (Hz) and mean CV of ISIs of a spike list (the same code for us and for peers)."""
    from snn.results import SpikeRecord

    rec = SpikeRecord("P", n, dt, np.asarray(steps, np.int64), np.asarray(indices, np.int32))
    return {"spikes": rec.count, "rate_hz": rec.rate(duration), "cv_isi": rec.cv_isi()}


def run_cuba(neurons: int = 4000, duration: float = 1.0, backend: str = "numba",
             seed: int = 1, repeat: int = 1, stdp: bool = False,
             build_options: dict | None = None) -> dict:
    """Run CUBA and return the benchmark figures.

    ``wall_s`` is simulation time only (the build is ``build_s``); with ``repeat > 1`` the
    network is simulated for ``duration`` that many times in a row and ``wall_s`` is the
    fastest run. Spike statistics come from the first run. ``build_options`` go to
    ``net.build`` (e.g. ``{"time_scale_factor": 10, "machine": "spinn5"}`` for the
    ``spinnaker`` backend); a backend whose results carry ``provenance`` adds its timer
    overruns, late spikes and skipped synapses (``provenance`` in the report).
    """
    import time

    t0 = time.perf_counter()
    net = cuba_network(neurons, stdp=stdp)
    sim = net.build(dt=DT, backend=backend, seed=seed, **(build_options or {}))
    build_s = time.perf_counter() - t0
    res = sim.run(duration)
    rec = res["spikes"]
    walls = [res.timing["wall_s"]] + [sim.run(duration).timing["wall_s"] for _ in range(repeat - 1)]
    out_degree = sum(np.diff(p.indptr) for p in sim.built.projections)
    events = int(out_degree[rec.indices].sum())
    n_syn = sim.built.n_synapses
    wall = min(walls)
    stats = spike_statistics(rec.steps, rec.indices, neurons, duration, DT)
    return {
        "simulator": f"synaptica-{backend}" + ("-stdp" if stdp else ""), "neurons": neurons,
        "synapses": n_syn, "stdp": stdp,
        "duration_s": duration, **stats, "events": events, "wall_s": wall, "wall_s_runs": walls,
        "build_s": build_s,
        "events_per_s": events / wall if wall > 0 else float("inf"),
        "bytes_per_synapse": sim.built.synapse_bytes / max(1, n_syn),
        "wall_s_per_neuron_second": wall / (neurons * duration), "seed": seed,
        **_provenance_summary(getattr(res, "provenance", None)),
    }


def _provenance_summary(prov: dict | None) -> dict:
    """The real-time figures of an emulated chip's provenance (empty without one)."""
    if not prov:
        return {}
    t, rt = prov["totals"], prov["realtime"]
    return {"provenance": {
        "machine": prov["machine"], "time_scale_factor": rt["time_scale_factor"],
        "timer_tick_overruns": t["timer_tick_overruns"],
        "cores_with_overruns": rt["cores_with_overruns"], "late_spikes": t["late_spikes"],
        "skipped_synapses": t["skipped_synapses"], "max_core_load": rt["max_core_load"],
        "emulated_real_time_factor": rt["emulated_real_time_factor"]}}


PEERS = {
    "brian2": ("brian2_cuba", ["--device", "runtime"]),
    "brian2-cpp": ("brian2_cuba", ["--device", "cpp_standalone"]),
    "brian2-numpy": ("brian2_cuba", ["--device", "numpy"]),
    "nest": ("nest_cuba", []),
    "brian2cuda": ("brian2_cuba", ["--device", "cuda_standalone"]),  # GPU, nvcc: peers.brian2cuda
}


def run_peer_cuba(peer: str, neurons: int, duration: float, seed: int, repeat: int = 1) -> dict:
    """Run the same CUBA network in a peer simulator (subprocess) and return its figures."""
    from snn.peers import run_peer

    if peer not in PEERS:
        raise ValueError(f"--vs {peer!r} is unknown; choose from {', '.join(PEERS)}")
    module, extra = PEERS[peer]
    args = ["--neurons", str(neurons), "--duration", str(duration), "--seed", str(seed),
            "--repeat", str(repeat), *extra]
    if peer == "brian2cuda":
        from snn.peers import brian2cuda

        reason = brian2cuda.unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        return run_peer(module, args, python=brian2cuda.interpreter(), env=brian2cuda.environment())
    return run_peer(module, args)


def stdp_throughput(neurons: int = 4000, duration: float = 1.0, rounds: int = 3, seed: int = 1) -> dict:
    """Events per second of CUBA without and with pair STDP on every synapse (numba), measured
    back to back in one process: ``rounds`` interleaved rounds, the fastest of each kept.
    ``ratio`` is plastic / static events per second (an event is one spike delivered to one
    synapse, and with STDP also that synapse's updates)."""
    static = cuba_network(neurons).build(dt=DT, seed=seed)
    plastic = cuba_network(neurons, stdp=True).build(dt=DT, seed=seed)
    best = {"static": 0.0, "stdp": 0.0}
    spikes = {}
    for _ in range(rounds):
        for key, sim in (("static", static), ("stdp", plastic)):
            res = sim.run(duration)
            rec = res["spikes"]
            out_degree = sum(np.diff(p.indptr) for p in sim.built.projections)
            events = int(out_degree[rec.indices].sum())
            best[key] = max(best[key], events / res.timing["wall_s"])
            spikes[key] = rec.count
    return {"neurons": neurons, "duration_s": duration, "rounds": rounds,
            "static_events_per_s": best["static"], "stdp_events_per_s": best["stdp"],
            "ratio": best["stdp"] / best["static"], "spikes_last_round": spikes}
