"""Song, Miller & Abbott (2000) on our engine, and ``bench stdp`` against Brian2's example.

One neuron receives ``N = 1000`` Poisson inputs at 15 Hz through plastic synapses with additive
all-to-all pair STDP (``tau_plus = tau_minus = 20 ms``, ``a_plus = 0.01 gmax``,
``a_minus = 1.05 a_plus``, hard bounds ``[0, gmax]``, ``gmax = 0.01``, initial weights uniform in
``[0, gmax]``), with the parameters of Brian2's ``synapses/STDP`` example (``taum = 10 ms``,
``taue = 5 ms``, ``Ee = 0 mV``, ``El = -74 mV``, ``vt = -54 mV``, ``vr = -60 mV``, no refractory
period), ``dt = 0.1 ms``. Competition between the synapses drives the weights to the bounds.

Two membranes (:mod:`snn.peers.brian2_stdp` runs the same two in Brian2):

* ``"conductance"`` (the default: the conductance-based excitatory synapses of the paper):
  :class:`snn.ConductanceLIF`, ``taum dv/dt = El - v + ge (Ee - v)``, a spike adding ``w`` to
  the dimensionless ``ge``.
* ``"example"``: Brian2's example equation ``taum dv/dt = El - v + ge (Ee - vr)`` (the driving
  force frozen at ``Ee - vr``), which is exactly our current-based :class:`snn.LIF` with weights
  in volts, ``w (Ee - vr)``.

Timing: our pair STDP pairs the steps in which the neurons fired (delays do not enter; with
the one-step delivery a post spike caused by a pre spike is at ``+1`` step at the earliest, as
in Brian2, where ``ge`` changes after the step's state update). The difference: Brian2 runs
``on_pre`` before ``on_post`` within a step, so a pre and a post spike in the same step pair
as causal (``+dApre``), while ours do not pair. That is ~1.5 input spikes per 0.1 ms step, 0.5%
of the potentiation per output spike (``N rate taupre = 300`` pre-trace units), but ~10% of the
net drift (the 5% excess of depression), so Brian2's weights sink a little more slowly: in a
per-step re-implementation fed with the same input trains, switching to Brian2's convention
raised the 100 s output rate from 27.5 to 31.1 Hz (example membrane, seeds 1-3) and moved the
fractions by < 0.04. For the conductance membrane Brian2's ``exponential_euler`` holds ``ge``
at its start-of-step value (ours uses its step mean, 1% lower at ``dt = 0.1 ms``, second
order): another +3% in rate. Both change the rate far more than the fractions.
"""

from __future__ import annotations

import time

import numpy as np

N_INPUTS = 1000
RATE_HZ = 15.0
DT = 1e-4
TAU_M, TAU_E, TAU_PRE, TAU_POST = 10e-3, 5e-3, 20e-3, 20e-3
E_E, V_T, V_R, E_L = 0.0, -54e-3, -60e-3, -74e-3
GMAX = 0.01
DA_PRE = 0.01 * GMAX
DA_POST = -DA_PRE * TAU_PRE / TAU_POST * 1.05
LOW, HIGH = 0.1, 0.9  # fractions of gmax that count as "at the lower / upper bound"
MEMBRANES = ("conductance", "example")
HIST_BINS = 50


def weight_scale(membrane: str) -> float:
    """What one unit of the dimensionless Brian2 weight is in our model: 1 for the
    conductance membrane, ``Ee - vr`` (V) for the example membrane (a current in volts)."""
    if membrane == "conductance":
        return 1.0
    if membrane == "example":
        return E_E - V_R
    raise ValueError(f"membrane must be one of {', '.join(MEMBRANES)}, got {membrane!r}")


