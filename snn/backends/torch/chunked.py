"""The chunked engine of the torch backend: whole chunks of steps on the device, no host
synchronisation inside a chunk.

:class:`snn.backends.torch.TorchSimulation` uses it with ``engine="chunked"`` (the default on
CUDA). One step is a fixed sequence of device operations whose shapes never depend on the
data:

1. state monitors copy their variables into a per-chunk buffer (a row chosen on the device;
   steps that record nothing write a spare row);
2. every population advances through its model's registered torch implementation
   (``sim_step`` with the step ``k`` as a 0-d device tensor and the whole batch at once:
   state ``(batch, n)``, per-sample constants stacked by ``batch_constants``, one random
   stream per sample, as the loop engine's);
3. spike monitors append ``(step, sample, neuron)`` codes to per-chunk buffers;
4. the spikes of every presynaptic population are compacted (a cumulative sum and a
   scatter) into a fixed-capacity index buffer with a device-side count;
5. each static projection scatters the rows of those spikes into its target's ring buffer
   (:func:`snn.backends.torch.kernels.deliver`: a Triton kernel, or torch operations);
   plastic projections deliver and learn through :mod:`snn.backends.torch.plasticity`;
6. the ring slot of the next step is added to its target variable and cleared.

At the end of a chunk one host synchronisation reads the counts. A buffer that overflowed
(more spikes in a step than its capacity, or more monitored spikes in the chunk than the
monitor buffer holds) has lost nothing that matters: the state at the chunk's start was
saved, so it is restored, the capacity grown to fit, and the chunk run again. Then the
monitor buffers are drained to the host.

On CUDA ``GRAPH_STEPS`` steps are captured once as a CUDA graph (``torch.cuda.CUDAGraph``)
and replayed through every chunk (the last few steps of a chunk run eagerly; recaptured when
a capacity grows), which removes the launch overhead of the step's many small kernels.
Plastic projections need the host each step (their mechanisms work on the synapses of the
spikes that happened), so a network with any runs its chunks eagerly. On the CPU the same
step runs eagerly, so the CPU tests exercise everything but the capture.
"""

from __future__ import annotations

import numpy as np
import torch

from snn.backends.torch import kernels

# Starting capacities; an overflow grows them (and re-runs the chunk).
_MIN_SPIKE_CAPACITY = 64
_SPIKE_FRACTION = 1 / 1024  # of a population's neurons (x batch) spiking in one step
_MONITOR_RATE = 1 / 500  # monitored spikes per neuron and step (200 Hz at dt = 0.1 ms)
GRAPH_STEPS = 10  # steps per CUDA graph replay (one replay's host cost spread over them)


def _grown(capacity: int, needed: int) -> int:
    """A capacity of at least ``needed`` (and at least double the old one), a power of two."""
    return 1 << int(max(needed, 2 * capacity) - 1).bit_length()


class _Compaction:
    """A fixed-capacity buffer of flat spike indices (``sample * n + neuron``) of one step,
    with the count of this step and the largest count of the chunk."""

    def __init__(self, size: int, capacity: int, device) -> None:
        self.index = torch.arange(size, device=device)
        self.count = torch.zeros(1, dtype=torch.int64, device=device)
        self.peak = torch.zeros(1, dtype=torch.int64, device=device)
        self.allocate(capacity)

    def allocate(self, capacity: int) -> None:
        self.capacity = capacity
        self.spikes = torch.zeros(capacity + 1, dtype=torch.int64, device=self.index.device)

    def __call__(self, fired: torch.Tensor, k: torch.Tensor, use_triton: bool) -> None:
        self.count.zero_()
        kernels.compact(fired.reshape(-1), self.spikes, self.count, self.capacity, k, k, 0,
                        self.index, use_triton, peak=self.peak)


