"""The ``spinnaker`` backend: a network run on emulated SpiNNaker 1 cores with sPyNNaker's
fixed-point arithmetic, multicast routing, ring buffers, input queues and timing.

``net.build(backend="spinnaker", machine="spinn5", time_scale_factor=1,
neurons_per_core=None)`` maps the network onto the machine (:mod:`hardware.spinnaker.mapping`),
encodes every parameter and weight as the host tools do (:mod:`hardware.spinnaker.fixed`,
:mod:`hardware.spinnaker.synapses`), and assembles the integer fragments of each model's core
program (:mod:`hardware.spinnaker.cores`) and each plastic mechanism
(:mod:`hardware.spinnaker.stdp`) into one run loop compiled with numba and cached by the hash of
its source (the numba backend's pattern; this module never names a model or a mechanism).

One tick ``t`` (``shared/design/spinnaker.md`` §3, §7):

1. every core's neurons read their ring-buffer slot ``t mod D`` (then zero it), shift the
   16-bit sums left by the synapse type's ``r`` and update in sPyNNaker's order; spikes of tick
   ``t`` are labelled step ``t`` (state monitors read the state before the tick);
2. each spike becomes one multicast packet with its core's key; the packet reaches the cores
   the router tables send it to (:func:`hardware.spinnaker.mapping.route_key`, computed per
   core once); each receiving core queues it: beyond 256 packets in one tick it is lost
   (``Times_the_input_buffer_lost_packets``); otherwise its rows are fetched and each synapse
   adds its weight to slot ``(t + d) mod D`` with saturation at 0xFFFF (counted), unless the
   packet is later than the synapse's delay (the cycle-cost model, :mod:`hardware.spinnaker.timing`);
3. plastic rows are updated first (deferred STDP), post-synaptic spikes enter the post
   history of each plastic projection; periodic mechanisms (synaptic scaling) run at the
   tick's end.

``result.provenance`` holds sPyNNaker's counters per core and per router, the mapping's
resources, and the energy estimate (:mod:`hardware.spinnaker.provenance`).
"""

from __future__ import annotations

import re
import time

import numpy as np

from hardware.spinnaker import cores as _cores
from hardware.spinnaker import fixed, synapses, timing
from hardware.spinnaker import homeostasis as _homeostasis  # noqa: F401  (registers scaling)
from hardware.spinnaker import stdp as _stdp  # noqa: F401  (registers the on-chip STDP)
from hardware.spinnaker.mapping import map_network
from hardware.spinnaker.provenance import COUNTERS, build_provenance, route_stats
from snn.backends import implementation_for
from snn.backends.common import KernelArgs, load_kernel, mechanisms, render_fragment, spike_compaction
from snn.network import BuiltNetwork
from snn.results import ChunkCollector, Results, merge_chunks, record_meta
from snn.snapshot import Simulation, check_state_arrays

BACKEND = "spinnaker"
_CHUNK_STEPS = 2000
_SPIKE_CAPACITY = 1 << 20
_C = {name: i for i, name in enumerate(COUNTERS)}
#: Kernel arguments a run reads but never writes (left out of snapshots): connectivity,
#: core maps, routes; and those rewritten each tick before they are read (spike lists, flags,
#: monitor buffers, drained at the end of every run).
_READ_ONLY = re.compile(r"(X\d+_(ptr|ind|typ|d)|CO\d+|DCO\d+|DNS\d+|TPTR|TCORE|START|NCYC"
                        r"|spk\d+|F\d+|FW\d+|SM\d+_\w+|VM\d+_\w+)$")


def _impl(obj, what: str, supported: list[str]):
    """The registered core program of ``obj``'s own class (a subclass, e.g. an adaptive LIF,
    has state its base's program would ignore, so it does not inherit the base's)."""
    if type(obj).__name__ in supported:
        return implementation_for(obj, BACKEND)
    raise ValueError(f"{type(obj).__name__} ({what}) has no fixed-point implementation on the "
                     f"SpiNNaker target; supported: {', '.join(supported)}")


def _check_dt(dt: float) -> None:
    us = dt * 1e6
    if abs(us - round(us)) > 1e-6 or round(us) < 1:
        raise ValueError(f"dt={dt:g} s: the SpiNNaker timer ticks in whole microseconds; use "
                         "dt=1e-3 (sPyNNaker's default) or dt=1e-4")


