"""Data-parallel training across processes with ``torch.distributed``.

Every process holds the whole model and walks the same seeded batch order
(:func:`rules.base.batch_order`); each encodes the whole global batch with the same generator
(so the encoder noise is the one a single process draws) and trains on its contiguous share of
the samples. The same global batch and seed give the same weights as one process, to float
tolerance (summation order), for every rule:

- an optimiser step: the gradients are all-reduced before it, each process's weighted by its
  share of the batch, which is the gradient of the global batch's mean loss (BPTT, TESS, FF,
  the read-outs of SoftHebb);
- a loss that couples the samples of a batch (CCL's centred similarity, its normalised loss's
  sample-by-sample Gram matrix): the batch statistics are global (:func:`batch_mean`,
  :func:`gather_rows`), and their backward passes hand every process its samples' share of the
  other processes' gradients, so the weighted all-reduce is again the one-process gradient;
- an update that sums over the samples outside autograd (SoftHebb's Hebbian ``Δw`` before its
  normalisation by ``max |Δw|``, the Tempotron's error-driven corrections and intrinsics):
  each process sums its samples and :func:`all_reduce_sum` adds the sums before the rule
  applies them;
- a random draw per sample (FF's wrong labels, SoftHebb's spiking winners): every process draws
  for the whole global batch and keeps its slice (:func:`per_sample`).

Only rank 0 writes checkpoints; every rank can resume from them.

Launch: :func:`launch` spawns ``nproc`` processes on this machine (``synaptica train RULE
--nproc N``); under ``torchrun`` (several machines) :func:`init_from_env` joins the group that
``torchrun`` describes in ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. The
process-group backend is gloo on the CPU and NCCL on CUDA.
"""

from __future__ import annotations

import os
import pickle
import socket
import tempfile
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
    """A ``TypeError`` unless ``rule`` declares that it trains data-parallel (``data_parallel
    = True`` on its class: every update it makes is reduced over processes as described in
    this module)."""
    if not getattr(rule, "data_parallel", False):
        raise TypeError(f"{type(rule).__name__} does not support data-parallel training: it "
                        "does not declare data_parallel = True (its updates are not reduced "
                        "over processes); train it in one process")


class GradientSync:
    """The running data-parallel step: ``part`` and ``batch`` are this rank's slice of the
    current global batch and that batch's size, ``share`` its fraction of the batch. With an
    ``optimizer``, a step pre-hook all-reduces every parameter's gradient, weighted by
    ``share``, before the step; a rule that transforms its gradients non-linearly first
    (clipping) calls :func:`sync_gradients` before that, and the step then does not sync
    again. A rule without an optimiser (the Tempotron) reduces its updates itself
    (:func:`all_reduce_sum`)."""

    def __init__(self, optimizer: torch.optim.Optimizer | None) -> None:
        self.share = 1.0
        self.part, self.batch = slice(None), 0
        self.synced = False
        self.params = ([] if optimizer is None
                       else [p for group in optimizer.param_groups for p in group["params"]])
        self._handle = None if optimizer is None else optimizer.register_step_pre_hook(self._hook)

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
        if not self.params:
            return
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
        if self._handle is not None:
            self._handle.remove()


_ACTIVE: list[GradientSync] = []  # the sync of the running fit, if data parallel


def sync_gradients() -> None:
    """All-reduce the gradients of the running data-parallel step now (before a non-linear
    transformation such as clipping); a no-op in one process."""
    if _ACTIVE:
        _ACTIVE[-1].sync()


def _running(n: int) -> GradientSync | None:
    """The running data-parallel step if this rank's share of it has ``n`` samples."""
    if _ACTIVE and _ACTIVE[-1].batch and _ACTIVE[-1].part.stop - _ACTIVE[-1].part.start == n:
        return _ACTIVE[-1]
    return None


def per_sample(draw: Callable[[int], torch.Tensor], n: int, dim: int = 0) -> torch.Tensor:
    """``draw(n)``, random values for ``n`` samples along ``dim``; in a data-parallel step on
    a share of ``n`` samples, this rank's slice (along ``dim``) of ``draw(global batch)``, so
    every sample gets the value one process would draw for it."""
    step = _running(n)
    if step is None:
        return draw(n)
    return draw(step.batch).narrow(dim, step.part.start, n)


