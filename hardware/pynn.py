"""PyNN export: a network of the engine as a standalone PyNN script plus data, and a live run on
NEST through ``pyNN.nest`` (the path to NEST's threads and MPI, and to SpiNNaker boards).

:func:`export_pynn` writes ``DIR/run.py`` (a copy of :mod:`hardware.pynn_script`, which
needs only NumPy and PyNN) and ``DIR/network.npz``: every population as a PyNN cell type
with per-neuron parameters and initial values, every projection as an explicit connection
list (sampled from the network's seed) with weights and delays in PyNN's units.
:func:`run_on` exports to a temporary folder, runs it on NEST (in this process, or with
``mpirun`` for ``processes > 1``) and returns the spikes as :class:`snn.Results` in our
labelling.

Mapping (checked against NEST 3.10 spike for spike, ``tests/test_pynn.py``):

* ``LIF`` (exponential currents, reset to a value) -> ``IF_curr_exp`` on NEST's
  ``iaf_psc_exp``, the same exact integration. Our currents are in volts (R I); with
  ``cm = 1 nF`` a weight ``w`` (V) onto a neuron with ``tau_m`` (ms) is
  ``w * 1e3 * cm / tau_m`` nA, and ``i_bias`` becomes ``i_offset`` the same way.
  A negative weight is an inhibitory current in NEST whatever port it was declared on, so
  each projection is split by sign, which is exact wherever the two ports share ``tau_syn``.
* ``ConductanceLIF`` -> ``IF_cond_exp`` (``iaf_cond_exp``): conductances in units of the
  leak become ``w * cm / tau_m`` uS. NEST integrates it with an adaptive Runge-Kutta
  solver, we with exponential Euler: statistically equal, not spike for spike.
* ``PoissonSource`` (constant rates) -> ``SpikeSourcePoisson`` (NEST draws its own
  spikes); ``SpikeSource`` -> ``SpikeSourceArray`` at the same steps.
* ``plasticity.PairSTDP`` (all-to-all pairing, lower bound 0) -> ``STDPMechanism`` with
  ``SpikePairRule`` and an additive or multiplicative weight dependence (NEST's
  ``stdp_synapse``; it treats every delay as dendritic).

Time conventions. We label a spike emitted in step ``k`` with ``k*dt``; NEST labels a
neuron's spike with the end of that step, ``(k+1)*dt`` (a spike source's with ``k*dt``, as
we do). A spike of ours with a delay of ``d`` steps raises the target's synaptic current at
the start of step ``k + d``; in NEST a neuron's spike with delay ``d*dt`` does so one step
later, a spike source's at the same step. So a neuron-to-neuron delay of ``d`` steps is
NEST's ``(d - 1) dt`` and a source's ``d dt``. NEST's shortest delay is one step, so a
one-step delay between two neurons has no exact NEST equivalent: ``exact=True`` (the
default) refuses it, ``exact=False`` gives it NEST's minimal delay (one step late, counted
in ``late_synapses``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from hardware import pynn_script
from snn.models import LIF, ConductanceLIF, PoissonSource, SpikeSource
from snn.network import DEFAULT_DT, BuiltPopulation, BuiltProjection, Network
from snn.results import Results, SpikeRecord
from snn.validate import check_int, check_positive_time

CM_NF = 1.0
"""Membrane capacitance (nF) given to exported neurons; only the ratio to ``tau_m`` matters."""

EARLY_MS = 1e-6
"""Spike-source times are written this much (ms) before their step (see ``_population``)."""

EXPORT_CHUNK = 1 << 20
"""Synapses a projection's export converts at a time (bounds its temporary arrays)."""

SIMULATORS_WITH_LABELS = ("nest",)
"""Simulators whose spike labels :func:`run_on` converts to ours."""


@dataclasses.dataclass
class _Pop:
    spec: dict
    kind: str          # "current" (IF_curr_exp), "conductance" or "source"
    scale: np.ndarray  # PyNN units per our weight unit, per neuron (targets only)
    tau_e: np.ndarray
    tau_i: np.ndarray