class SpiNNakerSimulation(Simulation):
    """A network mapped onto an emulated SpiNNaker machine; ``run`` advances it.

    ``sim.save(path)`` writes a snapshot (:mod:`snn.snapshot`) and
    ``snn.Simulation.restore(path)`` continues it: every array the core programs change
    (neuron state, ring buffers, plastic weights, STDP pre traces and post histories, the
    Poisson cores' JKISS32 generator states, scaling sums), the router/queue bookkeeping,
    the provenance counters and the step, so the continued run is bit for bit the run that was
    never interrupted.

    Args:
        built: the sampled network (``net.build(backend="spinnaker", ...)`` passes it).
        machine: a :class:`~hardware.spinnaker.machine.Machine`, a name (``"spinn3"``,
            ``"spinn5"``, ``"WxH"``) or ``Machine.to_dict()``'s description.
        time_scale_factor: wall time per tick is ``dt × time_scale_factor``; the cycle budget
            of a core per tick scales with it.
        neurons_per_core: as :func:`~hardware.spinnaker.mapping.map_network`.
        max_expected_summed_weight: fixes the ring-buffer bound (our weight unit): a number
            or ``{"exc": x, "inh": y}``; default sPyNNaker's rule.
        chunk_steps, spike_capacity: as the numba backend.
    """

    backend = BACKEND

    def __init__(self, built: BuiltNetwork, machine="spinn5", time_scale_factor: int = 1,
                 neurons_per_core=None, max_expected_summed_weight=None,
                 chunk_steps: int = _CHUNK_STEPS, spike_capacity: int = _SPIKE_CAPACITY) -> None:
        from hardware.spinnaker.machine import Machine
        from snn.validate import check_int

        if isinstance(machine, dict):
            machine = Machine.from_dict(machine)

        t0 = time.perf_counter()
        if built.batch is not None:
            raise ValueError("the SpiNNaker target runs one network (no batch=); build without "
                             "batch= or use the numba/torch backends for batches")
        _check_dt(built.dt)
        self.time_scale_factor = check_int("time_scale_factor", time_scale_factor, minimum=1)
        self.chunk_steps = check_int("chunk_steps", chunk_steps, minimum=1)
        self._spike_capacity = check_int("spike_capacity", spike_capacity, minimum=1)
        self.built = built
        self.dt = built.dt
        self.seed = built.seed
        self.step = 0
        supported = _cores.supported_models()
        self._impls = [_impl(p.model, f"population {p.name!r}", supported)
                       for p in built.populations]
        self.mapping = map_network(built, machine, neurons_per_core=neurons_per_core,
                                   dt=built.dt, seed=built.seed)
        self.budget = timing.budget_cycles(self.dt, self.time_scale_factor)
        self._max_sum = max_expected_summed_weight
        self.options = {"machine": self.mapping.machine.to_dict(),
                        "time_scale_factor": self.time_scale_factor,
                        "neurons_per_core": neurons_per_core,
                        "max_expected_summed_weight": max_expected_summed_weight,
                        "chunk_steps": self.chunk_steps, "spike_capacity": self._spike_capacity}
        source, self._args, self._layout = self._generate()
        self.source = source
        self._kernel = load_kernel(source, "spinnaker")
        self._call(0, 0)
        self.build_s = time.perf_counter() - t0

    # -- public ------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, dict[str, np.ndarray]]:
        """On-core state (raw s16.15 ints and timers) by population and variable."""
        return {p.name: dict(s) for p, s in zip(self.built.populations, self._state, strict=True)}

    def weight_shifts(self, population: str) -> tuple[int, int]:
        """The ring-buffer left shifts ``(r_exc, r_inh)`` of a population."""
        for p, r in zip(self.built.populations, self._shifts, strict=True):
            if p.name == population:
                return r
        raise KeyError(f"no population named {population!r}")

    def weights(self, projection: str) -> np.ndarray:
        """A projection's weights as the core holds them, decoded to our unit (CSR order)."""
        for x, proj in enumerate(self.built.projections):
            if proj.name == projection:
                w16, types, scale = self._w16[x]
                r = np.asarray(self._shifts[proj.post])[types]
                value = w16.astype(np.float64) * np.exp2(r.astype(np.float64) - 15) / scale
                return np.where(types == synapses.INH, -value, value)
        names = ", ".join(p.name for p in self.built.projections) or "none"
        raise KeyError(f"no projection named {projection!r}; projections: {names}")

    def set_weights(self, projection: str, values) -> None:
        """Overwrite a plastic projection's weights (CSR order, our unit), encoded as the host
        tools write them (16-bit magnitudes under the post population's shifts; the sign of
        each weight must keep its synapse type)."""
        from snn.backends.common import check_weights

        arr = check_weights(projection, values, self.built)
        x = next(i for i, p in enumerate(self.built.projections) if p.name == projection)
        w16, types, scale = self._w16[x]
        if np.any(synapses.synapse_types(arr) != types):
            raise ValueError(f"weights for {projection!r} change sign; on the chip the sign is "
                             "the synapse type, fixed when the network was built")
        shifts = self._shifts[self.built.projections[x].post]
        for t in (synapses.EXC, synapses.INH):
            sel = types == t
            w16[sel] = fixed.encode_weights(arr[sel] * scale[sel], shifts[t])

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every array the run loop changes, by kernel argument name (copies), with the
        monitor counters (``counters``) and provenance (``prov``)."""
        out = {"counters": self._counters.copy(), "prov": self._prov.copy()}
        for name, value in zip(self._args.names, self._args.values, strict=True):
            if isinstance(value, np.ndarray) and not _READ_ONLY.match(name):
                out[name] = value.copy()
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Overwrite the running state in place with ``arrays`` (from :meth:`state_arrays`
        of a simulation of the same network and options)."""
        check_state_arrays(self.state_arrays(), arrays, BACKEND)
        targets = dict(zip(self._args.names, self._args.values, strict=True))
        targets.update(counters=self._counters, prov=self._prov)
        for name, value in arrays.items():
            targets[name][...] = value

    def flush_plasticity(self) -> None:
        """Apply every plastic update the cores have deferred (pair STDP applies a synapse's
        potentiation only when its pre neuron next spikes, so ``weights`` shows the rows as a
        board's SDRAM holds them): each row is processed now, at the current step, as
        :meth:`hardware.spinnaker.stdp.SpiNNakerPairSTDP.flush` describes. sPyNNaker 7.4.1 does
        not do this at the end of a run (its issues #394 and #1492 ask for it); call it before
        reading weights that must include the last post spikes' pairings."""
        for x, impl, mech, arrays in self._mechs:
            impl.flush(mech, self.step, self.built.projections[x], arrays, self._w16[x][0])

    def set_modulator(self, name: str, value: float) -> None:
        """No on-chip mechanism reads a neuromodulator: always a ``KeyError``."""
        raise KeyError(f"no mechanism reads a modulator named {name!r} on the SpiNNaker target "
                       "(on-chip mechanisms: " + ", ".join(_stdp.supported_mechanisms()) + ")")

    def run(self, duration: float, progress: bool = False, hdf5=None) -> Results:
        """Advance by ``duration`` seconds; returns the recordings with ``provenance``."""
        from snn.validate import check_positive_time

        if hdf5 is not None:
            raise ValueError("hdf5= streaming is not available on the SpiNNaker target; save "
                             "the result with result.to_hdf5(path)")
        duration = check_positive_time("duration", duration)
        n_steps = int(round(duration / self.dt))
        if abs(n_steps * self.dt - duration) > 1e-9 * max(1.0, duration) or n_steps < 1:
            raise ValueError(f"duration={duration:g} s is not a whole number of ticks of "
                             f"dt={self.dt:g} s")
        k_start, k_end = self.step, self.step + n_steps
        meta = record_meta(self.built, BACKEND)
        collected = ChunkCollector(meta)
        self._prov[:] = 0
        wall = 0.0
        k = k_start
        while k < k_end:
            k1 = min(k_end, k + self.chunk_steps)
            parts = []
            kb = k
            while kb < k1:
                t0 = time.perf_counter()
                reached = self._call(kb, k1)
                wall += time.perf_counter() - t0
                parts.append(self._drain_spikes())
                kb = reached
            parts.append(self._drain_states(k))
            collected.add(merge_chunks(parts, None))
            k = k1
        self.step = k_end
        result = collected.results({"wall_s": wall, "build_s": self.build_s}, k_start, k_end)
        result.provenance = build_provenance(self, n_steps, wall)
        return result

    # -- code generation ---------------------------------------------------------------
    def _generate(self):
        b = self.built
        args = KernelArgs([], [])
        layout = {"spike_mons": [], "state_mons": []}
        vertices = self.mapping.vertices
        n_cores = len(vertices)
        self._counters = np.zeros(len(b.spike_monitors) + len(b.state_monitors) + 1, np.int64)
        self._prov = np.zeros((n_cores, len(COUNTERS)), np.int64)
        self._state = []
        self._shifts = []
        self._w16 = {}
        self._mechs = []
        pops = []
        ncyc = np.zeros(n_cores, np.int64)
        start_of = np.array([v.start for v in vertices], np.int64)
        for i, pop in enumerate(b.populations):
            impl = self._impls[i]
            vs = self.mapping.vertices_of(pop.name)
            c = np.empty(pop.n, np.int64)
            local = np.empty(pop.n, np.int64)
            for m, v in enumerate(vs):
                c[v.start:v.stop] = v.index
                local[v.start:v.stop] = m
                ncyc[v.index] = timing.TIMER_CYCLES + impl.cycles_per_neuron * v.n
            args.add(f"CO{i}", c)
            consts = impl.constants(pop.model, pop.n, b.dt, b.seed, local)
            state = impl.state(pop.model, pop.state, pop.n, b.dt)
            self._state.append(state)
            mapping = {"$k": "k", "$j": "j", "@n": f"N{i}", "@spikes": f"spk{i}",
                       "@nspikes": f"nsp{i}", "$in_exc": "in_e", "$in_inh": "in_i"}
            args.add(f"N{i}", pop.n)
            for name, arr in state.items():
                arg = args.add(f"P{i}_{name}", arr)
                mapping[f"${name}"], mapping[f"@{name}"] = f"{arg}[j]", arg
            text = impl.prologue(pop.model) + impl.body(pop.model)
            for name, value in consts.items():
                per = isinstance(value, np.ndarray) and value.shape == (pop.n,)
                raw = re.search(rf"@{name}\b", text) is not None
                if per and not raw and pop.n and np.all(value == value[0]):
                    # one value for all: a scalar argument (fewer loads, and no aliasing
                    # checks that keep LLVM from vectorising the neuron loop)
                    value, per = value.dtype.type(value[0]).item(), False
                arg = args.add(f"C{i}_{name}", value)
                mapping[f"${name}"], mapping[f"@{name}"] = (f"{arg}[j]" if per else arg), arg
            for loc in set(re.findall(r"%(\w+)", text)):
                mapping[f"%{loc}"] = f"L{i}_{loc}"
            args.add(f"spk{i}", np.zeros(pop.n, np.int32))
            if impl.per_neuron:
                flags = np.zeros(-(-pop.n // 8) * 8, np.bool_)
                args.add(f"F{i}", flags)
                args.add(f"FW{i}", flags.view(np.uint64))
            args.add(f"NC{i}", int(impl.cycles_per_neuron))
            pops.append((impl, mapping))
            if pop.model.is_source:
                self._shifts.append((0, 0))
            else:
                scale = impl.weight_scale(pop.model, pop.n)
                self._shifts.append(synapses.ring_buffer_shifts(b, i, scale, b.dt, self._max_sum))

        # Ring buffers: D = next power of two >= the longest incoming delay (delays 1..D).
        rings = {}
        for i, pop in enumerate(b.populations):
            delays = [p.max_delay for p in b.projections if p.post == i]
            if delays:
                depth = 1 << int(np.ceil(np.log2(max(2, max(delays)))))
                rings[i] = (args.add(f"R{i}", np.zeros((depth, 2, pop.n), np.int32)),
                            args.add(f"RM{i}", depth - 1))
                args.add(f"SH{i}_0", int(self._shifts[i][0]))
                args.add(f"SH{i}_1", int(self._shifts[i][1]))

        # Routes: the cores each sending core's packets reach, through the compressed tables;
        # a neuron core's packets also reach, later, the cores its delay-extension core
        # sends to (the emulator processes them at the source's tick: the ring slot is the
        # same, only the cost model sees them early).
        index_of_core = {v.core: v.index for v in vertices}
        self._routes = route_stats(self.mapping)
        delay_of = {e.pre: e.post for e in self.mapping.edges if e.kind == "to_delay"}
        tptr = np.zeros(n_cores + 1, np.int64)
        tlist = []
        for v in vertices:
            reached = {index_of_core[c] for c in self._routes[v.index]["cores"]}
            if v.index in delay_of:
                reached |= {index_of_core[c]
                            for c in self._routes[delay_of[v.index]]["cores"]}
            tlist.extend(sorted(c for c in reached if not vertices[c].is_delay))
            tptr[v.index + 1] = len(tlist)
        delay_code = self._delay_extension_args(args, delay_of)
        args.add("TPTR", tptr)
        args.add("TCORE", np.array(tlist, np.int64))
        args.add("START", start_of)
        args.add("NCYC", ncyc)
        for name in ("QCOUNT", "BUSY", "WORK", "LATE", "DROP", "ROWUID", "TSENT"):
            args.add(name, np.zeros(n_cores, np.int64) - (1 if name in ("DROP", "ROWUID") else 0))
        args.add("UID", np.zeros(1, np.int64))
        args.add("BUDGET", int(self.budget))

        # Monitors.
        spike_mon_code, state_mon_code, capacity_checks = [], [], []
        for m, (name, pop_i, subset) in enumerate(b.spike_monitors):
            n = b.populations[pop_i].n
            cap = max(self._spike_capacity, 4 * n)
            s_arg = args.add(f"SM{m}_steps", np.zeros(cap, np.int64))
            i_arg = args.add(f"SM{m}_idx", np.zeros(cap, np.int32))
            layout["spike_mons"].append((name, s_arg, i_arg, m))
            capacity_checks.append(f"if counters[{m}] + N{pop_i} > {cap}:\n    return k")
            cond, pad = "", ""
            if subset is not None:
                mask = np.zeros(n, np.bool_)
                mask[subset] = True
                cond, pad = f"if {args.add(f'SM{m}_mask', mask)}[i]:\n        ", "    "
            spike_mon_code.append(
                f"c = counters[{m}]\nfor s in range(nsp{pop_i}):\n    i = spk{pop_i}[s]\n"
                f"    {cond}{s_arg}[c] = k\n    {pad}{i_arg}[c] = i\n    {pad}c += 1\n"
                f"counters[{m}] = c")
        base = len(b.spike_monitors)
        for m, (name, pop_i, variables, indices, every) in enumerate(b.state_monitors):
            impl = self._impls[pop_i]
            model = b.populations[pop_i].model
            try:
                onchip = [impl.recorded(model, v) for v in variables]
            except KeyError as err:
                raise ValueError(f"state monitor {name!r}: variable {err} is not held on the "
                                 "SpiNNaker core") from None
            rows = self.chunk_steps // every + 2
            buf = args.add(f"VM{m}_buf", np.zeros((rows, len(variables), indices.size)))
            idx = args.add(f"VM{m}_idx", indices.astype(np.int64))
            layout["state_mons"].append((name, pop_i, variables, indices, every, buf, base + m))
            reads = "\n".join(f"        {buf}[r, {q}, qq] = P{pop_i}_{var}[{idx}[qq]]"
                              for q, var in enumerate(onchip))
            state_mon_code.append(
                f"if k % {every} == 0:\n    r = counters[{base + m}]\n"
                f"    for qq in range({indices.size}):\n{reads}\n    counters[{base + m}] = r + 1")

        # Projections and plasticity.
        by_pre: dict[int, list[str]] = {}
        post_code, tick_code = [], []
        for x, proj in enumerate(b.projections):
            post = proj.post
            scale = self._impls[post].weight_scale(b.populations[post].model, b.populations[post].n)
            sw = proj.synapse_weights().astype(np.float64)
            types = synapses.synapse_types(sw)
            syn_scale = scale[proj.indices]
            w16 = np.empty(sw.size, np.uint16)
            for t in (synapses.EXC, synapses.INH):
                sel = types == t
                w16[sel] = fixed.encode_weights(sw[sel] * syn_scale[sel], self._shifts[post][t])
            self._w16[x] = (w16, types, syn_scale)
            ptr = args.add(f"X{x}_ptr", proj.indptr)
            ind = args.add(f"X{x}_ind", proj.indices)
            w = args.add(f"X{x}_w", w16)
            typ = args.add(f"X{x}_typ", types)
            dly = args.add(f"X{x}_d", proj.delays) + "[q]" if proj.delays is not None \
                else args.add(f"X{x}_delay", int(proj.delay))
            ring, rmask = rings[post]
            plastic = {"synapse": "", "pre_row": "", "after_row": ""}
            syn_cycles = timing.SYNAPSE_CYCLES
            for mi, mech in enumerate(mechanisms(proj.plasticity)):
                impl = _impl(mech, f"plasticity of projection {proj.name!r}",
                             _stdp.supported_mechanisms())
                arrays = impl.arrays(mech, proj, b.populations[proj.pre].n,
                                     b.populations[post].n, b.dt, self._shifts[post], syn_scale,
                                     w16)
                tok = {"$k": "k", "$i": "src", "$j": "j", "$q": "q", "$d": "d", "@w16": w,
                       "@typ": typ, "@core": f"CO{post}", "@prov": "prov",
                       "@PSAT": str(_C["plastic_saturations"]),
                       "@PEV": str(_C["plastic_pre_synaptic_events"]), "@ind": ind,
                       "@n_post": str(b.populations[post].n)}
                for name, value in arrays.items():
                    tok[f"@{name}"] = args.add(f"X{x}M{mi}_{name}", value)
                self._mechs.append((x, impl, mech, arrays))
                texts = {key: getattr(impl, key)(mech) for key in
                         ("pre_row", "synapse", "after_row", "post_spike", "tick_end")}
                for loc in set(re.findall(r"%(\w+)", "\n".join(texts.values()))):
                    tok[f"%{loc}"] = f"x{x}m{mi}_{loc}"
                for key in ("pre_row", "synapse", "after_row"):
                    if texts[key].strip():
                        plastic[key] += render_fragment(texts[key], tok, 0) + "\n"
                if texts["post_spike"].strip():
                    post_code.append(
                        f"for s in range(nsp{post}):\n    j = spk{post}[s]\n"
                        + render_fragment(texts["post_spike"], tok, 4))
                if texts["tick_end"].strip():
                    tick_code.append(render_fragment(texts["tick_end"], tok, 0))
                syn_cycles = timing.PLASTIC_SYNAPSE_CYCLES
            sat = _C["plastic_saturations"] if proj.plasticity else _C["saturations"]
            uniform = types.size == 0 or bool(np.all(types == types[0]))
            t_of = str(int(types[0])) if uniform and types.size else f"{typ}[q]"
            flush = (f"BUSY[prev] += {syn_cycles} * cnt\n"
                     f"WORK[prev] += {syn_cycles} * cnt\n"
                     f"prov[prev, {_C['synaptic_events']}] += cnt")
            # Per synapse: the target core (a new row when it changes), then the ring add;
            # costs and counters are summed per row and flushed when the row ends.
            body = (
                f"for q in range({ptr}[src], {ptr}[src + 1]):\n"
                f"    j = {ind}[q]\n"
                f"    c = CO{post}[j]\n"
                f"    if c != prev:\n"
                f"        if prev >= 0:\n"
                + render_fragment(flush, {}, 12) + "\n"
                f"        prev = c\n"
                f"        cnt = 0\n"
                f"        dropped = DROP[c] == uid\n"
                f"        late = LATE[c]\n"
                f"        if not dropped:\n"
                f"            ROWUID[c] = uid\n"
                f"            BUSY[c] += {timing.ROW_CYCLES}\n"
                f"            WORK[c] += {timing.ROW_CYCLES}\n"
                f"            prov[c, {_C['rows_fetched']}] += 1\n"
                f"    if dropped:\n"
                f"        continue\n"
                f"    d = {dly}\n"
                f"    if d <= late:\n"
                f"        prov[c, {_C['skipped_synapses']}] += 1\n"
                f"        continue\n"
                + render_fragment(plastic["synapse"], {}, 4) + "\n"
                f"    slot = (k + d) & {rmask}\n"
                f"    acc = {ring}[slot, {t_of}, j] + {w}[q]\n"
                f"    if acc & 0x10000:\n"
                f"        acc = 0xFFFF\n"
                f"        prov[c, {sat}] += 1\n"
                f"    {ring}[slot, {t_of}, j] = acc\n"
                f"    cnt += 1\n"
                f"if prev >= 0:\n"
                + render_fragment(flush, {}, 4) + "\n")
            code = ("prev = -1\ncnt = 0\ndropped = False\nlate = 0\n" + plastic["pre_row"] + body
                    + plastic["after_row"])
            by_pre.setdefault(proj.pre, []).append(code)

        deliver_code = []
        for pre, codes in by_pre.items():
            deliver_code.append(
                f"for s in range(nsp{pre}):\n"
                f"    src = spk{pre}[s]\n"
                f"    v = CO{pre}[src]\n"
                f"    uid = UID[0] + 1\n"
                f"    UID[0] = uid\n"
                f"    prov[v, {_C['packets_sent']}] += 1\n"
                f"    TSENT[v] += 1\n"
                + delay_code.get(pre, "") +
                f"    arrival = {timing.TIMER_CYCLES} + NC{pre} * (src - START[v] + 1)\n"
                f"    for tt in range(TPTR[v], TPTR[v + 1]):\n"
                f"        c = TCORE[tt]\n"
                f"        prov[c, {_C['packets_received']}] += 1\n"
                f"        qn = QCOUNT[c] + 1\n"
                f"        QCOUNT[c] = qn\n"
                f"        if qn > {timing.INPUT_BUFFER_SIZE}:\n"
                f"            prov[c, {_C['input_buffer_lost_packets']}] += 1\n"
                f"            DROP[c] = uid\n"
                f"            continue\n"
                f"        if qn > prov[c, {_C['max_filled_input_buffer']}]:\n"
                f"            prov[c, {_C['max_filled_input_buffer']}] = qn\n"
                f"        st = max(BUSY[c], arrival)\n"
                f"        lateness = st // BUDGET\n"
                f"        LATE[c] = lateness\n"
                f"        if lateness > 0:\n"
                f"            prov[c, {_C['late_spikes']}] += 1\n"
                f"            if lateness > prov[c, {_C['max_late_spike']}]:\n"
                f"                prov[c, {_C['max_late_spike']}] = lateness\n"
                f"        BUSY[c] = st + {timing.PACKET_CYCLES}\n"
                f"        WORK[c] += {timing.PACKET_CYCLES}\n"
                f"        prov[c, {_C['pre_synaptic_events']}] += 1\n"
                + "\n".join(render_fragment(code, {}, 4) for code in codes) + "\n"
                f"    for tt in range(TPTR[v], TPTR[v + 1]):\n"
                f"        c = TCORE[tt]\n"
                f"        if DROP[c] != uid and ROWUID[c] != uid:\n"
                f"            prov[c, {_C['bitfield_filtered_packets']}] += 1")
        end_code = (
            f"for c in range({n_cores}):\n"
            f"    wk = NCYC[c] + WORK[c]\n"
            f"    prov[c, {_C['cycles']}] += wk\n"
            f"    if wk > prov[c, {_C['max_cycles_in_tick']}]:\n"
            f"        prov[c, {_C['max_cycles_in_tick']}] = wk\n"
            f"    if wk > BUDGET:\n"
            f"        prov[c, {_C['timer_tick_overruns']}] += 1\n"
            f"        over = (wk - 1) // BUDGET\n"
            f"        if over > prov[c, {_C['max_timer_tick_overrun']}]:\n"
            f"            prov[c, {_C['max_timer_tick_overrun']}] = over\n"
            f"    if TSENT[c] > prov[c, {_C['max_spikes_in_a_tick']}]:\n"
            f"        prov[c, {_C['max_spikes_in_a_tick']}] = TSENT[c]\n"
            f"    TSENT[c] = 0\n"
            f"    QCOUNT[c] = 0\n"
            f"    BUSY[c] = 0\n"
            f"    WORK[c] = 0\n"
            f"    LATE[c] = 0")

        # Assemble.
        lines = ["    for k in range(k0, k1):"]

        def block(parts, indent=8):
            return "\n".join(render_fragment(p, {}, indent) for p in parts if p)

        if capacity_checks:
            lines.append(block(capacity_checks))
        if state_mon_code:
            lines.append(block(state_mon_code))
        for i, (impl, mapping) in enumerate(pops):
            model = b.populations[i].model
            lines.append(f"        nsp{i} = 0")
            pro = impl.prologue(model)
            if pro:
                lines.append(render_fragment(pro, mapping, 8))
            if not impl.per_neuron:
                lines.append(render_fragment(impl.body(model), mapping, 8))
                continue
            if i in rings:
                ring, rmask = rings[i]
                r_e, r_i = f"SH{i}_0", f"SH{i}_1"
                lines.append(f"        slot = k & {rmask}")
            lines.append(f"        for j in range(N{i}):")
            if i in rings:
                lines.append(render_fragment(
                    f"in_e = np.int64({ring}[slot, 0, j]) << {r_e}\n"
                    f"in_i = np.int64({ring}[slot, 1, j]) << {r_i}", {}, 12))
            else:
                lines.append("            in_e = 0\n            in_i = 0")
            lines.append(render_fragment(impl.body(model), mapping, 12))
            lines.append(f"            F{i}[j] = spiked")
            if i in rings:
                lines.append(f"        {ring}[slot, :, :] = 0")
            # Compaction, eight flags a word (as the numba backend): a tick without spikes
            # costs N/8 tests, and the neuron loop above stays free of stores it cannot
            # vectorise.
            lines.append(render_fragment(spike_compaction(i), {}, 8))
        for part in (spike_mon_code, post_code, deliver_code, tick_code, [end_code]):
            if part:
                lines.append(block(part))
        lines.append("    return k1")
        header = (
            "# Generated by synaptica's SpiNNaker target. Do not edit.\n"
            "import numpy as np\nfrom numba import njit\n\n\n"
            "@njit(cache=True, nogil=True, error_model='numpy')\n"
            f"def run_loop(k0, k1, counters, prov, {', '.join(args.names)}):\n")
        return header + "\n".join(lines) + "\n", args, layout

    def _delay_extension_args(self, args: KernelArgs, delay_of: dict) -> dict[int, str]:
        """Per source population with delay-extension cores, the fragment that counts their
        traffic: a spike reaches its slice's delay core (one packet received) and leaves it
        once per delay stage that holds a synapse of that neuron (``DNS``), as sPyNNaker's
        delay extension sends only the stages its bit field marks."""
        b, out = self.built, {}
        for pre in sorted({self.mapping.vertices[d].pop_index for d in delay_of.values()}):
            n = b.populations[pre].n
            dco = np.empty(n, np.int64)
            for v in self.mapping.vertices_of(b.populations[pre].name):
                dco[v.start:v.stop] = delay_of[v.index]
            per_stage = self.mapping.vertices[int(dco[0])].delay_per_stage
            used = np.zeros(n, np.int64)
            for proj in b.projections:
                if proj.pre != pre or proj.n_synapses == 0:
                    continue
                d = proj.delays if proj.delays is not None else np.full(proj.n_synapses,
                                                                        proj.delay)
                late = d > per_stage
                rows = np.repeat(np.arange(n), np.diff(proj.indptr))[late]
                np.bitwise_or.at(used, rows, 1 << (-(-d[late].astype(np.int64) // per_stage)
                                                   - 1))
            stages = np.array([bin(int(u)).count("1") for u in used], np.int64)
            dco_arg, dns_arg = args.add(f"DCO{pre}", dco), args.add(f"DNS{pre}", stages)
            out[pre] = (f"    dv = {dco_arg}[src]\n"
                        f"    prov[dv, {_C['packets_received']}] += 1\n"
                        f"    prov[dv, {_C['packets_sent']}] += {dns_arg}[src]\n"
                        f"    TSENT[dv] += {dns_arg}[src]\n")
        return out

    def _call(self, k0: int, k1: int) -> int:
        return int(self._kernel(k0, k1, self._counters, self._prov, *self._args.values))

    # -- recordings --------------------------------------------------------------------
    def _values(self) -> dict[str, object]:
        return dict(zip(self._args.names, self._args.values, strict=True))

    def _drain_spikes(self) -> dict[str, tuple]:
        out = {}
        values = self._values()
        for name, s_arg, i_arg, m in self._layout["spike_mons"]:
            c = int(self._counters[m])
            out[name] = ("spikes", values[s_arg][:c].copy(), values[i_arg][:c].copy(), None)
            self._counters[m] = 0
        return out

    def _drain_states(self, k0: int) -> dict[str, tuple]:
        out = {}
        values = self._values()
        for name, pop_i, variables, indices, every, buf, slot in self._layout["state_mons"]:
            r = int(self._counters[slot])
            first = -(-k0 // every) * every
            steps = np.arange(first, first + r * every, every, dtype=np.int64)
            raw = values[buf][:r]
            impl, model = self._impls[pop_i], self.built.populations[pop_i].model
            data = np.stack([impl.decode(model, var, raw[:, q, :], indices, steps)
                             for q, var in enumerate(variables)], axis=1) if r else raw.copy()
            out[name] = ("state", steps, data)
            self._counters[slot] = 0
        return out


__all__ = ["SpiNNakerSimulation"]
