"""The PyTorch simulation backend: the same network graph as the numba backend, on CPU or CUDA.

State lives in tensors on the chosen device for the whole run; each step advances every
population with its model's torch implementation (``sim_step``, see
:mod:`snn.backends.torch.neurons`), records monitors, and delivers spikes as matrix products
(one matrix, post x pre, per projection and delay: dense when at least a quarter of the pairs
are connected, CSR otherwise) into per-target ring buffers. Every delivery goes through a ring
slot in float64 and is added to the target once, at the start of the step it arrives in; numba
does the same with ``exact_input=True``, and in float64 the two backends then produce identical
spikes (sums of float32 weights are exact in float64, whatever their order). Plastic
projections keep float64 weights in CSR order and deliver synapse by synapse in the numba
loop's order (:mod:`snn.backends.torch.plasticity`), which keeps them identical on the CPU too.

Two engines run the steps. The loop engine (``engine="loop"``, the default on the CPU) is a
Python loop over steps, samples and projections that asks the device whether anything spiked
every step. The chunked engine (``engine="chunked"``, the default on CUDA;
:mod:`snn.backends.torch.chunked`) runs whole chunks of steps on the device with no host
synchronisation: the batch at once, spikes compacted into fixed-capacity index buffers,
event-driven delivery of synapse rows (Triton kernels, :mod:`snn.backends.torch.kernels`),
monitors drained once per chunk, and on CUDA the step replayed as a CUDA graph. Both give
the same spikes; on the CPU in float64 both equal the numba backend's.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import torch

from snn.backends import implementation_for
from snn.backends.common import check_modulator, check_weights, weights_of
from snn.backends.torch.chunked import ChunkedEngine
from snn.backends.torch.kernels import HAVE_TRITON
from snn.backends.torch.plasticity import PlasticProjection
from snn.network import BuiltNetwork
from snn.results import Results, SpikeRecord, StateRecord
from snn.snapshot import Simulation, check_state_arrays
from snn.validate import check_int, check_positive_time

BACKEND = "torch"
_DTYPES = {"float64": torch.float64, "float32": torch.float32}
ENGINES = ("loop", "chunked")
KERNELS = ("auto", "triton", "torch")
# Projections (per delay) with at least this fraction of all pre x post pairs connected are
# stored as dense matrices (a batched matmul); sparser ones as CSR.
DENSE_FRACTION = 0.25


class TorchSimulation(Simulation):
    """A network compiled for PyTorch; ``run`` advances it and returns recordings.

    Args:
        device: ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        dtype: ``"float32"`` (default: the GPU's fast type; >= 99.9% of spikes equal to
            numba's) or ``"float64"`` (identical spikes to numba with ``exact_input``).
        chunk_steps: steps between draining monitors (and progress updates); the chunked
            engine's chunk length.
        engine: ``"loop"`` (a Python loop over steps; default on the CPU) or ``"chunked"``
            (whole chunks on the device, :mod:`snn.backends.torch.chunked`; default on CUDA).
        kernels: chunked engine only: how spikes are compacted, delivered and added to their
            targets: ``"auto"`` (Triton kernels on CUDA, torch operations elsewhere),
            ``"triton"`` (on the CPU only in Triton's interpreter, ``TRITON_INTERPRET=1``) or
            ``"torch"``.
        spike_capacity: chunked engine only: starting capacity (spikes per step) of the
            per-population spike buffers; grown on overflow (None: 1/1024 of the neurons
            times the batch, at least 64).
        cuda_graphs: chunked engine on CUDA only: replay the step as a CUDA graph.
    """

    backend = BACKEND

    def __init__(self, built: BuiltNetwork, device: str | torch.device = "cpu",
                 dtype: str = "float32", chunk_steps: int = 2000, engine: str | None = None,
                 kernels: str = "auto", spike_capacity: int | None = None,
                 cuda_graphs: bool = True) -> None:
        t0 = time.perf_counter()
        if dtype not in _DTYPES:
            raise ValueError(f"dtype={dtype!r} is not supported; choose float64 or float32")
        self.built, self.dt, self.seed = built, built.dt, built.seed
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' was requested but CUDA is not available; use 'cpu'")
        self.dtype = _DTYPES[dtype]
        self.chunk_steps = check_int("chunk_steps", chunk_steps, minimum=1)
        engine = ("chunked" if self.device.type == "cuda" else "loop") if engine is None else engine
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r} is not known; choose 'loop' or 'chunked'")
        self.engine = engine
        self.options = {"device": str(self.device), "dtype": dtype, "chunk_steps": self.chunk_steps,
                        "engine": engine}
        use_triton = self._check_chunked_options(kernels, spike_capacity, cuda_graphs)
        self.step = 0
        self.batch = built.batch
        n_pops = len(built.populations)
        self._pops = []
        for i, pop in enumerate(built.populations):
            impl = implementation_for(pop.model, BACKEND)
            state = {}
            for var in pop.model.state_vars:
                arr = pop.state[var.name]
                kind = torch.int64 if np.issubdtype(arr.dtype, np.integer) else self.dtype
                state[var.name] = torch.as_tensor(arr, dtype=kind, device=self.device).clone()
            # One (model, constants, state rows, RNG stream) per sample; the rows are views,
            # and sim_step updates them in place.
            samples = []
            for b, model in enumerate(pop.sample_models(self.batch)):
                rows = state if self.batch is None else {v: t[b] for v, t in state.items()}
                consts = impl.sim_constants(model, pop.n, self.dt, self.device, self.dtype)
                samples.append((model, consts, rows, i + n_pops * b))
            self._pops.append((impl, samples, state, i))
        self._projections = []
        self._plastic: dict[str, PlasticProjection] = {}
        self._rings: dict[tuple[int, str], torch.Tensor] = {}
        for proj in built.projections:
            post_n = built.populations[proj.post].n
            pre_n = built.populations[proj.pre].n
            rows = np.repeat(np.arange(pre_n), np.diff(proj.indptr))
            delays = proj.delays.astype(np.int64) if proj.delays is not None else \
                np.full(proj.n_synapses, proj.delay, dtype=np.int64)
            weights = proj.synapse_weights().astype(np.float64)
            if proj.plasticity:
                plastic = PlasticProjection(proj, pre_n, post_n, self.dt, self.device)
                self._plastic[proj.name] = plastic
                self._projections.append((proj.pre, proj.post, proj.target_var, 0, plastic))
            for d in ([] if proj.plasticity or engine != "loop" else np.unique(delays)):
                sel = delays == d
                coo = torch.sparse_coo_tensor(
                    torch.as_tensor(np.vstack([proj.indices[sel].astype(np.int64), rows[sel]])),
                    torch.as_tensor(weights[sel]), (post_n, pre_n), dtype=torch.float64,
                    device=self.device, check_invariants=False)  # indices come from a validated build
                if sel.sum() >= DENSE_FRACTION * post_n * pre_n:
                    matrix = coo.coalesce().to_dense()  # dense enough for a plain matmul
                else:
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                        matrix = coo.coalesce().to_sparse_csr()
                self._projections.append((proj.pre, proj.post, proj.target_var, int(d), matrix))
            key = (proj.post, proj.target_var)
            depth = max(self._rings.get(key, torch.zeros(0)).shape[0], proj.max_delay + 1, 2)
            shape = (depth, post_n) if self.batch is None else (depth, self.batch, post_n)
            self._rings[key] = torch.zeros(shape, dtype=torch.float64, device=self.device)
        self._chunked = None
        if engine == "chunked":
            self._chunked = ChunkedEngine(self, use_triton, spike_capacity, cuda_graphs)
        self.build_s = time.perf_counter() - t0

    def _check_chunked_options(self, kernels, spike_capacity, cuda_graphs) -> bool:
        """Validate the chunked engine's options (recorded in ``options``); returns whether
        it uses the Triton kernels."""
        if kernels not in KERNELS:
            raise ValueError(f"kernels={kernels!r} is not known; choose 'auto', 'triton' or "
                             "'torch'")
        if spike_capacity is not None:
            spike_capacity = check_int("spike_capacity", spike_capacity, minimum=1)
        if not isinstance(cuda_graphs, bool):
            raise TypeError(f"cuda_graphs must be True or False, not {cuda_graphs!r}")
        if self.engine == "loop":
            if (kernels, spike_capacity, cuda_graphs) != ("auto", None, True):
                raise ValueError("kernels=, spike_capacity= and cuda_graphs= are options of "
                                 "engine='chunked'; pass engine='chunked' or drop them")
            return False
        if kernels == "triton":
            if not HAVE_TRITON:
                raise ValueError("kernels='triton' needs the triton package (it ships with "
                                 "CUDA builds of torch); use kernels='torch'")
            if self.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
                raise ValueError("kernels='triton' on the CPU runs in Triton's interpreter: set "
                                 "TRITON_INTERPRET=1 before importing triton, or use "
                                 "kernels='torch'")
        self.options.update(kernels=kernels, spike_capacity=spike_capacity,
                            cuda_graphs=cuda_graphs)
        return kernels == "triton" or (kernels == "auto" and self.device.type == "cuda"
                                       and HAVE_TRITON)

    @property
    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        """Live state tensors by population and variable (``(batch, n)`` when batched)."""
        return {self.built.populations[i].name: st for _, _, st, i in self._pops}

    def weights(self, projection: str) -> np.ndarray:
        """The current weights of a projection (CSR order, a copy)."""
        if projection in self._plastic:
            return self._plastic[projection].weights()
        return weights_of(self.built, projection).copy()

    def set_weights(self, projection: str, values) -> None:
        """Overwrite a plastic projection's weights (CSR order), e.g. to normalise them
        between runs."""
        self._plastic[projection].set_weights(check_weights(projection, values, self.built))

    def _state_items(self):
        """``(name, container, key)`` of every tensor or number the run changes."""
        for _impl, _samples, state, i in self._pops:
            for var in state:
                yield f"pop{i}/{var}", state, var
        for (post, var) in self._rings:
            yield f"ring{post}/{var}", self._rings, (post, var)
        for name, plastic in self._plastic.items():
            yield f"plastic/{name}/w", plastic.__dict__, "w"
            for m, (_impl, _mech, st) in enumerate(plastic.mechs):
                for key, value in st.items():
                    if isinstance(value, (torch.Tensor, int, float)) and not isinstance(value, bool):
                        yield f"plastic/{name}/{m}/{key}", st, key

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every tensor (and number) the run changes: state, ring buffers, plastic weights and
        mechanism state, by name (NumPy copies)."""
        out = {}
        for name, box, key in self._state_items():
            value = box[key]
            out[name] = value.detach().cpu().numpy().copy() if isinstance(value, torch.Tensor) \
                else np.array(value)
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Overwrite the running state in place with ``arrays`` (from :meth:`state_arrays`)."""
        check_state_arrays(self.state_arrays(), arrays, BACKEND)
        for name, box, key in list(self._state_items()):
            value = box[key]
            if isinstance(value, torch.Tensor):
                value.copy_(torch.as_tensor(arrays[name], device=value.device))
            else:
                box[key] = type(value)(arrays[name][()])

    def set_modulator(self, name: str, value: float) -> None:
        """Set the neuromodulator ``name`` of every mechanism that reads it (from this step)."""
        value = check_modulator(name, value, [m for p in self._plastic.values() for _i, m, _s in p.mechs])
        for plastic in self._plastic.values():
            plastic.set_modulator(name, value, self.step)

    def run(self, duration: float, progress: bool = False, hdf5: str | os.PathLike | None = None
            ) -> Results:
        """Advance by ``duration`` seconds; returns what the monitors recorded meanwhile."""
        duration = check_positive_time("duration", duration)
        n_steps = int(round(duration / self.dt))
        if abs(n_steps * self.dt - duration) > 1e-9 * max(1.0, duration) or n_steps < 1:
            raise ValueError(
                f"duration={duration:g} s is not a whole number of steps of dt={self.dt:g} s")
        b = self.built
        k_start, k_end = self.step, self.step + n_steps
        spikes = {name: ([], []) for name, _, _ in b.spike_monitors}
        states = {m[0]: ([], []) for m in b.state_monitors}
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_steps, unit="step", unit_scale=True, desc="simulating (torch)")
        wall = 0.0
        t0 = time.perf_counter()
        if self._chunked is not None:
            spikes, states = self._chunked.run(k_start, n_steps, self.chunk_steps, bar)
        else:
            self._loop(k_start, k_end, spikes, states, bar)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        for plastic in self._plastic.values():
            plastic.finish(k_end)
        self.step = k_end
        res = self._results(spikes, states, {"wall_s": wall, "build_s": self.build_s}, k_start, k_end)
        if hdf5 is not None:
            res.to_hdf5(hdf5)
        return res

    def _loop(self, k_start: int, k_end: int, spikes: dict, states: dict, bar) -> None:
        """The loop engine: steps ``k_start .. k_end - 1``, recording into ``spikes`` and
        ``states``."""
        b = self.built
        monitored = {name: torch.as_tensor(indices, device=self.device)
                     for name, _, _, indices, _ in b.state_monitors}
        subsets = {name: torch.as_tensor(subset, device=self.device)
                   for name, _, subset in b.spike_monitors if subset is not None}
        for k in range(k_start, k_end):
            for name, pop_i, variables, _indices, every in b.state_monitors:
                if k % every == 0:
                    st = self._pops[pop_i][2]
                    states[name][0].append(k)
                    states[name][1].append(torch.stack([st[v][..., monitored[name]].to(torch.float64)
                                                        for v in variables]))
            fired = []
            for impl, samples, _state, _i in self._pops:
                out = [impl.sim_step(model, consts, rows, k, self.seed, stream)
                       for model, consts, rows, stream in samples]
                fired.append(out[0] if self.batch is None else torch.stack(out))
            for name, pop_i, subset in b.spike_monitors:
                where = torch.nonzero(fired[pop_i])
                if subset is not None:
                    where = where[torch.isin(where[:, -1], subsets[name])]
                spikes[name][0].append(torch.full_like(where[:, -1], k))
                spikes[name][1].append(where)
            by_name = None
            for pre, post, var, d, matrix in self._projections:
                s = fired[pre]
                if isinstance(matrix, PlasticProjection):  # (never batched: build refuses it)
                    if by_name is None:
                        by_name = {b.populations[i].name: f for i, f in enumerate(fired)}
                    matrix.step(k, s, fired[post], self._rings[(post, var)], by_name)
                elif bool(s.any()):
                    ring = self._rings[(post, var)]
                    if self.batch is None:
                        ring[(k + d) % ring.shape[0]] += matrix @ s.to(torch.float64)
                    else:
                        ring[(k + d) % ring.shape[0]] += (matrix @ s.to(torch.float64).t()).t()
            for (post, var), ring in self._rings.items():
                slot = (k + 1) % ring.shape[0]
                target = self._pops[post][2][var]
                target += ring[slot].to(target.dtype)
                ring[slot].zero_()
            if bar is not None and (k - k_start + 1) % self.chunk_steps == 0:
                bar.update(self.chunk_steps)

    def _results(self, spikes, states, timing, k_start, k_end) -> Results:
        b = self.built
        res = Results(b.dt, b.seed, BACKEND, k_start, k_end, timing=timing)
        for name, pop_i, subset in b.spike_monitors:
            steps, where = spikes[name]
            pop = b.populations[pop_i]
            width = 1 if self.batch is None else 2
            where = torch.cat(where).cpu().numpy() if where else np.zeros((0, width), np.int64)
            res.spikes[name] = SpikeRecord(
                pop.name, pop.n, b.dt,
                torch.cat(steps).cpu().numpy().astype(np.int64) if steps else np.zeros(0, np.int64),
                where[:, -1].astype(np.int32), subset,
                None if self.batch is None else where[:, 0].astype(np.int32), self.batch)
        for name, pop_i, variables, indices, every in b.state_monitors:
            steps, data = states[name]
            shape = (len(variables), indices.size) if self.batch is None else \
                (len(variables), self.batch, indices.size)
            arr = torch.stack(data).cpu().numpy() if data else np.zeros((0, *shape))
            res.states[name] = StateRecord(b.populations[pop_i].name, b.dt, variables, indices, every,
                                           np.asarray(steps, dtype=np.int64), arr, self.batch)
        return res


__all__ = ["TorchSimulation"]