def _per_neuron(value, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()


def _param(arrays: dict, key: str, value, n: int):
    """A scalar stays a number; a per-neuron array goes into ``arrays``."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0 or np.all(arr == arr.flat[0]):
        return float(arr.flat[0])
    arrays[key] = _per_neuron(arr, n)
    return {"array": key}


def _population(i: int, pop: BuiltPopulation, dt: float, arrays: dict,
                record: bool | dict) -> _Pop:
    model, n, name = pop.model, pop.n, pop.name
    ms, mv = 1e3, 1e3
    spec = {"name": name, "size": n, "record": record, "initial": {}}
    key = f"pop{i}"
    where = f"population {name!r} ({type(model).__name__})"
    if "refractory_until" in pop.state and np.any(pop.state["refractory_until"] > 0):
        raise ValueError(f"{where}: starts refractory; PyNN has no initial refractory state, "
                         "start it with refractory_until = 0")
    if type(model) in (LIF, ConductanceLIF):
        if model.reset != "value":
            raise ValueError(f"{where}: reset={model.reset!r}; PyNN's IF cells reset to a value, "
                             "use reset='value'")
        tau_m = _per_neuron(model.tau_m, n) * ms
        scale = CM_NF / tau_m  # nA per mV (current) or uS per unit of g_L (conductance)
        n_ref = np.rint(_per_neuron(model.tau_ref, n) / dt)
        params = {
            "cm": CM_NF, "tau_m": tau_m, "v_rest": _per_neuron(model.v_rest, n) * mv,
            "v_reset": _per_neuron(model.v_reset, n) * mv,
            "v_thresh": _per_neuron(model.v_thresh, n) * mv, "tau_refrac": n_ref * dt * ms,
            "tau_syn_E": _per_neuron(model.tau_syn_exc, n) * ms,
            "tau_syn_I": _per_neuron(model.tau_syn_inh, n) * ms,
            "i_offset": _per_neuron(model.i_bias, n) * mv * scale,
        }
        if np.any(params["tau_syn_E"] == 0) or np.any(params["tau_syn_I"] == 0):
            raise ValueError(f"{where}: delta synapses (tau_syn = 0) are not exported; PyNN's "
                             "IF_curr_exp needs tau_syn_exc, tau_syn_inh > 0")
        initial = {"v": pop.state["v"] * mv}
        if type(model) is LIF:
            celltype, kind = "IF_curr_exp", "current"
            initial["isyn_exc"] = pop.state["i_exc"] * mv * scale
            initial["isyn_inh"] = pop.state["i_inh"] * mv * scale
        else:
            if np.any(np.asarray(model.g_exc_tonic) != 0) or np.any(np.asarray(model.g_inh_tonic) != 0):
                raise ValueError(f"{where}: tonic conductances have no IF_cond_exp parameter; "
                                 "set g_exc_tonic = g_inh_tonic = 0")
            celltype, kind = "IF_cond_exp", "conductance"
            params["e_rev_E"] = _per_neuron(model.e_rev_exc, n) * mv
            params["e_rev_I"] = _per_neuron(model.e_rev_inh, n) * mv
            initial["gsyn_exc"] = pop.state["g_exc"] * scale
            initial["gsyn_inh"] = pop.state["g_inh"] * scale
        spec["celltype"] = celltype
        spec["parameters"] = {k: _param(arrays, f"{key}_{k}", v, n) for k, v in params.items()}
        spec["initial"] = {k: _param(arrays, f"{key}_init_{k}", v, n) for k, v in initial.items()}
        return _Pop(spec, kind, scale, params["tau_syn_E"], params["tau_syn_I"])
    if type(model) is PoissonSource:
        if model.time_varying:
            raise ValueError(f"{where}: time-varying rates have no PyNN standard source; export "
                             "constant rates, or a SpikeSource with the spikes drawn beforehand")
        spec["celltype"] = "SpikeSourcePoisson"
        spec["parameters"] = {"rate": _param(arrays, f"{key}_rate", model.rate, n)}
    elif type(model) is SpikeSource:
        steps, idx = model.events(dt)
        if steps.size and steps.min() < 2:
            raise ValueError(f"{where}: a spike at step {steps.min()}; PyNN relays a NEST spike "
                             "source through a parrot neuron one step later, so its first "
                             "possible spike is at step 2: start spike times at >= 2 dt")
        order = np.lexsort((steps, idx))
        # NEST puts a time on the grid step that ends at or after it: written EARLY_MS early,
        # a time lands on its step whatever the rounding of steps * dt.
        arrays[f"{key}_times"] = steps[order] * dt * ms - EARLY_MS
        bounds = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(idx, minlength=n), out=bounds[1:])
        arrays[f"{key}_bounds"] = bounds
        spec.update(celltype="SpikeSourceArray", parameters={}, spike_times=f"{key}_times",
                    spike_bounds=f"{key}_bounds")
    else:
        raise ValueError(f"{where}: no PyNN standard cell type; exportable models are LIF "
                         "(exponential currents), ConductanceLIF, PoissonSource and SpikeSource")
    return _Pop(spec, "source", np.zeros(0), np.zeros(0), np.zeros(0))


def _recorded(i: int, monitors, arrays: dict) -> bool | dict:
    """What PyNN records of population ``i``: nothing (False), all of it (True), or only the
    neurons its spike monitors watch (an index array; NEST 3.10 spends about 30 kB of memory
    on every neuron connected to its spike recorder, docs/pynn.md)."""
    subsets = [sub for _, p, sub in monitors if p == i]
    if not subsets:
        return False
    if any(sub is None for sub in subsets):
        return True
    arrays[f"pop{i}_recorded"] = np.unique(np.concatenate(subsets)).astype(np.int64)
    return {"array": f"pop{i}_recorded"}


def _stdp(rule, name: str, scale: float) -> dict:
    from plasticity import PairSTDP

    where = f"projection {name!r}"
    if type(rule) is not PairSTDP:
        raise ValueError(f"{where}: {type(rule).__name__} has no PyNN mechanism; PyNN carries "
                         "PairSTDP only (SpikePairRule)")
    if rule.interaction != "all":
        raise ValueError(f"{where}: PairSTDP(interaction={rule.interaction!r}); PyNN's "
                         "SpikePairRule pairs all spikes, use interaction='all'")
    if rule.w_min != 0 or not np.isfinite(rule.w_max) or rule.w_max <= 0:
        raise ValueError(f"{where}: PairSTDP needs w_min = 0 and a finite w_max > 0 for PyNN "
                         f"(NEST's stdp_synapse), got w_min={rule.w_min}, w_max={rule.w_max}")
    w_max = rule.w_max * 1e3 * scale
    if rule.weight_dependence == "additive":  # NEST: dw = lambda * Wmax * K
        a_plus, a_minus = rule.a_plus / rule.w_max, rule.a_minus / rule.w_max
    else:  # NEST: dw = lambda (Wmax - w) K and -alpha lambda w K
        a_plus, a_minus = rule.a_plus, rule.a_minus
    return {"type": "stdp", "tau_plus": rule.tau_plus * 1e3, "tau_minus": rule.tau_minus * 1e3,
            "A_plus": a_plus, "A_minus": a_minus, "w_min": 0.0, "w_max": w_max,
            "weight_dependence": rule.weight_dependence}


def _projection(i: int, proj: BuiltProjection, pops: list[_Pop], built_pops, arrays: dict,
                exact: bool) -> tuple[list[dict], int]:
    """The connection lists of one projection, split by NEST receptor, written into ``arrays``
    in slices of :data:`EXPORT_CHUNK` synapses: beside the lists (24 bytes a synapse) the
    export holds 5 bytes a synapse and one slice's temporaries."""
    pre_pop, post_pop = pops[proj.pre], pops[proj.post]
    pre_name, post_name = built_pops[proj.pre].name, built_pops[proj.post].name
    where = f"projection {proj.name!r}"
    indices = np.asarray(proj.indices)
    n = indices.size
    pre = np.repeat(np.arange(len(proj.indptr) - 1, dtype=np.int32), np.diff(proj.indptr))
    w32 = proj.synapse_weights()
    # NEST labels a neuron's spike one step later than we do; its delay counts from the label.
    shift = 0 if pre_pop.kind == "source" else 1
    late_mask = (None if proj.delays is None else np.asarray(proj.delays) - shift < 1)
    late = (int(np.count_nonzero(late_mask)) if late_mask is not None
            else n * int(proj.delay - shift < 1))
    if late and exact:
        raise ValueError(
            f"{where}: {late} synapses between neurons have a delay of 1 step, which arrives one "
            "step before NEST's minimal delay can; give them delay >= 2, or pass exact=False "
            "(CLI: --inexact) to accept NEST's minimal delay (one step late)")
    if post_pop.kind == "current":
        scale_of = post_pop.scale * 1e3  # V -> mV -> nA, per target neuron
        inhibitory = w32 < 0
        if np.any(inhibitory != (proj.synapse == "inh")):
            moved = inhibitory != (proj.synapse == "inh")
            if np.any(post_pop.tau_e[indices[moved]] != post_pop.tau_i[indices[moved]]):
                raise ValueError(
                    f"{where}: weights of the wrong sign for synapse={proj.synapse!r} (NEST routes "
                    "a current by its sign) onto neurons whose tau_syn_exc != tau_syn_inh; use "
                    "non-negative weights on 'exc' and non-positive ones on 'inh'")
    elif post_pop.kind == "conductance":
        scale_of = post_pop.scale
        inhibitory = np.full(n, proj.synapse == "inh")
    else:
        raise ValueError(f"{where}: targets a spike source")
    synapse = {"type": "static"}
    if proj.plasticity:
        targeted = scale_of[np.unique(indices)]
        if len(proj.plasticity) != 1 or np.any(w32 < 0) or \
                np.ptp(targeted) > 1e-12 * np.max(targeted):
            raise ValueError(
                f"{where}: PyNN carries one PairSTDP on non-negative weights onto neurons with "
                "one tau_m; split the projection or remove the extra mechanisms")
        synapse = _stdp(proj.plasticity[0], proj.name, float(targeted[0]) / 1e3
                        if post_pop.kind == "current" else float(targeted[0]))
    specs = []
    for part in ("excitatory", "inhibitory"):
        want = part == "inhibitory"
        size = int(np.count_nonzero(inhibitory == want))
        if not size:
            continue
        key = f"proj{i}_{part[:3]}"
        out = {"pre": np.empty(size, np.int32), "post": np.empty(size, np.int32),
               "weight": np.empty(size, np.float64), "delay": np.empty(size, np.float64)}
        at, n_late = 0, 0
        for a in range(0, n, EXPORT_CHUNK):
            b = min(a + EXPORT_CHUNK, n)
            sel = np.flatnonzero(inhibitory[a:b] == want) + a
            k = sel.size
            post = indices[sel]
            out["pre"][at:at + k] = pre[sel]
            out["post"][at:at + k] = post
            out["weight"][at:at + k] = w32[sel].astype(np.float64) * scale_of[post]
            d = proj.delay if proj.delays is None else np.asarray(proj.delays)[sel].astype(np.int64)
            out["delay"][at:at + k] = np.maximum(d - shift, 1)  # steps; scaled in to_pynn
            if late_mask is not None:
                n_late += int(np.count_nonzero(late_mask[sel]))
            at += k
        if late_mask is None:
            n_late = size * int(proj.delay - shift < 1)
        for name, arr in out.items():
            arrays[f"{key}_{name}"] = arr
        specs.append({"name": f"{proj.name}_{part[:3]}", "source": pre_name, "target": post_name,
                      "receptor": part, "synapse": synapse, "pre": f"{key}_pre",
                      "post": f"{key}_post", "weight": f"{key}_weight", "delay": f"{key}_delay",
                      "late_synapses": n_late})
    return specs, late


def to_pynn(network: Network, duration: float, dt: float = DEFAULT_DT, seed: int = 0,
            exact: bool = True) -> tuple[dict, dict]:
    """The PyNN description of ``network`` sampled from ``seed``: (meta, arrays), the content
    of the exported data file. ``duration`` (s) is the default run length."""
    if not isinstance(network, Network):
        raise TypeError(f"network must be a snn.Network, got {type(network).__name__}")
    duration = check_positive_time("duration", duration)
    built = network.instantiate(dt, seed)
    if built.state_monitors:
        warnings.warn("state monitors are not exported; PyNN records spikes only here",
                      stacklevel=2)
    arrays: dict[str, np.ndarray] = {}
    pops = [_population(i, p, built.dt, arrays, _recorded(i, built.spike_monitors, arrays))
            for i, p in enumerate(built.populations)]
    projections, late = [], 0
    for i, proj in enumerate(built.projections):
        specs, n_late = _projection(i, proj, pops, built.populations, arrays, exact)
        projections += specs
        late += n_late
    if late:
        warnings.warn(f"{late} one-step delays between neurons become NEST's minimal delay, one "
                      "step later than ours (exact=False)", stacklevel=2)
    dt_ms = built.dt * 1e3
    for spec in projections:
        arrays[spec["delay"]] *= dt_ms
    labels = {p.spec["name"]: (0 if p.kind == "source" else 1) for p in pops}
    meta = {
        "format": pynn_script.FORMAT, "version": pynn_script.VERSION, "dt_ms": dt_ms,
        "min_delay_ms": dt_ms, "duration_ms": duration * 1e3, "seed": built.seed,
        "populations": [p.spec for p in pops], "projections": projections,
        "nest_label_shift": labels, "late_synapses": late,
        "spike_monitors": [{"name": name, "population": built.populations[p].name,
                            "subset": None if sub is None else sub.tolist()}
                           for name, p, sub in built.spike_monitors],
    }
    return meta, arrays


def export_pynn(network: Network, directory: str | os.PathLike, duration: float,
                dt: float = DEFAULT_DT, seed: int = 0, exact: bool = True) -> Path:
    """Write ``directory/run.py`` and ``directory/network.npz``; returns the script's path.

    ``python run.py`` then runs the network on NEST (``--simulator`` picks another PyNN
    backend, ``--threads`` NEST's threads, ``mpirun -np M`` its processes).
    """
    meta, arrays = to_pynn(network, duration, dt, seed, exact)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_savez(folder / "network.npz", {"meta": np.array(json.dumps(meta)), **arrays})
    script = folder / "run.py"
    tmp = folder / ".run.py.tmp"
    shutil.copyfile(pynn_script.__file__, tmp)
    os.replace(tmp, script)
    return script


def _atomic_savez(path: Path, arrays: dict) -> None:
    from snn.h5io import temporary_sibling

    tmp = temporary_sibling(path)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def mpirun_command() -> str | None:
    """The ``mpirun`` (or ``mpiexec``) on PATH, or None."""
    return shutil.which("mpirun") or shutil.which("mpiexec")


@functools.lru_cache(maxsize=8)
def nest_build_info(python: str | None = None) -> dict:
    """NEST's version and whether it was built with MPI and threads (``have_mpi``,
    ``have_threads``), asked in a fresh ``python`` (default: this interpreter)."""
    code = ("import json, nest; b = nest.build_info; print(json.dumps({k: b[k] for k in "
            "('version', 'have_mpi', 'have_threads')}))")
    proc = subprocess.run([python or sys.executable, "-c", code], capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"could not import NEST in {python or sys.executable}:\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def _require_mpi(processes: int, simulator: str) -> None:
    """Refuse ``processes > 1`` on a NEST built without MPI (before anything is launched)."""
    if processes > 1 and simulator == "nest":
        build = nest_build_info()
        if not build["have_mpi"]:
            raise RuntimeError(
                f"processes={processes} needs NEST built with MPI, but this NEST "
                f"({build['version']}) has have_mpi=False (NEST's pip wheel is built without "
                "MPI): use processes=1 with threads, or install an MPI build (conda-forge "
                "nest-simulator=*=mpi_openmpi*, see docs/pynn.md)")


def run_script(script: str | os.PathLike, out: str | os.PathLike, threads: int = 1,
               processes: int = 1, simulator: str = "nest", duration: float | None = None,
               timeout: float | None = None, connect: str | None = None) -> dict:
    """Run an exported ``run.py`` (or its folder) in a subprocess, with ``threads`` NEST
    threads in each of ``processes`` MPI processes (``mpirun``); the spikes go to ``out``.
    Returns the run's information (simulator, version, build and run wall times)."""
    threads = check_int("threads", threads, minimum=1)
    processes = check_int("processes", processes, minimum=1)
    script = Path(script)
    if script.is_dir():
        script = script / "run.py"
    if not script.is_file():
        raise FileNotFoundError(f"script {str(script)!r} does not exist; export one with "
                                "`synaptica export pynn`")
    data = script.parent / "network.npz"
    cmd = [sys.executable, str(script), str(data), "--simulator", simulator,
           "--threads", str(threads), "-o", str(out)]
    if connect is not None:
        cmd += ["--connect", connect]
    if duration is not None:
        cmd += ["--duration", str(check_positive_time("duration", duration) * 1e3)]
    if processes > 1:
        _require_mpi(processes, simulator)
        mpirun = mpirun_command()
        if mpirun is None:
            raise RuntimeError(f"processes={processes} needs mpirun on PATH (an MPI-enabled NEST; "
                               "see docs/pynn.md), or use processes=1 with threads")
        cmd = [mpirun, "-np", str(processes), *cmd]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def read_spikes(meta: dict, spikes: dict, dt: float) -> dict[str, SpikeRecord]:
    """NEST's spikes (``P.times`` ms, ``P.indices``) as our spike records, one per monitor
    of the exported network: a neuron's spike labelled ``t`` by NEST is our step
    ``round(t / dt) - 1``; a source's is ``round(t / dt)``."""
    sizes = {p["name"]: p["size"] for p in meta["populations"]}
    records = {}
    for mon in meta["spike_monitors"]:
        pop = mon["population"]
        times = np.asarray(spikes.get(f"{pop}.times", np.zeros(0)), dtype=np.float64)
        idx = np.asarray(spikes.get(f"{pop}.indices", np.zeros(0)), dtype=np.int32)
        steps = np.rint(times / (dt * 1e3)).astype(np.int64) - meta["nest_label_shift"][pop]
        subset = None if mon["subset"] is None else np.asarray(mon["subset"], dtype=np.int64)
        if subset is not None:
            keep = np.isin(idx, subset)
            steps, idx = steps[keep], idx[keep]
        order = np.lexsort((idx, steps))
        records[mon["name"]] = SpikeRecord(pop, sizes[pop], dt, steps[order], idx[order], subset)
    return records


def run_on(network: Network, simulator: str = "nest", *, duration: float,
           dt: float = DEFAULT_DT, seed: int = 0, threads: int = 1, processes: int = 1,
           exact: bool = True, timeout: float | None = None,
           connect: str | None = None) -> Results:
    """Run ``network`` on a PyNN simulator (``"nest"``) for ``duration`` seconds and return
    its spikes, labelled as ours, under the network's spike monitor names.

    ``threads`` are NEST threads per process; ``processes > 1`` runs ``mpirun`` (needs an
    MPI-enabled NEST). ``timing`` holds ``export_s``, NEST's ``build_s`` and ``wall_s``
    (simulation only), and ``memory_gb``: the resident set size after the export and after
    NEST loaded, built and ran the network (one MPI rank's with ``processes > 1``).
    ``connect="pynn"`` builds static projections as PyNN projections (``FromListConnector``,
    one NEST call per target neuron) instead of one ``nest.Connect`` each (the default).
    """
    if simulator not in SIMULATORS_WITH_LABELS:
        raise ValueError(f"simulator={simulator!r}: run_on knows the spike labels of "
                         f"{', '.join(SIMULATORS_WITH_LABELS)}; for others run the exported "
                         "script (export_pynn)")
    threads = check_int("threads", threads, minimum=1)
    processes = check_int("processes", processes, minimum=1)
    if importlib.util.find_spec("pyNN") is None:
        raise ModuleNotFoundError("run_on needs PyNN and NEST: pip install 'synaptica[peers]'")
    _require_mpi(processes, simulator)
    t0 = time.perf_counter()
    meta, arrays = to_pynn(network, duration, dt, seed, exact)
    export_s = time.perf_counter() - t0
    exported_gb = pynn_script.resident_gb()
    if processes == 1:
        out = pynn_script.run_loaded(meta, arrays, simulator, threads, connect=connect)
        info = out.pop("meta")
    else:
        with tempfile.TemporaryDirectory(prefix="synaptica-pynn-") as tmp:
            folder = Path(tmp)
            _atomic_savez(folder / "network.npz", {"meta": np.array(json.dumps(meta)), **arrays})
            shutil.copyfile(pynn_script.__file__, folder / "run.py")
            info = run_script(folder / "run.py", folder / "spikes.npz", threads, processes,
                              simulator, timeout=timeout, connect=connect)
            with np.load(folder / "spikes.npz", allow_pickle=False) as fh:
                out = {k: fh[k] for k in fh.files if k != "meta"}
    dt = meta["dt_ms"] / 1e3
    res = Results(dt, int(meta["seed"]), f"pynn-{simulator}", 0,
                  int(round(meta["duration_ms"] / meta["dt_ms"])),
                  timing={"wall_s": info["run_s"], "build_s": info["build_s"],
                          "export_s": export_s, "threads": threads,
                          "processes": info["processes"],
                          "memory_gb": {"exported": exported_gb, **info.get("memory_gb", {})}})
    res.spikes.update(read_spikes(meta, out, dt))
    return res


__all__ = ["CM_NF", "export_pynn", "mpirun_command", "nest_build_info", "read_spikes", "run_on",
           "run_script", "to_pynn"]