def song_abbott_network(seed: int = 0, membrane: str = "conductance", n_inputs: int = N_INPUTS,
                        rate: float = RATE_HZ):
    """The network: ``n_inputs`` Poisson sources (``rate`` Hz) onto one neuron through the
    plastic projection ``"syn"`` (weights uniform in ``[0, gmax)`` times
    :func:`weight_scale`, drawn from ``seed``); a spike monitor ``"spikes"`` on the neuron."""
    import plasticity as pl
    from snn import LIF, ConductanceLIF, Network, PoissonSource

    scale = weight_scale(membrane)
    if n_inputs < 1:
        raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
    common = dict(tau_m=TAU_M, v_rest=E_L, v_reset=V_R, v_thresh=V_T, tau_ref=0.0,
                  tau_syn_exc=TAU_E)
    model = ConductanceLIF(e_rev_exc=E_E, **common) if membrane == "conductance" else LIF(**common)
    net = Network()
    inp = net.population(n_inputs, PoissonSource(rate=rate), name="inputs")
    out = net.population(1, model, name="neuron")  # v starts at v_rest = El
    w0 = np.random.default_rng(seed).random(n_inputs) * GMAX * scale
    rule = pl.PairSTDP(tau_plus=TAU_PRE, tau_minus=TAU_POST, a_plus=DA_PRE * scale,
                       a_minus=-DA_POST * scale, interaction="all", w_min=0.0, w_max=GMAX * scale)
    net.connect(inp, out, weight=w0, synapse="exc", name="syn", plasticity=rule)
    net.spike_monitor(out, name="spikes")
    return net


def run_song_abbott(duration: float = 100.0, seed: int = 0, membrane: str = "conductance",
                    backend: str = "numba", dt: float = DT, every: float = 10.0,
                    **options) -> dict:
    """Simulate the experiment for ``duration`` seconds and return its figures.

    Weights are reported divided by ``gmax`` (and the weight scale), in ``[0, 1]``. The run is
    split into chunks of ``every`` seconds (the last one shorter if it does not divide
    ``duration``); ``hist_times`` (s) and ``hist_counts[t, b]`` give the weight histogram
    (``HIST_BINS`` bins over ``[0, 1]``) at the start and after each chunk. ``wall_s`` is the
    simulation time of the chunks only and ``cpu_s`` the process CPU time they took (what
    Brian2's standalone device reports as its run time); ``build_s`` the network build and
    compilation (or the
    load of numba's cache). ``options`` go to ``Network.build`` (e.g. ``dtype="float64"`` for
    torch). The weights are drawn from ``seed``, the Poisson trains from the build seed
    ``seed + 1``.
    """
    if not duration > 0 or not every > 0:
        raise ValueError(f"duration and every must be > 0 s, got {duration} and {every}")
    scale = weight_scale(membrane) * GMAX
    t0 = time.perf_counter()
    net = song_abbott_network(seed, membrane)
    sim = net.build(dt=dt, backend=backend, seed=seed + 1, **options)
    build_s = time.perf_counter() - t0
    n_steps = int(round(duration / dt))
    chunk = max(1, int(round(every / dt)))
    hist = [np.histogram(sim.weights("syn") / scale, bins=HIST_BINS, range=(0.0, 1.0))[0]]
    times, wall, cpu, spikes, done = [0.0], 0.0, 0.0, 0, 0
    while done < n_steps:
        k = min(chunk, n_steps - done)
        c0 = time.process_time()
        res = sim.run(k * dt)
        cpu += time.process_time() - c0
        wall += res.timing["wall_s"]
        spikes += res["spikes"].count
        done += k
        times.append(done * dt)
        hist.append(np.histogram(sim.weights("syn") / scale, bins=HIST_BINS, range=(0.0, 1.0))[0])
    w = sim.weights("syn") / scale
    return {
        "simulator": f"synaptica-{backend}", "membrane": membrane, "n_inputs": N_INPUTS,
        "input_rate_hz": RATE_HZ, "duration_s": n_steps * dt, "seed": seed,
        "frac_low": float(np.mean(w < LOW)), "frac_high": float(np.mean(w > HIGH)),
        "w_mean": float(w.mean()), "rate_hz": spikes / (n_steps * dt), "output_spikes": int(spikes),
        "weights": w, "hist_times": np.array(times), "hist_counts": np.stack(hist),
        "hist_range": [0.0, 1.0], "wall_s": wall, "cpu_s": cpu, "build_s": build_s,
    }


PEERS = {"brian2-cpp": "cpp_standalone", "brian2": "runtime", "brian2-numpy": "numpy"}
SUMMARY_KEYS = ("frac_low", "frac_high", "w_mean", "rate_hz", "wall_s", "cpu_s", "build_s")