def all_reduce_sum(*tensors: torch.Tensor) -> None:
    """Add, in place, each tensor's values over the processes of a data-parallel step (one
    collective for all of them): a rule that sums its samples' contributions to an update
    outside autograd turns its share's sums into the global batch's. A no-op in one process."""
    if not _ACTIVE or world()[1] == 1 or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


class _GlobalRows(torch.autograd.Function):
    """The global batch's rows ``(N, ...)`` from this rank's rows at ``start``. Backward: the
    loss of the data-parallel step is ``sum_r share_r loss_r`` (the gradient all-reduce weights
    each rank by its share), so this rank's rows get ``(sum_r share_r g_r)[own rows] / share``."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, start: int, total: int, share: float) -> torch.Tensor:
        ctx.start, ctx.n, ctx.share = start, rows.shape[0], share
        out = rows.new_zeros((total, *rows.shape[1:]))
        out[start:start + rows.shape[0]] = rows
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _share_weighted_sum(grad, ctx.share)[ctx.start:ctx.start + ctx.n], None, None, None


def gather_rows(rows: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(all rows, start)``: the rows ``(n, ...)`` of every sample of the global batch in a
    data-parallel step (this rank's at ``start``), differentiable so that a loss coupling the
    samples (a Gram matrix over the batch) gets the one-process gradient; ``(rows, 0)`` in one
    process."""
    step = _running(rows.shape[0])
    if step is None or world()[1] == 1:
        return rows, 0
    return _GlobalRows.apply(rows, step.part.start, step.batch, step.share), step.part.start


def batch_mean(rows: torch.Tensor) -> torch.Tensor:
    """The mean over the global batch of ``rows`` ``(n, ...)`` along dim 0 (kept, shape
    ``(1, ...)``), differentiable; ``rows.mean(0, keepdim=True)`` in one process."""
    step = _running(rows.shape[0])
    if step is None or world()[1] == 1:
        return rows.mean(0, keepdim=True)
    return _GlobalSum.apply(rows.sum(0, keepdim=True), step.share) / step.batch


class _GlobalSum(torch.autograd.Function):
    """The sum over ranks of a per-rank partial sum; backward as :class:`_GlobalRows`."""

    @staticmethod
    def forward(ctx, part: torch.Tensor, share: float) -> torch.Tensor:
        ctx.share = share
        out = part.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _share_weighted_sum(grad, ctx.share), None


def _share_weighted_sum(grad: torch.Tensor, share: float) -> torch.Tensor:
    """``(sum_r share_r grad_r) / share``: the one-process gradient of a loss that the gradient
    all-reduce weights by each rank's ``share``, as this rank must return it."""
    grad = grad * share
    dist.all_reduce(grad)
    return grad / share


@contextmanager
def gradient_sync(rule) -> Iterator[GradientSync | None]:
    """A :class:`GradientSync` on ``rule``'s optimiser while the block runs, in a process group
    of more than one process (after :func:`check_rule`); None otherwise."""
    if world()[1] == 1:
        yield None
        return
    check_rule(rule)
    sync = GradientSync(getattr(rule, "optimizer", None))
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
            result: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(size), "LOCAL_RANK": str(rank)})
    # Each process gets its share of the cores, as torchrun does by default.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))
    init_from_env(device)
    try:
        out = fn(*args)
        if rank == 0:  # a file, not a pipe: a result larger than the pipe's buffer would block
            with open(result, "wb") as fh:
                pickle.dump(out, fh)
        # Every rank past its last collective before any tears down: rank 0 hosts the store,
        # and a rank still talking to it when rank 0 exits dies in gloo (std::terminate).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def launch(fn: Callable, nproc: int, args: tuple = (), device: str | None = None):
    """Run ``fn(*args)`` in ``nproc`` processes joined in a process group on this machine;
    returns rank 0's result (``fn`` and its result must pickle)."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="synaptica_dp_") as tmp:
        result = os.path.join(tmp, "result.pickle")
        mp.spawn(_worker, args=(nproc, _free_port(), device, fn, args, result), nprocs=nproc,
                 join=True)
        with open(result, "rb") as fh:
            return pickle.load(fh)


__all__ = ["GradientSync", "all_reduce_sum", "all_sum", "barrier", "batch_mean", "check_rule",
           "gather_rows", "gradient_sync", "init_from_env", "launch", "per_sample", "shard",
           "sync_gradients", "world"]
