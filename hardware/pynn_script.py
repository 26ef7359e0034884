"""Build and run a network exported by ``synaptica export pynn`` on any PyNN simulator.

This file is standalone: it needs only NumPy and PyNN (and the simulator), never Synaptica,
and ``hardware.pynn.export_pynn`` copies it verbatim next to the data file as ``run.py``::

    python run.py network.npz                          # pyNN.nest, 1 thread
    python run.py network.npz --threads 4 -o spikes.npz
    mpirun -np 2 python run.py network.npz             # NEST over MPI
    python run.py network.npz --simulator spiNNaker --no-record

The data file (``numpy.savez``) holds ``meta``, a JSON document, and the arrays it names:
populations with a PyNN cell type, its parameters (scalars or per-neuron arrays), initial
values and what to record (``record``: false, true, or an array of neuron indices), and
projections as explicit connection lists (pre index, post index, weight, delay) with their
receptor type and synapse type (static, or STDP where PyNN has the mechanism).
Units are PyNN's: ms, mV, nF, nA, uS, Hz.

The output (``-o``, written by MPI rank 0) holds, for each recorded population ``P``,
``P.times`` (ms, as the simulator labels them) and ``P.indices``, plus ``meta`` (JSON: the
simulator, its version, threads, processes, build and run wall times in seconds,
resident memory in GB after loading, building and running, where the OS reports it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import tempfile
import time

import numpy as np

FORMAT = "synaptica-pynn"
VERSION = 1
CONNECT_CHUNK = 1 << 20
"""Synapses per ``nest.Connect`` call on the direct path."""


def resident_gb() -> float | None:
    """This process's resident set size (GB) where the OS tells it (Linux), else None."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9
    except (OSError, ValueError, IndexError):
        return None