class _SpikeRecorder:
    """A spike monitor's per-chunk buffer of codes ``(k - k0) * size + sample * n + neuron``."""

    def __init__(self, name: str, pop: int, n: int, batch: int, subset, capacity: int,
                 device) -> None:
        self.name, self.pop, self.n, self.size = name, pop, n, batch * n
        self.index = torch.arange(self.size, device=device)
        self.mask = None
        if subset is not None:
            mask = torch.zeros(n, dtype=torch.bool, device=device)
            mask[torch.as_tensor(subset, dtype=torch.int64, device=device)] = True
            self.mask = mask.repeat(batch)
        self.count = torch.zeros(1, dtype=torch.int64, device=device)
        self.allocate(capacity)

    def allocate(self, capacity: int) -> None:
        self.capacity = capacity
        self.buffer = torch.zeros(capacity + 1, dtype=torch.int64, device=self.index.device)

    def __call__(self, fired: torch.Tensor, k: torch.Tensor, k0: torch.Tensor,
                 use_triton: bool) -> None:
        flags = fired.reshape(-1)
        if self.mask is not None:
            flags = flags & self.mask
        kernels.compact(flags, self.buffer, self.count, self.capacity, k, k0, self.size,
                        self.index, use_triton)


class _StateRecorder:
    """A state monitor's per-chunk buffer ``(records + 1, variables, [batch,] indices)``; the
    last row takes the steps that record nothing."""

    def __init__(self, name: str, pop: int, variables, indices, every: int, shape, rows: int,
                 device) -> None:
        self.name, self.pop, self.variables, self.every = name, pop, list(variables), every
        self.indices = torch.as_tensor(indices, dtype=torch.int64, device=device)
        self.rows = rows
        self.buffer = torch.zeros((rows + 1, len(self.variables), *shape), dtype=torch.float64,
                                  device=device)

    def __call__(self, state: dict[str, torch.Tensor], k: torch.Tensor, k0: torch.Tensor) -> None:
        e = self.every
        row = torch.div(k + e - 1, e, rounding_mode="floor") - torch.div(k0 + e - 1, e,
                                                                       rounding_mode="floor")
        row = torch.where(k % e == 0, row, self.rows).view(1)
        values = torch.stack([state[v][..., self.indices].to(torch.float64) for v in self.variables])
        self.buffer.index_copy_(0, row, values.unsqueeze(0))

    def steps(self, k_start: int, k_end: int) -> list[int]:
        """The steps in ``[k_start, k_end)`` that record."""
        first = -(-k_start // self.every) * self.every
        return list(range(first, k_end, self.every))


class ChunkedEngine:
    """Runs a :class:`snn.backends.torch.TorchSimulation` chunk by chunk on its device.

    Args:
        sim: the simulation (its state tensors, ring buffers and plastic projections are
            used in place).
        use_triton: compact, deliver and add spikes with the Triton kernels (else with torch
            operations).
        spike_capacity: starting capacity of each population's per-step spike buffer (None:
            1/1024 of its neurons times the batch, at least 64); grown on overflow.
        cuda_graphs: on CUDA, capture the step as a CUDA graph and replay it.
    """

    def __init__(self, sim, use_triton: bool, spike_capacity: int | None,
                 cuda_graphs: bool) -> None:
        self.sim = sim
        built, device = sim.built, sim.device
        self.device, self.use_triton = device, use_triton
        self.batch = 1 if sim.batch is None else sim.batch
        self.k = torch.zeros((), dtype=torch.int64, device=device)  # the step, on the device
        self.k0 = torch.zeros((), dtype=torch.int64, device=device)  # the chunk's first step
        self._k_host = 0  # the step, for plastic projections (eager runs only)
        n_pops = len(built.populations)
        self.pops = []  # (impl, model, constants, state, stream, per-sample fallback or None)
        for impl, samples, state, i in sim._pops:
            model, consts, _rows, stream = samples[0]
            n = built.populations[i].n
            if sim.batch is None:
                self.pops.append((impl, model, consts, state, stream, None))
                continue
            stacked = impl.batch_constants([s[1] for s in samples], n, device, sim.dtype)
            streams = torch.tensor([i + n_pops * b for b in range(self.batch)], dtype=torch.int64,
                                   device=device).view(-1, 1)
            self.pops.append((impl, model, stacked, state, streams,
                              samples if stacked is None else None))
        self.projections = []  # (pre, post, var, static arrays or PlasticProjection)
        compact_pops = set()
        for proj in built.projections:
            key = (proj.post, proj.target_var)
            if proj.plasticity:
                self.projections.append((proj.pre, key, sim._plastic[proj.name]))
                continue
            delays = proj.delays if proj.delays is not None else \
                np.full(proj.n_synapses, proj.delay)
            row_lengths = np.diff(proj.indptr)
            arrays = (
                torch.as_tensor(np.asarray(proj.indptr, np.int64), device=device),
                torch.as_tensor(np.asarray(proj.indices, np.int32), device=device),
                torch.as_tensor(np.ascontiguousarray(proj.synapse_weights()), device=device),
                torch.as_tensor(np.asarray(delays, np.int32), device=device),
                built.populations[proj.pre].n, built.populations[proj.post].n,
                int(row_lengths.max(initial=0)),
            )
            self.projections.append((proj.pre, key, arrays))
            compact_pops.add(proj.pre)
        self.compactions = {}
        for p in sorted(compact_pops):
            size = self.batch * built.populations[p].n
            cap = spike_capacity or max(_MIN_SPIKE_CAPACITY, int(np.ceil(size * _SPIKE_FRACTION)))
            self.compactions[p] = _Compaction(size, cap, device)
        steps = sim.chunk_steps
        self.spike_recorders = []
        for name, p, subset in built.spike_monitors:
            n = built.populations[p].n
            width = n if subset is None else len(subset)
            cap = max(1024, int(np.ceil(steps * self.batch * width * _MONITOR_RATE)))
            self.spike_recorders.append(
                _SpikeRecorder(name, p, n, self.batch, subset, cap, device))
        self.state_recorders = []
        for name, p, variables, indices, every in built.state_monitors:
            shape = (len(indices),) if sim.batch is None else (self.batch, len(indices))
            self.state_recorders.append(_StateRecorder(name, p, variables, indices, every, shape,
                                                       -(-steps // every) + 1, device))
        self.cuda_graphs = (cuda_graphs and device.type == "cuda" and not sim._plastic)
        self._replay = None  # the captured graph's replay (CUDA graphs only)
        self.reruns = 0  # chunks run again after an overflow

    # -- one step ------------------------------------------------------------------------
    def _step(self) -> None:
        """Advance every population by the step ``self.k`` and increment it (device only,
        apart from plastic projections, which read ``self._k_host``)."""
        sim, k = self.sim, self.k
        for rec in self.state_recorders:
            rec(self.pops[rec.pop][3], k, self.k0)
        fired = []
        for impl, model, consts, state, stream, samples in self.pops:
            if samples is None:
                fired.append(impl.sim_step(model, consts, state, k, sim.seed, stream))
            else:  # constants that cannot be stacked: sample by sample, still on the device
                fired.append(torch.stack([impl.sim_step(m, c, rows, k, sim.seed, s)
                                          for m, c, rows, s in samples]))
        for rec in self.spike_recorders:
            rec(fired[rec.pop], k, self.k0, self.use_triton)
        for p, compaction in self.compactions.items():
            compaction(fired[p], k, self.use_triton)
        by_name = None
        for pre, key, target in self.projections:
            ring = sim._rings[key]
            if isinstance(target, tuple):
                indptr, indices, weights, delays, n_pre, n_post, max_row = target
                c = self.compactions[pre]
                kernels.deliver(c.spikes, c.count, c.capacity, indptr, indices, weights, delays,
                                ring, k, n_pre, n_post, max_row, self.use_triton)
            else:  # a plastic projection (never batched, never in a graph)
                if by_name is None:
                    by_name = {sim.built.populations[i].name: f for i, f in enumerate(fired)}
                target.step(self._k_host, fired[pre], fired[key[0]], ring, by_name)
        for (post, var), ring in sim._rings.items():
            kernels.arrive(ring, self.pops[post][3][var], k, self.use_triton)
        k.add_(1)

    def _capture(self):
        """Run one step eagerly on a side stream (the warm-up CUDA graph capture requires:
        Triton compiles, libraries initialise), then capture ``GRAPH_STEPS`` steps as one
        CUDA graph; returns its replay."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            self._step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(GRAPH_STEPS):
                self._step()  # recorded, not run
        return graph.replay  # (the bound method keeps the graph and its memory pool alive)

    def _steps(self, n: int) -> None:
        """Run ``n`` steps from ``self.k``: eagerly, or on CUDA by replaying a captured
        graph of ``GRAPH_STEPS`` steps (the remainder eagerly)."""
        done = 0
        if self.cuda_graphs and self._replay is None:
            self._replay = self._capture()  # (its warm-up is the first of the n steps)
            done = 1
        if self.cuda_graphs:
            while n - done >= GRAPH_STEPS:
                self._replay()
                done += GRAPH_STEPS
        for _ in range(n - done):
            self._step()
            self._k_host += 1

    # -- chunks --------------------------------------------------------------------------
    def _save(self) -> list:
        """The state at a chunk's start (copies), to run the chunk again after an overflow."""
        return [(box, key, box[key].clone() if isinstance(box[key], torch.Tensor) else box[key])
                for _name, box, key in self.sim._state_items()]

    @staticmethod
    def _restore(saved: list) -> None:
        for box, key, value in saved:
            if isinstance(value, torch.Tensor):
                box[key].copy_(value)
            else:
                box[key] = value

    def _chunk(self, k_start: int, n: int) -> None:
        """Run steps ``k_start .. k_start + n - 1``; on overflow grow and run them again."""
        saved = self._save()
        while True:
            self.k.fill_(k_start)
            self.k0.fill_(k_start)
            self._k_host = k_start
            for c in self.compactions.values():
                c.peak.zero_()
            for rec in self.spike_recorders:
                rec.count.zero_()
            self._steps(n)
            watched = [c.peak for c in self.compactions.values()] + \
                [r.count for r in self.spike_recorders]
            counts = torch.cat(watched).tolist() if watched else []  # the one sync
            over = False
            for c, peak in zip(self.compactions.values(), counts, strict=False):
                if peak > c.capacity:
                    c.allocate(_grown(c.capacity, peak))
                    over = True
            for rec, count in zip(self.spike_recorders, counts[len(self.compactions):], strict=True):
                if count > rec.capacity:
                    rec.allocate(_grown(rec.capacity, count))
                    over = True
            if not over:
                return
            self._replay = None  # buffers moved: capture again
            self._restore(saved)
            self.reruns += 1

    def run(self, k_start: int, n_steps: int, chunk_steps: int, bar=None):
        """Run ``n_steps`` steps from ``k_start``; returns the monitors' records as the loop
        engine collects them: ``spikes[name] = (steps, where)`` and ``states[name] = (steps,
        rows)`` (lists of CPU tensors)."""
        spikes = {rec.name: ([], []) for rec in self.spike_recorders}
        states = {rec.name: ([], []) for rec in self.state_recorders}
        k = k_start
        while k < k_start + n_steps:
            n = min(chunk_steps, k_start + n_steps - k)
            self._chunk(k, n)
            for rec in self.spike_recorders:
                codes = torch.sort(rec.buffer[:int(rec.count)]).values.cpu()  # Triton: any order
                step = torch.div(codes, rec.size, rounding_mode="floor")
                flat = codes - step * rec.size
                where = flat.view(-1, 1) if self.sim.batch is None else \
                    torch.stack([torch.div(flat, rec.n, rounding_mode="floor"), flat % rec.n], 1)
                spikes[rec.name][0].append(step + k)
                spikes[rec.name][1].append(where)
            for rec in self.state_recorders:
                rows = rec.steps(k, k + n)
                states[rec.name][0].extend(rows)
                states[rec.name][1].extend(rec.buffer[:len(rows)].to("cpu", copy=True).unbind(0))
            k += n
            if bar is not None:
                bar.update(n)
        return spikes, states


__all__ = ["ChunkedEngine"]
