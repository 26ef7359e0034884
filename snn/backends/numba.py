"""The numba backend: one generated, compiled run loop per network structure.

Each model contributes code fragments (:mod:`snn.backends.numba_models`); this module
assembles the fragments of one network into the source of a single function that advances
every population, records monitors and delivers spikes for a range of steps, with no Python
in the per-step loop. The source is written to a cache directory under a hash of its text and
compiled with ``cache=True``, so a later run of a network of the same structure loads the
machine code instead of compiling. Parameters are arguments, not literals, so changing a
parameter does not recompile.

The loop is re-entrant: every piece of state lives in arrays owned by :class:`NumbaSimulation`,
so a run is executed in chunks (for progress, for draining monitors, for streaming to HDF5)
at a cost of one Python call per chunk.

Order of one step ``k`` (time ``k * dt``):

1. state monitors read the state (all input due at step ``k`` has arrived);
2. each population advances from ``t_k`` to ``t_{k+1}``, checks its threshold and resets;
   its spikes are labelled step ``k``;
3. spike monitors record; spikes are delivered through CSR rows of the neurons that fired,
   straight into the target variable for a one-step delay or into a ring buffer slot
   ``(k + d) % D`` for longer delays;
4. plastic projections (see :mod:`snn.backends.numba_plasticity`) update the weights of the
   rows of their presynaptic spikes during step 3, then the columns of their postsynaptic
   spikes, then their traces;
5. ring-buffer input due at step ``k + 1`` is added to the target variables.

Threads: ``net.build(backend="numba", threads=n)`` runs the loop on ``n`` threads, each the
owner of one block of neurons of every population, with its ring-buffer columns and the part
of every static row that lands in it, so no atomics are needed and results are bit-identical
for any ``n`` (see :func:`_threaded_loop`). The threads run the whole chunk and meet at one
barrier a step (:mod:`snn.backends.numba_sync`). The default, ``threads="auto"``, takes one
thread per :data:`NEURONS_PER_THREAD` neurons, at most one per core that other processes leave
idle when the network is built: small networks, and networks built on a busy machine, run on
one (threads that wait for descheduled partners every step are slower than one thread).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from snn.backends import implementation_for, numba_rng, numba_sync
from snn.backends.common import (
    KernelArgs,
    check_modulator,
    check_weights,
    load_kernel,
    render_fragment,
    spike_compaction,
    weights_of,
)
from snn.backends.numba_plasticity import plastic_delivery
from snn.network import BuiltNetwork
from snn.results import ChunkCollector, Results, StreamWriter, merge_chunks, record_meta
from snn.snapshot import Simulation, check_state_arrays

BACKEND = "numba"
_SPIKE_CAPACITY = 1 << 20
_CHUNK_STEPS = 2000
#: Neurons a thread must have before ``threads="auto"`` uses another one.
NEURONS_PER_THREAD = 16384
# Kernel arguments that change while running: population state (P), ring buffers (R),
# plasticity mechanism arrays (X<x>M<m>_); plastic weights are added by name.
_STATE_ARG = re.compile(r"^(P\d+_|R\d+_|X\d+M\d+_)")


class NumbaSimulation(Simulation):
    """A network compiled for the numba backend; ``run`` advances it and returns recordings.

    ``chunk_steps``: steps per compiled call (monitors drain between calls);
    ``spike_capacity``: spike-monitor buffer entries; ``exact_input``: every projection goes
    through a ring buffer (the order torch's float64 path reproduces); ``threads``: neuron
    blocks run in parallel (an int up to ``NUMBA_NUM_THREADS``, or ``"auto"``: one per
    :data:`NEURONS_PER_THREAD` neurons, at most one per idle core, see :func:`check_threads`).
    """

    backend = BACKEND

    def __init__(self, built: BuiltNetwork, chunk_steps: int = _CHUNK_STEPS,
                 spike_capacity: int = _SPIKE_CAPACITY, exact_input: bool = False,
                 threads: int | str = "auto") -> None:
        from snn.validate import check_int

        check_int("chunk_steps", chunk_steps, minimum=1)
        check_int("spike_capacity", spike_capacity, minimum=1)
        self.threads = check_threads(threads, built)
        if self.threads > 1:
            # The barrier's counter; per thread (a cache line each): cycle-counter ticks spent
            # spinning at barriers, barriers passed, CPU nanoseconds in the run loop. Threads 1.. of the
            # run loop come from a pool made on the first run (again in a forked child);
            # thread 0 is the caller's.
            self._barrier = np.zeros(8, np.int64)
            self._waits = np.zeros((self.threads, 8), np.int64)
            self._pool: tuple[int, ThreadPoolExecutor] | None = None
        t0 = time.perf_counter()
        self.built = built
        self.dt = built.dt
        self.seed = built.seed
        self.step = 0
        self.chunk_steps = int(chunk_steps)
        self.exact_input = bool(exact_input)
        self._spike_capacity = int(spike_capacity)
        self.options = {"chunk_steps": self.chunk_steps, "spike_capacity": self._spike_capacity,
                        "exact_input": self.exact_input,
                        # as asked: a snapshot of an "auto" run restores as "auto" elsewhere
                        "threads": threads if threads == "auto" else self.threads}
        source, self._args, self._layout = self._generate()
        self.source = source
        self._kernel = load_kernel(source, "kernel")
        # First call with an empty step range: loads numba's cache or compiles.
        self._call(0, 0, 0)
        self.build_s = time.perf_counter() - t0

    # -- public ------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, dict[str, np.ndarray]]:
        """Live state arrays by population and variable (views, not copies); ``(batch, n)``
        arrays in a batched network."""
        return {p.name: p.state for p in self.built.populations}

    def weights(self, projection: str) -> np.ndarray:
        """The current weights of a projection (CSR order, a copy)."""
        return weights_of(self.built, projection).copy()

    def set_weights(self, projection: str, values) -> None:
        """Overwrite a plastic projection's weights (CSR order), e.g. to normalise them
        between runs."""
        weights_of(self.built, projection, plastic=True)[:] = check_weights(projection, values,
                                                                            self.built)

    def set_modulator(self, name: str, value: float) -> None:
        """Set the neuromodulator ``name`` of every mechanism that reads it (from this step)."""
        value = check_modulator(name, value, [m for _p, rt in self._plastic.values()
                                              for _i, m, _a in rt])
        for _proj, runtime in self._plastic.values():
            for impl, mech, arrays in runtime:
                if getattr(mech, "modulator", None) == name:
                    impl.set_modulator(mech, arrays, self.step, value)

    def thread_stats(self) -> dict[str, object]:
        """How the threads of the run loop worked since the build: the ``barriers`` each
        thread passed and, per thread, its ``cpu_s`` (CPU seconds in the run loop) and
        ``wait_cpu_s`` (of which spent spinning at barriers, from the processor's cycle
        counter; time asleep there uses no CPU).
        ``cpu_s - wait_cpu_s`` is a thread's work; a thread that waits much more than the
        others finished its blocks early (imbalance), or the others were descheduled (a busy
        machine). One thread: ``{"threads": 1}``."""
        if self.threads == 1:
            return {"threads": 1}
        rate = numba_sync.cycle_rate()
        cpu = self._waits[:, 2] * 1e-9
        wait = self._waits[:, 0] / rate if rate > 0 else np.zeros(self.threads)
        return {"threads": self.threads, "barriers": int(self._waits[0, 1]),
                "cpu_s": cpu.tolist(), "wait_cpu_s": np.minimum(wait, cpu).tolist()}

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every array the run loop changes (state, ring buffers, plastic weights and
        mechanism arrays, monitor counters), by kernel argument name (copies)."""
        plastic = {f"X{x}_weights" for x, p in enumerate(self.built.projections) if p.plasticity}
        out = {name: np.array(value) for name, value in self._values().items()
               if isinstance(value, np.ndarray) and (_STATE_ARG.match(name) or name in plastic)}
        out["counters"] = self._counters.copy()
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Overwrite the run loop's arrays in place with ``arrays`` (from :meth:`state_arrays`)."""
        current = self.state_arrays()
        check_state_arrays(current, arrays, BACKEND)
        values = self._values()
        for name, value in arrays.items():
            (self._counters if name == "counters" else values[name])[...] = value

    def run(self, duration: float, progress: bool = False, hdf5: str | os.PathLike | None = None
            ) -> Results:
        """Advance by ``duration`` seconds; returns what the monitors recorded meanwhile.

        With ``hdf5=path`` the recordings stream to that file (written atomically at the end)
        and are read back from it.
        """
        from snn.validate import check_positive_time

        duration = check_positive_time("duration", duration)
        n_steps = int(round(duration / self.dt))
        if abs(n_steps * self.dt - duration) > 1e-9 * max(1.0, duration) or n_steps < 1:
            raise ValueError(
                f"duration={duration:g} s is not a whole number of steps of dt={self.dt:g} s"
            )
        k_start, k_end = self.step, self.step + n_steps
        collected = ChunkCollector(self._record_meta())
        writer = StreamWriter(hdf5, self._record_meta(), k_start, k_end) if hdf5 is not None \
            else None
        bar = _progress(n_steps, progress)
        samples = range(self.built.batch or 1)
        wall = 0.0
        try:
            k = k_start
            while k < k_end:
                k1 = min(k_end, k + self.chunk_steps)
                parts = []
                for b in samples:
                    kb = k
                    while kb < k1:  # returns early only when a spike buffer is full
                        t0 = time.perf_counter()
                        reached = self._call(b, kb, k1)
                        wall += time.perf_counter() - t0
                        parts.append(self._drain_spikes(b))
                        kb = reached
                    parts.append(self._drain_states(k, b))
                chunk = merge_chunks(parts, self.built.batch)
                if writer is not None:
                    writer.append(chunk, k1)
                else:
                    collected.add(chunk)
                if bar is not None:
                    bar.update(k1 - k)
                k = k1
            for _proj, runtime in self._plastic.values():
                for impl, mech, arrays in runtime:
                    impl.finish(mech, arrays, k_end)
            self.step = k_end
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
        timing = {"wall_s": wall, "build_s": self.build_s}
        if writer is not None:
            writer.close(timing, k_start, k_end)
            return Results.load(hdf5)
        return collected.results(timing, k_start, k_end)

    # -- code generation ---------------------------------------------------------------
    def _generate(self):
        b = self.built
        batch = b.batch
        par = self.threads > 1  # neuron blocks, one per thread (see _threaded_loop)
        args = KernelArgs([], [])
        layout = {"spike_mons": [], "state_mons": []}
        counters = np.zeros(len(b.spike_monitors) + len(b.state_monitors) + 1, np.int64)
        self._counters = counters
        lines: list[str] = []
        bind: list[str] = []  # batched: bind this sample's rows of per-sample arrays

        def per_sample(name: str, value: np.ndarray) -> str:
            """An argument with one row per sample when batched (bound to row ``b``)."""
            if batch is None:
                return args.add(name, value)
            args.add(f"{name}_all", value)
            bind.append(f"    {name} = {name}_all[b]")
            return name

        pops = []
        bounds: dict[int, np.ndarray] = {}
        for i, pop in enumerate(b.populations):
            impl = implementation_for(pop.model, BACKEND)
            stream = str(i)
            if batch is not None:
                stream = f"S{i}"
                bind.append(f"    S{i} = {i} + {len(b.populations)} * b")
            mapping = {"$k": "k", "$seed": "seed", "$j": "j", "@stream": stream,
                       "@n": f"N{i}", "@spikes": f"spk{i}", "@nspikes": f"nsp{i}"}
            args.add(f"N{i}", pop.n)
            for name, arr in pop.state.items():
                arg = per_sample(f"P{i}_{name}", arr)
                mapping[f"${name}"] = f"{arg}[j]"
                mapping[f"@{name}"] = arg
            for name, value, per_neuron in _constants(impl, pop, batch, b.dt):
                arg = per_sample(f"C{i}_{name}", value) if isinstance(value, np.ndarray) else \
                    args.add(f"C{i}_{name}", value)
                mapping[f"${name}"] = f"{arg}[j]" if per_neuron else arg
                mapping[f"@{name}"] = arg
            for local in set(re.findall(r"%(\w+)", impl.prologue(pop.model) + impl.body(pop.model))):
                mapping[f"%{local}"] = f"L{i}_{local}"
            args.add(f"spk{i}", np.zeros(pop.n, np.int32))
            if impl.per_neuron:
                flags = np.zeros(-(-pop.n // 8) * 8, np.bool_)
                args.add(f"F{i}", flags)
                args.add(f"FW{i}", flags.view(np.uint64))
            if par:
                # Block bounds (a population without a per-neuron body is block 0's alone),
                # spikes of even and odd steps, spike counts per block (one cache line each).
                bounds[i] = block_bounds(pop.n, self.threads) if impl.per_neuron else \
                    np.array([0] + [pop.n] * self.threads, np.int64)
                args.add(f"B{i}", bounds[i])
                args.add(f"SPK{i}", np.zeros((2, pop.n), np.int32))
                args.add(f"BN{i}", np.zeros((2, 8 * self.threads), np.int64))
                mapping.update({"@spikes": f"SV{i}", "@nspikes": f"ns{i}"})
            pops.append((impl, mapping))

        # Ring buffers: one per (post population, target variable) with delays > 1.
        rings: dict[tuple[int, str], tuple[str, int]] = {}
        for proj in b.projections:
            if proj.max_delay > 1 or self.exact_input:
                key = (proj.post, proj.target_var)
                depth = max(rings.get(key, ("", 0))[1], proj.max_delay + 1)
                rings[key] = (f"R{proj.post}_{proj.target_var}", depth)
        for (post, _var), (name, depth) in rings.items():
            shape = (depth, b.populations[post].n)
            per_sample(name, np.zeros(shape if batch is None else (batch, *shape), np.float64))

        # Monitors.
        spike_mon_code, state_mon_code, capacity_checks = [], [], []
        direct_mons: list[tuple[int, int, str, str]] = []
        for m, (name, pop_i, subset) in enumerate(b.spike_monitors):
            n = b.populations[pop_i].n
            cap = max(self._spike_capacity, 4 * n)
            s_arg = args.add(f"SM{m}_steps", np.zeros(cap, np.int64))
            i_arg = args.add(f"SM{m}_idx", np.zeros(cap, np.int32))
            layout["spike_mons"].append((name, pop_i, subset, s_arg, i_arg, m))
            capacity_checks.append(f"if counters[{m}] + N{pop_i} > {cap}:\n    return k" if not par
                                   else f"if cb{m} + N{pop_i} > {cap}:\n    reached = k\n    break")
            cond = ""
            if subset is not None:
                mask = np.zeros(n, np.bool_)
                mask[subset] = True
                cond = f"if {args.add(f'SM{m}_mask', mask)}[i]:\n        "
            pad = "    " if cond else ""
            if par and subset is None:  # every thread records its own block (_threaded_loop)
                direct_mons.append((m, pop_i, s_arg, i_arg))
                continue
            spike_mon_code.append(
                f"c = counters[{m}]\n"
                f"for s in range(nsp{pop_i}):\n"
                f"    i = spk{pop_i}[s]\n"
                f"    {cond}{s_arg}[c] = k\n"
                f"    {pad}{i_arg}[c] = i\n"
                f"    {pad}c += 1\n"
                f"counters[{m}] = c"
            )
        base = len(b.spike_monitors)
        for m, (name, pop_i, variables, indices, every) in enumerate(b.state_monitors):
            rows = self.chunk_steps // every + 2
            shape = (rows, len(variables), indices.size)
            buf = per_sample(f"VM{m}_buf",
                             np.zeros(shape if batch is None else (batch, *shape), np.float64))
            idx = args.add(f"VM{m}_idx", indices.astype(np.int64))
            layout["state_mons"].append((name, pop_i, variables, indices, every, buf, base + m))
            if not par:
                reads = "\n".join(f"        {buf}[r, {v}, q] = P{pop_i}_{var}[{idx}[q]]"
                                  for v, var in enumerate(variables))
                state_mon_code.append(
                    f"if k % {every} == 0:\n"
                    f"    r = counters[{base + m}]\n"
                    f"    for q in range({indices.size}):\n{reads}\n"
                    f"    counters[{base + m}] = r + 1"
                )
                continue
            # Threads: each reads the neurons of its own block; every thread counts the rows.
            reads = "\n".join(f"            {buf}[vr{m}, {v}, q] = P{pop_i}_{var}[j]"
                              for v, var in enumerate(variables))
            state_mon_code.append(
                f"if k % {every} == 0:\n"
                f"    for q in range({indices.size}):\n"
                f"        j = {idx}[q]\n"
                f"        if (j >= B{pop_i}[blk]) & (j < B{pop_i}[blk + 1]):\n{reads}\n"
                f"    vr{m} += 1"
            )

        # Projections.
        deliver_code, plastic_code = [], []
        static = []  # per entry of deliver_code: a static projection (parallel by post block)
        self._plastic = {}
        spikes_of = {key: f"spk{i},nsp{i}" for i, pop in enumerate(b.populations)
                     for key in (i, pop.name)}
        for x, proj in enumerate(b.projections):
            ptr = args.add(f"X{x}_indptr", proj.indptr)
            ind = args.add(f"X{x}_indices", proj.indices)
            if proj.homogeneous:
                w = args.add(f"X{x}_weight", float(proj.weights[0]))
                wq = w
            else:
                w = args.add(f"X{x}_weights", proj.weights)
                wq = f"{w}[q]"
            target = f"P{proj.post}_{proj.target_var}"
            ring = rings.get((proj.post, proj.target_var), (None, 0))
            if proj.delays is None and proj.delay == 1 and ring[0] is None:
                add = f"{target}[{ind}[q]] += {wq}"
            elif proj.delays is None:
                add = f"{ring[0]}[(k + {proj.delay}) % {ring[1]}, {ind}[q]] += {wq}"
            else:
                dl = args.add(f"X{x}_delays", proj.delays)
                add = (f"d = {dl}[q]\n"
                       f"if d == 1 and {not self.exact_input}:\n"
                       f"    {target}[{ind}[q]] += {wq}\n"
                       f"else:\n"
                       f"    {ring[0]}[(k + d) % {ring[1]}, {ind}[q]] += {wq}")
            if proj.plasticity:
                # The mechanisms' fragments go around the delivery (numba_plasticity).
                deliver, post_and_after, runtime = plastic_delivery(
                    x, proj, b.populations[proj.pre].n, b.populations[proj.post].n, b.dt,
                    args.add, w, ptr, ind, spikes_of, add)
                deliver_code.append(deliver)
                static.append(False)
                plastic_code.append(post_and_after)
                self._plastic[proj.name] = (proj, runtime)
                continue
            body = "\n".join("        " + line for line in add.splitlines())
            if not par:
                deliver_code.append(f"for s in range(nsp{proj.pre}):\n"
                                    f"    i = spk{proj.pre}[s]\n"
                                    f"    for q in range({ptr}[i], {ptr}[i + 1]):\n{body}")
            else:  # every spike in neuron order, the part of its row in this thread's block
                # Only the rows from the first to the last that has synapses (a projection
                # from a slice of a population): spikes outside them cost no pointer lookup,
                # and the pointers of both threads' rows stay fewer and closer in cache.
                rows = np.flatnonzero(np.diff(proj.indptr))
                r0, r1 = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
                bptr = args.add(f"X{x}_bptr", block_pointers(proj, bounds[proj.post])[r0:r1])
                first, count = args.add(f"X{x}_r0", r0), args.add(f"X{x}_rn", r1 - r0)
                pre = proj.pre
                deliver_code.append(
                    f"for bb in range(NB):\n"
                    f"    for s in range(B{pre}[bb], B{pre}[bb] + BN{pre}[kp, 8 * bb]):\n"
                    f"        i = SV{pre}[s] - {first}\n"
                    f"        if i >= {count}:\n"
                    f"            break\n"
                    f"        if i < 0:\n"
                    f"            continue\n"
                    f"        for q in range({bptr}[i, blk], {bptr}[i, blk + 1]):\n"
                    + "\n".join("    " + line for line in body.splitlines()))
            static.append(True)
        arrival_code = [
            f"slot = (k + 1) % {depth}\n"
            + (f"lo = B{post}[blk]\nfor jj in range(B{post}[blk + 1] - lo):\n"
               f"    j = nonnegative(lo + jj)\n" if par else f"for j in range(N{post}):\n")
            + f"    P{post}_{var}[j] += {name}[slot, j]\n"
            f"    {name}[slot, j] = 0.0"
            for (post, var), (name, depth) in rings.items()
        ]

        # Assemble.
        def block(parts, indent=8):
            return "\n".join(render_fragment(p, {}, indent) if p else "" for p in parts)

        lines.extend(bind)
        if par:
            monitors = ([p for _n, p, _s in b.spike_monitors],
                        [base + m for m in range(len(b.state_monitors))], direct_mons)
            lines.append(_threaded_loop(b.populations, pops, monitors, capacity_checks,
                                        state_mon_code, spike_mon_code, deliver_code, static,
                                        plastic_code, arrival_code))
        else:
            lines.append("    for k in range(k0, k1):")
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
                if impl.per_neuron:
                    lines.append(f"        for j in range(N{i}):")
                    lines.append("            spiked = False")
                    lines.append(render_fragment(impl.body(model), mapping, 12))
                    lines.append(f"            F{i}[j] = spiked")
                    # Compaction, eight flags a word: a step without spikes costs N/8 tests.
                    lines.append(render_fragment(spike_compaction(i), {}, 8))
                else:
                    lines.append(render_fragment(impl.body(model), mapping, 8))
            for part in (spike_mon_code, deliver_code, plastic_code, arrival_code):
                if part:
                    lines.append(block(part))
            lines.append("    return k1")

        # numba's cache does not follow callees into other modules: their sources' digests
        # are part of the kernel's source, so changing them recompiles the kernel.
        used = [("rng", numba_rng)] + ([("sync", numba_sync)] if par else [])
        digests = ", ".join(f"{name} {hashlib.sha256(inspect.getsource(mod).encode()).hexdigest()[:16]}"
                            for name, mod in used)
        header = (
            f"# Generated by synaptica's numba backend ({digests}). Do not edit.\n"
            "import numpy as np\n"
            "from numba import njit\n"
            "from snn.backends.numba_rng import geometric_steps, uniform01\n"
            + ("from snn.backends.numba_sync import barrier, nonnegative\n" if par else "")
            + "\n\n"
            "@njit(cache=True, nogil=True, error_model='numpy')\n"
            f"def run_loop(b, k0, k1, seed, counters, {'blk, NB, BAR, WAITS, ' if par else ''}"
            f"{', '.join(args.names)}):\n"
        )
        return header + "\n".join(lines) + "\n", args, layout

    def _call(self, b: int, k0: int, k1: int) -> int:
        head = (b, k0, k1, self.seed, self._counters)
        if self.threads == 1:
            return int(self._kernel(*head, *self._args.values))
        sync = (self.threads, self._barrier, self._waits, *self._args.values)
        if k1 <= k0:  # no step, no barrier: thread 0 alone does the bookkeeping
            return int(self._kernel(*head, 0, *sync))
        if self._pool is None or self._pool[0] != os.getpid():
            self._pool = (os.getpid(), ThreadPoolExecutor(self.threads - 1, "synaptica-numba"))
        self._barrier[0] = 0
        others = [self._pool[1].submit(self._thread, blk, head, sync)
                  for blk in range(1, self.threads)]
        reached = self._thread(0, head, sync)
        if any(f.result() != reached for f in others):
            raise RuntimeError("numba threads stopped at different steps (a bug: please report)")
        return reached

    def _thread(self, blk: int, head: tuple, sync: tuple) -> int:
        """Thread ``blk``'s part of a call of the run loop, its CPU time counted."""
        cpu = time.thread_time_ns()
        reached = int(self._kernel(*head, blk, *sync))
        self._waits[blk, 2] += time.thread_time_ns() - cpu
        return reached

    # -- recordings --------------------------------------------------------------------
    def _values(self) -> dict[str, object]:
        return dict(zip(self._args.names, self._args.values, strict=True))

    def _drain_spikes(self, b: int) -> dict[str, tuple]:
        out = {}
        values = self._values()
        for name, _pop, _sub, s_arg, i_arg, m in self._layout["spike_mons"]:
            c = int(self._counters[m])
            sample = np.full(c, b, np.int32) if self.built.batch is not None else None
            out[name] = ("spikes", values[s_arg][:c].copy(), values[i_arg][:c].copy(), sample)
            self._counters[m] = 0
        return out

    def _drain_states(self, k0: int, b: int) -> dict[str, tuple]:
        out = {}
        values = self._values()
        suffix = "" if self.built.batch is None else "_all"
        for name, _pop, _vars, _idx, every, buf, slot in self._layout["state_mons"]:
            r = int(self._counters[slot])
            first = -(-k0 // every) * every
            steps = np.arange(first, first + r * every, every, dtype=np.int64)
            data = values[buf + suffix]
            out[name] = ("state", steps, (data if self.built.batch is None else data[b])[:r].copy())
            self._counters[slot] = 0
        return out

    def _record_meta(self) -> dict:
        b = self.built
        return record_meta(b, BACKEND)


def _threaded_loop(populations, pops, monitors, capacity_checks, state_mon_code, spike_mon_code,
                   deliver_code, static, plastic_code, arrival_code) -> str:
    """The step loop of one thread (``threads > 1``; the kernel runs once per thread, block
    ``blk`` of ``NB``), indented for the function body.

    Thread ``blk`` owns block ``blk`` of every population (``B<i>``, from :func:`block_bounds`;
    a population without a per-neuron body belongs to block 0): it updates those neurons,
    compacts their spikes into its part of the step's spike list, and receives every static
    synapse that lands in the block (``X<x>_bptr``), ring-buffer columns included. Nothing is
    written by two threads, so no atomics are needed, and every target receives its inputs in
    the serial order (projection, spike in neuron order, synapse): results are the same bit for
    bit for any number of threads.

    One barrier a step (:func:`snn.backends.numba_sync.barrier`), between the neuron updates
    and the deliveries. Spike lists alternate between two buffers (``SPK<i>[k & 1]``), so a
    thread that starts step ``k + 1`` while another still delivers step ``k`` writes the other
    buffer; a thread cannot be two steps ahead, since it would have to pass the barrier of step
    ``k + 1``. After the barrier, every thread records its block's spikes in the spike
    monitors that watch whole populations (after the entries of the blocks before it), and
    thread 0 merges the spike lists that serial code reads (monitors of a subset, plastic
    projections). A plastic projection runs on thread 0 alone, between two barriers (its
    traces are indexed by presynaptic neuron, which no block owns). Every thread counts
    monitor entries itself, so all stop at the same step when a spike monitor's buffer could
    overflow (``reached``)."""

    def block(parts, indent):
        return "\n".join(render_fragment(p, {}, indent) for p in parts if p)

    spike_pops, state_slots, direct = monitors
    serial = [*spike_mon_code, *(c for c, st in zip(deliver_code, static, strict=True) if not st),
              *plastic_code]
    merged = [i for i in range(len(pops))
              if any(re.search(rf"\bspk{i}\b", code) for code in serial)]
    lines = ["    ep = 0", "    waited = 0", "    reached = k1"]
    lines += [f"    cb{m} = counters[{m}]" for m in range(len(spike_pops))]
    lines += [f"    vr{m} = counters[{slot}]" for m, slot in enumerate(state_slots)]
    lines += [f"    nsp{i} = 0" for i in merged]
    lines.append("    for k in range(k0, k1):")
    if capacity_checks:
        lines.append(block(capacity_checks, 8))
    if state_mon_code:
        lines.append(block(state_mon_code, 8))
    lines.append("        kp = k & 1")
    lines += [f"        SV{i} = SPK{i}[kp]" for i in range(len(pops))]
    for i, (impl, mapping) in enumerate(pops):
        if not impl.per_neuron:
            continue
        model = populations[i].model
        if impl.prologue(model):
            lines.append(render_fragment(impl.prologue(model), mapping, 8))
        # From 0 with the promise j >= 0: LLVM drops the negative-index check and vectorises
        # the loop (from B[blk] it runs 7x slower).
        lines.append(f"        lo = B{i}[blk]")
        lines.append(f"        for jj in range(B{i}[blk + 1] - lo):")
        lines.append("            j = nonnegative(lo + jj)")
        lines.append("            spiked = False")
        lines.append(render_fragment(impl.body(model), mapping, 12))
        lines.append(f"            F{i}[j] = spiked")
        # Blocks start at multiples of 64 neurons, so no flag word straddles two blocks.
        lines.append(render_fragment(f"""
c{i} = B{i}[blk]
for w in range(B{i}[blk] // 8, (B{i}[blk + 1] + 7) // 8):
    if FW{i}[w] != 0:
        for j in range(8 * w, min(8 * w + 8, N{i})):
            if F{i}[j]:
                SV{i}[c{i}] = j
                c{i} += 1
BN{i}[kp, 8 * blk] = c{i} - B{i}[blk]""", {}, 8))
    whole = [i for i, (impl, _m) in enumerate(pops) if not impl.per_neuron]
    if whole:
        lines.append("        if blk == 0:")
    for i in whole:
        impl, mapping = pops[i]
        model = populations[i].model
        lines.append(f"            ns{i} = 0")
        if impl.prologue(model):
            lines.append(render_fragment(impl.prologue(model), mapping, 12))
        lines.append(render_fragment(impl.body(model), mapping, 12))
        lines.append(f"            BN{i}[kp, 0] = ns{i}")
    sync = ["        ep += 1", "        waited += barrier(BAR, ep * NB)"]
    lines += sync
    for m, p, s_arg, i_arg in direct:  # after the entries of the blocks before this one
        lines.append(render_fragment(f"""
off = cb{m}
for bb in range(blk):
    off += BN{p}[kp, 8 * bb]
for s in range(B{p}[blk], B{p}[blk] + BN{p}[kp, 8 * blk]):
    {s_arg}[off] = k
    {i_arg}[off] = SV{p}[s]
    off += 1""", {}, 8))
    for m, p in enumerate(spike_pops):
        lines.append(f"        for bb in range(NB):\n            cb{m} += BN{p}[kp, 8 * bb]")
    if merged or spike_mon_code:
        lines.append("        if blk == 0:")
        for i in merged:
            lines.append(render_fragment(f"""
nsp{i} = 0
for bb in range(NB):
    for s in range(B{i}[bb], B{i}[bb] + BN{i}[kp, 8 * bb]):
        spk{i}[nsp{i}] = SV{i}[s]
        nsp{i} += 1""", {}, 12))
        if spike_mon_code:
            lines.append(block(spike_mon_code, 12))
    # Static deliveries and ring-buffer arrivals run on every thread (its own block); a
    # plastic projection's code runs on thread 0 between barriers, where it stands.
    sections: list[tuple[bool, list[str]]] = []
    for code, par in [*zip(deliver_code, static, strict=True),
                      *((code, False) for code in plastic_code), *((c, True) for c in arrival_code)]:
        if sections and sections[-1][0] == par:
            sections[-1][1].append(code)
        else:
            sections.append((par, [code]))
    for s, (par, codes) in enumerate(sections):
        if par:
            lines.append(block(codes, 8))
            continue
        if s > 0:  # parallel deliveries before it write the same targets
            lines += sync
        lines.append("        if blk == 0:")
        lines.append(block(codes, 12))
        lines += sync
    if state_slots or direct:
        lines.append("    if blk == 0:")
        lines += [f"        counters[{slot}] = vr{m}" for m, slot in enumerate(state_slots)]
        lines += [f"        counters[{m}] = cb{m}" for m, _p, _s, _i in direct]
    lines += ["    WAITS[blk, 0] += waited", "    WAITS[blk, 1] += ep", "    return reached"]
    return "\n".join(lines)


def block_bounds(n: int, blocks: int) -> np.ndarray:
    """Boundaries (``blocks + 1`` int64) of ``blocks`` near-equal neuron blocks of a population
    of ``n``; every block starts at a multiple of 64 (a cache line of spike flags), so small
    populations leave later blocks empty."""
    cuts = [min(n, int(round(n * q / blocks / 64)) * 64) for q in range(blocks)]
    return np.array([*cuts, n], np.int64)


def block_pointers(proj, bounds: np.ndarray) -> np.ndarray:
    """``(n_pre, blocks + 1)`` synapse indices: row ``i`` of ``proj`` split where its post
    indices cross the block ``bounds`` (a built projection's rows are sorted by post)."""
    index = np.int32 if proj.indices.size < 2**31 else np.int64
    out = np.empty((proj.indptr.size - 1, bounds.size), index)
    if not _split_rows(proj.indptr, proj.indices, bounds, out):
        raise ValueError(f"projection {proj.name!r} has rows not sorted by post neuron; "
                         "threads > 1 needs them sorted (build it with Network.build)")
    return out


@njit(cache=True, nogil=True)
def _split_rows(indptr, indices, bounds, out) -> bool:
    for i in range(indptr.size - 1):
        lo, hi = indptr[i], indptr[i + 1]
        for q in range(lo + 1, hi):
            if indices[q] < indices[q - 1]:
                return False
        for c in range(bounds.size):
            a, z = lo, hi  # first synapse of the row with post >= bounds[c]
            while a < z:
                m = (a + z) // 2
                if indices[m] < bounds[c]:
                    a = m + 1
                else:
                    z = m
            out[i, c] = a
    return True


def check_threads(threads: int | str, built: BuiltNetwork) -> int:
    """The number of threads (neuron blocks) of the run loop: ``threads``, or for ``"auto"``
    one per :data:`NEURONS_PER_THREAD` neurons of the network (a barrier a step costs about a
    microsecond, which a small network does not earn back), at most numba's thread count
    (``NUMBA_NUM_THREADS``) and the cores this process may use that other processes leave
    idle (:func:`busy_cores`): threads that wait for descheduled partners every step are
    several times slower than one thread."""
    import numba

    from snn.validate import check_int

    limit = numba.config.NUMBA_NUM_THREADS
    if threads == "auto":
        wanted = min(limit, sum(p.n for p in built.populations) // NEURONS_PER_THREAD)
        if wanted < 2:
            return 1
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else \
            set(range(os.cpu_count() or 1))
        return max(1, min(wanted, len(cpus) - round(busy_cores(cpus))))
    check_int("threads", threads, minimum=1)
    if threads > limit:
        raise ValueError(f"threads={threads} is more than numba's {limit} threads; pass "
                         f"threads <= {limit} or set NUMBA_NUM_THREADS before starting Python")
    return int(threads)


def busy_cores(cpus: set[int], window: float = 0.1) -> float:
    """How many of the cores ``cpus`` other processes keep busy: their busy fraction summed
    over ``window`` seconds in which this process sleeps (from ``/proc/stat``; 0 where it
    cannot be read)."""

    def sample() -> dict[int, tuple[int, int]]:
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                    ticks = [int(v) for v in fields[:8]]  # user .. steal (guest is in user)
                    out[int(name[3:])] = (sum(ticks), ticks[3] + ticks[4])  # total, idle+iowait
        return out

    try:
        before = sample()
        time.sleep(window)
        after = sample()
    except (OSError, ValueError):
        return 0.0
    busy = 0.0
    for cpu, (total, idle) in before.items():
        d_total = after[cpu][0] - total
        if d_total > 0:
            busy += 1.0 - (after[cpu][1] - idle) / d_total
    return busy


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", unit_scale=True, desc="simulating")


def _constants(impl, pop, batch: int | None, dt: float):
    """``(name, value, per_neuron)`` of each constant of ``pop``; batched, every array is
    stacked to one row per sample (ragged 1-D arrays padded at the end) and scalars that
    differ between samples become per-neuron rows."""
    if batch is None:
        for name, value in impl.constants(pop.model, pop.n, dt).items():
            yield name, value, isinstance(value, np.ndarray) and value.shape == (pop.n,)
        return
    per = [impl.constants(m, pop.n, dt) for m in pop.sample_models(batch)]
    for name, first in per[0].items():
        values = [c[name] for c in per]
        if not isinstance(first, np.ndarray):
            if all(v == first for v in values):
                yield name, first, False
                continue
            values = [np.full(pop.n, v) for v in values]
        arrays = [np.asarray(v) for v in values]
        if len({a.shape for a in arrays}) > 1:
            if any(a.ndim != 1 for a in arrays):
                raise ValueError(f"constant {name!r} of population {pop.name!r} differs in shape "
                                 "between samples")
            size = max(a.size for a in arrays)
            fill = np.iinfo(arrays[0].dtype).max if np.issubdtype(arrays[0].dtype, np.integer) else 0
            arrays = [np.concatenate([a, np.full(size - a.size, fill, a.dtype)]) for a in arrays]
        yield name, np.ascontiguousarray(np.stack(arrays)), arrays[0].shape == (pop.n,)
