"""Data-parallel training across processes with ``torch.distributed``.

Every process holds the whole model and walks the same seeded batch order
(:func:`rules.base.batch_order`); each encodes the whole global batch with the same generator
(so the encoder noise is the one a single process draws) and trains on its contiguous share of
the samples. Before every optimiser step the gradients are all-reduced, each process's weighted
by its share of the batch, which is the gradient of the global batch's mean loss: the same
global batch and seed give the same weights as one process, to float tolerance (summation
order). A local rule's updates are its optimiser's gradients, so they are all-reduced the same
way. Only rank 0 writes checkpoints; every rank can resume from them.

Launch: :func:`launch` spawns ``nproc`` processes on this machine (``synaptica train RULE
--nproc N``); under ``torchrun`` (several machines) :func:`init_from_env` joins the group that
``torchrun`` describes in ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. The
process-group backend is gloo on the CPU and NCCL on CUDA.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, size)`` of the running process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(n: int, rank: int, size: int) -> slice:
    """Rank ``rank``'s contiguous share of a batch of ``n`` samples (sizes differ by <= 1)."""
    if n < size:
        raise ValueError(f"a batch of {n} samples cannot be split over {size} processes; use a "
                         f"batch size (and a data set) of at least {size} samples a batch")
    lo = rank * (n // size) + min(rank, n % size)
    return slice(lo, lo + n // size + (rank < n % size))


def check_rule(rule) -> None:
    """A ``TypeError`` unless ``rule`` trains only through its optimiser (``data_parallel``)."""
    if not getattr(rule, "data_parallel", False) or getattr(rule, "optimizer", None) is None:
        raise TypeError(f"{type(rule).__name__} does not support data-parallel training: it "
                        "updates weights outside an optimiser step; train it in one process")


class GradientSync:
    """An optimiser step pre-hook that all-reduces every parameter's gradient, weighted by
    ``share`` (this process's fraction of the global batch), before the step; a rule that
    transforms its gradients non-linearly first (clipping) calls :func:`sync_gradients`
    before that, and the step then does not sync again. ``part`` and ``batch`` are this
    rank's slice of the current global batch and that batch's size."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.share = 1.0
        self.part, self.batch = slice(None), 0
        self.synced = False
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self._handle = optimizer.register_step_pre_hook(self._hook)

    def start_batch(self, part: slice, batch: int) -> None:
        """Before the training step on the slice ``part`` of a global batch of ``batch``."""
        self.part, self.batch = part, batch
        self.share = (part.stop - part.start) / batch
        self.synced = False

    def _hook(self, _optimizer, _args, _kwargs) -> None:
        if not self.synced:
            self.sync()
        self.synced = False

    def sync(self) -> None:
        """All-reduce the gradients now (weighted by ``share``)."""
        self.synced = True
        has = torch.tensor([p.grad is not None for p in self.params], dtype=torch.int32,
                           device=self.params[0].device)
        dist.all_reduce(has, op=dist.ReduceOp.MAX)  # a gradient any rank has, every rank gets
        grads = []
        for p, flag in zip(self.params, has.tolist(), strict=True):
            if flag:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                grads.append(p.grad)
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads]) * self.share
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def remove(self) -> None:
        """Detach the hook (at the end of ``fit``)."""
        self._handle.remove()


_ACTIVE: list[GradientSync] = []  # the sync of the running fit, if data parallel


def sync_gradients() -> None:
    """All-reduce the gradients of the running data-parallel step now (before a non-linear
    transformation such as clipping); a no-op in one process."""
    if _ACTIVE:
        _ACTIVE[-1].sync()


def per_sample(draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    """``draw(n)``, random values for ``n`` samples; in a data-parallel step on a share of
    ``n`` samples, this rank's slice of ``draw(global batch)``, so every sample gets the value
    one process would draw for it."""
    if _ACTIVE and _ACTIVE[-1].batch and _ACTIVE[-1].part.stop - _ACTIVE[-1].part.start == n:
        return draw(_ACTIVE[-1].batch)[_ACTIVE[-1].part]
    return draw(n)


@contextmanager
def gradient_sync(rule) -> Iterator[GradientSync | None]:
    """A :class:`GradientSync` on ``rule``'s optimiser while the block runs, in a process group
    of more than one process (after :func:`check_rule`); None otherwise."""
    if world()[1] == 1:
        yield None
        return
    check_rule(rule)
    sync = GradientSync(rule.optimizer)
    _ACTIVE.append(sync)
    try:
        yield sync
    finally:
        _ACTIVE.remove(sync)
        sync.remove()


def all_sum(values: list[float]) -> list[float]:
    """The sums over ranks of ``values`` (float64)."""
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if world()[1] > 1:
        dist.barrier()


def _backend(device: str | None) -> str:
    return "nccl" if device is not None and str(device).startswith("cuda") else "gloo"


def init_from_env(device: str | None = None) -> tuple[int, int]:
    """Join the process group described by ``torchrun``'s environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); returns ``(rank, size)``. On CUDA each
    process takes device ``LOCAL_RANK``."""
    if not dist.is_initialized():
        dist.init_process_group(_backend(device))
    if device is not None and str(device).startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return world()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, size: int, port: int, device: str | None, fn: Callable, args: tuple,
            results) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(size), "LOCAL_RANK": str(rank)})
    # Each process gets its share of the cores, as torchrun does by default.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))
    init_from_env(device)
    try:
        out = fn(*args)
        if rank == 0:
            results.put(out)
    finally:
        dist.destroy_process_group()


def launch(fn: Callable, nproc: int, args: tuple = (), device: str | None = None):
    """Run ``fn(*args)`` in ``nproc`` processes joined in a process group on this machine;
    returns rank 0's result (``fn`` and its result must pickle)."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.spawn(_worker, args=(nproc, _free_port(), device, fn, args, results), nprocs=nproc,
             join=True)
    return results.get()


__all__ = ["GradientSync", "all_sum", "barrier", "check_rule", "gradient_sync", "init_from_env",
           "launch", "per_sample", "shard", "sync_gradients", "world"]