def load(path: str) -> tuple[dict, dict]:
    """Read an exported network: (meta, arrays)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if "meta" not in arrays:
        raise ValueError(f"{path!r} is not a network exported by synaptica (no 'meta' entry)")
    meta = json.loads(str(arrays.pop("meta")))
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"{path!r} is not a {FORMAT} file of version {VERSION}")
    return meta, arrays


def _value(spec, arrays: dict):
    """A parameter: a number, or the name of an array in the data file."""
    return arrays[spec["array"]] if isinstance(spec, dict) else spec


def _celltype(sim, pop: dict, arrays: dict):
    params = {k: _value(v, arrays) for k, v in pop["parameters"].items()}
    if pop["celltype"] == "SpikeSourceArray":
        times = arrays[pop["spike_times"]]
        bounds = arrays[pop["spike_bounds"]]
        params["spike_times"] = [times[bounds[i]:bounds[i + 1]].tolist()
                                 for i in range(pop["size"])]
    return getattr(sim, pop["celltype"])(**params)


def _synapse(sim, spec: dict):
    if spec["type"] == "static":
        return sim.StaticSynapse()
    if spec["type"] == "stdp":
        dependence = {"additive": sim.AdditiveWeightDependence,
                      "multiplicative": sim.MultiplicativeWeightDependence}[spec["weight_dependence"]]
        return sim.STDPMechanism(
            timing_dependence=sim.SpikePairRule(tau_plus=spec["tau_plus"],
                                                tau_minus=spec["tau_minus"],
                                                A_plus=spec["A_plus"], A_minus=spec["A_minus"]),
            weight_dependence=dependence(w_min=spec["w_min"], w_max=spec["w_max"]),
            dendritic_delay_fraction=spec.get("dendritic_delay_fraction", 1.0))
    raise ValueError(f"unknown synapse type {spec['type']!r}")


def _connect_nest(pops: dict, proj: dict, arrays: dict) -> None:
    """A static projection straight through ``nest.Connect`` (one call with the whole list;
    PyNN's FromListConnector makes one call per target neuron, minutes at a million)."""
    import nest

    pre_ids = np.asarray(pops[proj["source"]].node_collection.tolist())
    target = pops[proj["target"]]
    post_ids = np.asarray(target.node_collection.tolist())
    sign = -1.0 if proj["receptor"] == "inhibitory" and target.celltype.conductance_based \
        else 1.0  # NEST routes a conductance to its inhibitory port by the sign
    pre, post = arrays[proj["pre"]], arrays[proj["post"]]
    for a in range(0, pre.size, CONNECT_CHUNK):  # bounds NEST's temporary copies
        b = a + CONNECT_CHUNK
        nest.Connect(pre_ids[pre[a:b]], post_ids[post[a:b]], {"rule": "one_to_one"},
                     {"synapse_model": "static_synapse",
                      "weight": arrays[proj["weight"]][a:b] * (1000.0 * sign),  # nA -> pA
                      "delay": arrays[proj["delay"]][a:b]})


def build(sim, meta: dict, arrays: dict, connect: str = "pynn") -> tuple[dict, list]:
    """Create the populations and projections in the PyNN module ``sim`` (after setup).

    ``connect="nest"`` (pyNN.nest only) makes static projections with one ``nest.Connect``
    each instead of PyNN projections; it returns only the PyNN projections it made.
    """
    pops = {}
    for pop in meta["populations"]:
        p = sim.Population(pop["size"], _celltype(sim, pop, arrays), label=pop["name"])
        initial = {k: _value(v, arrays) for k, v in pop.get("initial", {}).items()}
        if initial:
            p.initialize(**initial)
        record = pop.get("record")
        if isinstance(record, dict):  # only these neurons (indices)
            p[_value(record, arrays)].record("spikes")
        elif record:
            p.record("spikes")
        pops[pop["name"]] = p
    projections = []
    for proj in meta["projections"]:
        if connect == "nest" and proj["synapse"]["type"] == "static":
            _connect_nest(pops, proj, arrays)
            continue
        conn = np.column_stack([arrays[proj["pre"]], arrays[proj["post"]],
                                arrays[proj["weight"]], arrays[proj["delay"]]]).astype(float)
        connector = sim.FromListConnector(conn, column_names=["weight", "delay"])
        projections.append(sim.Projection(
            pops[proj["source"]], pops[proj["target"]], connector, _synapse(sim, proj["synapse"]),
            receptor_type=proj["receptor"], label=proj["name"]))
    return pops, projections


def _spikes(pop) -> tuple[np.ndarray, np.ndarray]:
    trains = pop.get_data("spikes", gather=True).segments[0].spiketrains
    times, idx = [], []
    for st in trains:
        t = np.asarray(st.magnitude if hasattr(st, "magnitude") else st, dtype=float)
        times.append(t)
        idx.append(np.full(t.size, int(st.annotations["source_index"]), dtype=np.int32))
    if not times:
        return np.zeros(0), np.zeros(0, np.int32)
    return np.concatenate(times), np.concatenate(idx)


def _save(path: str, arrays: dict) -> None:
    """Write ``arrays`` to ``path`` (.npz) under a temporary name, then rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".spikes.", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run(data_path: str, simulator: str = "nest", threads: int = 1,
        duration: float | None = None, out: str | None = None, record: bool = True,
        connect: str | None = None) -> dict:
    """Build the exported network in ``pyNN.<simulator>``, run it for ``duration`` ms (the
    exported duration by default) and, when ``out`` is given, save the spikes there.

    ``connect`` is ``"pynn"`` (PyNN projections, any simulator) or ``"nest"`` (static
    projections through one ``nest.Connect`` each; the default on NEST).
    """
    t0 = time.perf_counter()
    meta, arrays = load(data_path)
    return run_loaded(meta, arrays, simulator, threads, duration, out, record, connect, t0)


def run_loaded(meta: dict, arrays: dict, simulator: str = "nest", threads: int = 1,
               duration: float | None = None, out: str | None = None, record: bool = True,
               connect: str | None = None, t0: float | None = None) -> dict:
    """:func:`run` on an exported network already in memory (``meta``, ``arrays``)."""
    t0 = time.perf_counter() if t0 is None else t0
    connect = connect or ("nest" if simulator == "nest" else "pynn")
    if connect not in ("pynn", "nest") or (connect == "nest" and simulator != "nest"):
        raise ValueError(f"connect={connect!r}: use 'pynn', or 'nest' with simulator='nest'")
    sim = importlib.import_module(f"pyNN.{simulator}")
    extra = {}
    if simulator == "nest":
        extra = {"spike_precision": "on_grid", "threads": threads, "verbosity": "error",
                 "rng_seed": int(meta["seed"]) + 1}
    elif threads != 1:
        raise ValueError(f"threads={threads} is NEST's option; pyNN.{simulator} runs without it")
    sim.setup(timestep=meta["dt_ms"], min_delay=meta["min_delay_ms"], **extra)
    launched = int(os.environ.get("OMPI_COMM_WORLD_SIZE") or os.environ.get("PMI_SIZE") or 1)
    if sim.num_processes() != launched:
        raise RuntimeError(f"started as {launched} MPI processes but pyNN.{simulator} sees "
                           f"{sim.num_processes()}: the simulator was built without MPI (NEST's "
                           "pip wheel is); install an MPI build (conda-forge nest-simulator)")
    memory = {"loaded": resident_gb()}
    pops, _ = build(sim, meta, arrays, connect)
    memory["built"] = resident_gb()
    t1 = time.perf_counter()
    sim.run(meta["duration_ms"] if duration is None else duration)
    t2 = time.perf_counter()
    memory["run"] = resident_gb()
    info = {"simulator": simulator, "threads": threads, "connect": connect, "processes": sim.num_processes(),
            "build_s": t1 - t0, "run_s": t2 - t1, "duration_ms":
            meta["duration_ms"] if duration is None else duration, "memory_gb": memory}
    if simulator == "nest":
        import nest

        info["version"] = nest.__version__
    result = {}
    if record:
        for spec in meta["populations"]:
            if spec.get("record"):
                name = spec["name"]
                result[f"{name}.times"], result[f"{name}.indices"] = _spikes(pops[name])
    if out is not None and sim.rank() == 0:
        _save(out, {"meta": np.array(json.dumps(info)), **result})
    sim.end()
    return {"meta": info, **result}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Run a network exported by synaptica with PyNN.")
    ap.add_argument("data", nargs="?", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "network.npz"), help="exported data file (network.npz)")
    ap.add_argument("--simulator", default="nest", help="PyNN backend module: nest, spiNNaker, ...")
    ap.add_argument("--threads", type=int, default=1, help="NEST threads per process")
    ap.add_argument("--duration", type=float, default=None, help="ms (default: as exported)")
    ap.add_argument("-o", "--out", default=None, help="spikes output (.npz)")
    ap.add_argument("--no-record", action="store_true", help="skip reading back spikes")
    ap.add_argument("--connect", choices=["pynn", "nest"], default=None,
                    help="static projections as PyNN projections or one nest.Connect each "
                         "(default: nest on NEST)")
    a = ap.parse_args(argv)
    res = run(a.data, a.simulator, a.threads, a.duration, a.out, record=not a.no_record,
              connect=a.connect)
    print(json.dumps(res["meta"]))


if __name__ == "__main__":
    main()