def run_peer_stdp(peer: str, duration: float, seed: int, membrane: str, repeat: int = 1) -> dict:
    """Run Brian2's STDP example (:mod:`snn.peers.brian2_stdp`) in a subprocess; with
    ``repeat > 1`` its ``wall_s`` is the fastest of that many runs of the same simulation."""
    from snn.peers import run_peer

    if peer not in PEERS:
        raise ValueError(f"--vs {peer!r} is unknown; choose from {', '.join(PEERS)}")
    weight_scale(membrane)  # validates the name before a subprocess is started
    return run_peer("brian2_stdp", ["--duration", str(duration), "--device", PEERS[peer],
                                    "--seed", str(seed), "--membrane", membrane,
                                    "--repeat", str(repeat), "--json"])


def _average(runs: list[dict]) -> dict:
    """Mean of the summary figures over seeds, with the per-seed values under ``runs``."""
    keys = [key for key in SUMMARY_KEYS if all(key in r for r in runs)]
    out = {key: float(np.mean([r[key] for r in runs])) for key in keys}
    out["runs"] = [{"seed": r["seed"], **{key: r[key] for key in keys}} for r in runs]
    return out


def bench_stdp(duration: float = 100.0, seeds: tuple[int, ...] = (1,),
               vs: tuple[str, ...] = ("brian2-cpp",), membrane: str = "conductance",
               backend: str = "numba", repeat: int = 1) -> dict:
    """Ours and each peer in ``vs`` on the same experiment, averaged over ``seeds``.

    Returns a JSON-able dict: our ``frac_low``, ``frac_high``, ``w_mean``, ``rate_hz``,
    ``wall_s`` and ``build_s`` (means over seeds; per seed under ``runs``), the same under each
    peer's name, ``speedups`` (each peer's mean ``wall_s`` over ours), and for the first peer
    ``speedup`` (the same figure) and ``diff_low`` / ``diff_high`` (our fraction minus the
    peer's, in fractions of the inputs). Brian2's standalone device times its main loop with
    ``std::clock()``, process CPU time, which a loaded machine does not inflate: with
    ``brian2-cpp`` among the peers, ``speedup_cpu`` is its ``wall_s`` over our ``cpu_s``.
    The simulators take turns seed by seed, and with ``repeat > 1`` each seed's ``wall_s`` (and
    ``cpu_s``) is the fastest of that many runs of the same simulation (ours rebuilt from the
    seed, Brian2's re-run from its initial state), which damps the noise of a shared machine.
    The seed sets our initial weights
    and Poisson trains and Brian2's ``seed()``: the two draw different random numbers, so
    compare means over seeds, not single runs.
    """
    seeds, vs = tuple(int(s) for s in seeds), tuple(dict.fromkeys(vs))
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    weight_scale(membrane)
    for peer in vs:
        if peer not in PEERS:
            raise ValueError(f"--vs {peer!r} is unknown; choose from {', '.join(PEERS)}")
    ours: list[dict] = []
    theirs: dict[str, list[dict]] = {peer: [] for peer in vs}
    for seed in seeds:
        runs = [run_song_abbott(duration, seed=seed, membrane=membrane, backend=backend)
                for _ in range(repeat)]
        ours.append({**runs[0], "wall_s": min(r["wall_s"] for r in runs),
                     "cpu_s": min(r["cpu_s"] for r in runs)})
        for peer in vs:
            theirs[peer].append(run_peer_stdp(peer, duration, seed, membrane, repeat))
    mine = _average(ours)
    out = {"benchmark": "stdp", "membrane": membrane, "duration_s": float(duration),
           "seeds": list(seeds), "repeat": repeat, "simulator": f"synaptica-{backend}", **mine}
    for peer in vs:
        out[peer] = _average(theirs[peer])
    if vs:
        out["speedups"] = {peer: out[peer]["wall_s"] / mine["wall_s"] for peer in vs}
        out["speedup"] = out["speedups"][vs[0]]
        out["diff_low"] = mine["frac_low"] - out[vs[0]]["frac_low"]
        out["diff_high"] = mine["frac_high"] - out[vs[0]]["frac_high"]
    if "brian2-cpp" in vs:  # its run time is std::clock(), CPU time: compare with ours
        out["speedup_cpu"] = out["brian2-cpp"]["wall_s"] / mine["cpu_s"]
    return out
