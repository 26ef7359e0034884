"""What every network-training rule shares: the training contract the benchmark harness
relies on, epoch records, seeded batching, and measurement of training memory.

The contract (BPTT and every local rule follow it):

- ``Rule.build(sizes, *, steps, encoder, seed, device, spiking=True, **options)`` (a
  classmethod) builds the rule with its default network for the fully connected architecture
  ``sizes`` (e.g. ``[784, 500, 10]``); ``spiking=False`` asks for the non-spiking variant
  where the rule has one (``ValueError`` naming the rule otherwise). The instance keeps its
  configuration in ``config``, a dataclass with at least ``steps``, ``encoder``,
  ``batch_size``, ``lr`` and ``seed``.
- ``fit(train, test=None, epochs=1, progress=False) -> list[EpochRecord]`` trains;
  ``history`` holds one :class:`EpochRecord` per epoch (test accuracy when ``test`` is given).
- ``evaluate(ds) -> float`` is the test accuracy (encoder noise seeded, so calls agree).
- ``train_batch(x, y)`` runs one training step on an encoded batch ``x`` of shape
  ``(T, batch, ...)`` and labels ``y``; the harness measures memory around it with
  :func:`peak_training_bytes`.
- ``synaptic_ops(x) -> float``: synaptic operations of the *training* step on ``x`` per sample
  (an energy proxy: one spike crossing one synapse, or one multiply-accumulate of a
  non-spiking input, counts 1; a weight update or trace update of one synapse counts 1).
"""

from __future__ import annotations

import gc
import json
import os
import time
import weakref
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from snn.checkpoint import load_checkpoint
from snn.h5io import open_checked, temporary_sibling
from snn.validate import check_int

RUN_RECORD = "run_record"  # checkpoint attribute holding the caller's run record (JSON)


@dataclass
class EpochRecord:
    """What one epoch measured."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float | None
    wall_s: float


def batch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The sample order of ``epoch``: a permutation fixed by ``(seed, epoch)``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def epoch_generator(seed: int, epoch: int, device: str | torch.device = "cpu") -> torch.Generator:
    """The encoder-noise generator of ``epoch``, fixed by ``(seed, epoch)``."""
    return torch.Generator(device=device).manual_seed(seed * 100_003 + epoch)


def progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar over ``total`` batches, or None when ``enabled`` is false."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", leave=False)


def resume_from(rule, checkpoint, resume: bool) -> None:
    """With ``resume``, load ``checkpoint`` into ``rule`` if the file exists (a fresh start
    otherwise); ``resume`` without a checkpoint path is an error."""
    if not resume:
        return
    if checkpoint is None:
        raise ValueError("resume=True needs checkpoint= (the file to resume from)")
    if Path(checkpoint).exists():
        rule.load(checkpoint)


def fit_epochs(rule, train, test, epochs: int, progress: bool, checkpoint, resume: bool,
               start_epoch: Callable[[int, int], None] | None = None,
               before_batch: Callable[[float, int], None] | None = None,
               correct: Callable[[torch.Tensor, torch.Tensor], int] | None = None,
               name: str = "") -> list[EpochRecord]:
    """The supervised epoch loop of a rule whose ``train_batch(encoded, labels)`` returns
    ``(loss, scores)``: seeded order and encoder noise per epoch (:func:`batch_order`,
    :func:`epoch_generator`), a progress bar, one :class:`EpochRecord` per epoch appended to
    ``rule.history`` (test accuracy when ``test`` is given), the checkpoint saved after every
    epoch, and ``resume`` from it. The rule provides ``config.seed``, ``config.batch_size``,
    ``device``, ``_inputs(ds) -> (x, y)`` and ``_encode(x, generator)`` (or ``_stream(x,
    generator)``, the same spikes as a :class:`snn.encoding.SpikeStream`, used when present, for
    a rule that reads its input a chunk of steps at a time). Hooks:
    ``start_epoch(epoch, epochs)`` before an epoch's first batch (0-based ``epoch``) and
    ``before_batch(position, epochs)`` before each batch, ``position`` in epochs (fractional);
    ``correct(scores, labels)`` counts a batch's correct predictions (default: argmax);
    ``name`` prefixes the progress bar.

    In a ``torch.distributed`` process group (:mod:`rules.distributed`) each rank trains on its
    share of every global batch, gradients are all-reduced before each optimiser step, the
    epoch's loss and accuracy are summed over ranks, and only rank 0 writes the checkpoint.
    """
    from rules import distributed

    epochs = check_int("epochs", epochs, minimum=1)
    resume_from(rule, checkpoint, resume)
    x_all, y_all = rule._inputs(train)
    seed, size = rule.config.seed, rule.config.batch_size
    rank, world = distributed.world()
    with distributed.gradient_sync(rule) as sync:
        for epoch in range(len(rule.history), epochs):
            t0 = time.perf_counter()
            order = batch_order(len(train), seed, epoch)
            gen = epoch_generator(seed, epoch, rule.device)
            if start_epoch is not None:
                start_epoch(epoch, epochs)
            batches = range(0, len(order), size)
            bar = progress_bar(len(batches), f"{name} epoch {epoch + 1}/{epochs}".lstrip(),
                               progress and rank == 0)
            total_loss, n_correct = 0.0, 0
            for start in batches:
                idx = torch.as_tensor(order[start:start + size], device=rule.device)
                x, y = x_all[idx], y_all[idx]
                if before_batch is not None:
                    before_batch(epoch + start / len(order), epochs)
                # the whole global batch: the same noise as one process
                encoded = getattr(rule, "_stream", rule._encode)(x, gen)
                if sync is not None:
                    part = distributed.shard(len(idx), rank, world)
                    encoded, y = encoded[:, part], y[part]
                    sync.start_batch(part, len(idx))
                loss, scores = rule.train_batch(encoded, y)
                total_loss += float(loss) * len(y)
                n_correct += correct(scores, y) if correct is not None else int((scores.argmax(1) == y).sum())
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(loss):.3f}")
            if bar is not None:
                bar.close()
            if sync is not None:
                total_loss, n_correct = distributed.all_sum([total_loss, n_correct])
            wall = time.perf_counter() - t0
            test_acc = rule.evaluate(test) if test is not None else None
            rule.history.append(EpochRecord(epoch + 1, total_loss / len(order),
                                            n_correct / len(order), test_acc, wall))
            if checkpoint is not None and rank == 0:
                save_with_record(rule, checkpoint)
            distributed.barrier()  # no rank starts an epoch (or returns) before the checkpoint is written
    return rule.history


def save_with_record(rule, path) -> Path:
    """``rule.save(path)``, plus the caller's run record ``rule.run_record`` (a JSON-able dict,
    e.g. the command line's settings) when the rule has one, in the same atomic write: the
    file appears complete with its record or not at all. Read it with :func:`read_run_record`."""
    record = getattr(rule, "run_record", None)
    if record is None:
        return Path(rule.save(path))
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        rule.save(tmp)
        with h5py.File(tmp, "r+") as fh:
            fh.attrs[RUN_RECORD] = json.dumps(record)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_run_record(path) -> dict | None:
    """The run record :func:`save_with_record` stored in the checkpoint ``path`` (None if it
    has none)."""
    from snn.checkpoint import FORMAT

    with open_checked(path, FORMAT, "checkpoint") as fh:
        text = fh.attrs.get(RUN_RECORD)
    return None if text is None else json.loads(text)


@torch.no_grad()
def evaluate_accuracy(rule, ds, batch_size: int,
                      scores: Callable[[torch.Tensor, torch.Generator], torch.Tensor]) -> float:
    """Accuracy of ``scores(encoded_batch, generator) -> (batch, classes)`` on ``ds``, batch by
    batch; the encoder noise comes from a generator seeded by ``config.seed``, so repeated
    calls agree."""
    x_all, y_all = rule._inputs(ds)
    gen = torch.Generator(device=rule.device).manual_seed(rule.config.seed + 7)
    correct = 0
    for start in range(0, len(ds), batch_size):
        x, y = x_all[start:start + batch_size], y_all[start:start + batch_size]
        encoded = getattr(rule, "_stream", rule._encode)(x, gen)
        correct += int((scores(encoded, gen).argmax(1) == y).sum())
    return correct / len(ds)


def read_rule_checkpoint(path, rule: str) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` of the checkpoint ``path``; a ``ValueError`` if another rule wrote it."""
    arrays, meta = load_checkpoint(path)
    if meta.get("rule") != rule:
        raise ValueError(f"{str(path)!r} is a checkpoint of rule {meta.get('rule')!r}, not {rule}")
    return arrays, meta


def module_arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A module's ``state_dict`` as checkpoint arrays ``model/<name>``."""
    return {f"model/{k}": v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def restore_module(module: torch.nn.Module, arrays: dict[str, np.ndarray], path) -> None:
    """Load the ``model/<name>`` arrays written by :func:`module_arrays` into ``module``; a
    ``ValueError`` naming ``path`` if they do not fit it."""
    state = {k[len("model/"):]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("model/")}
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{str(path)!r} does not fit this network: {err}") from err


def optimizer_arrays(state: dict) -> dict[str, np.ndarray]:
    """An optimiser's ``state_dict()["state"]`` as checkpoint arrays ``optimizer/<index>/<name>``
    (its ``param_groups`` go in the checkpoint's metadata)."""
    return {f"optimizer/{index}/{name}": torch.as_tensor(value).cpu().numpy()
            for index, entries in state["state"].items() for name, value in entries.items()}


def restore_optimizer(optimizer: torch.optim.Optimizer, arrays: dict[str, np.ndarray],
                      param_groups: list) -> None:
    """Load what :func:`optimizer_arrays` saved (plus the saved ``param_groups``)."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in arrays.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/")
            state.setdefault(int(index), {})[name] = torch.as_tensor(value)
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


class _Held:
    """A tensor saved for backward, counted while autograd keeps it."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor


class SavedTensorMeter:
    """Counts the bytes autograd holds for backward, live and at their peak.

    Each storage counts once however many times it is saved (a weight saved at every step is
    one weight); a storage stops counting when autograd frees the last reference to it (after
    ``backward``, or when a local loss's graph is dropped). Use as a context manager around
    the training step, then read :attr:`peak`.
    """

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self._refs: dict[tuple[int, int], int] = {}
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def _pack(self, t: torch.Tensor) -> _Held:
        storage = t.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        if self._refs.get(key, 0) == 0:
            self.live += key[1]
            self.peak = max(self.peak, self.live)
        self._refs[key] = self._refs.get(key, 0) + 1
        held = _Held(t)
        weakref.finalize(held, self._release, key)
        return held

    @staticmethod
    def _unpack(held: _Held) -> torch.Tensor:
        return held.tensor

    def _release(self, key: tuple[int, int]) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            del self._refs[key]
            self.live -= key[1]

    def __enter__(self) -> SavedTensorMeter:
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._ctx.__exit__(*exc)


def peak_training_bytes(step, device: str | torch.device = "cpu", state_bytes: int = 0) -> int:
    """Peak memory of one training step ``step()`` beyond the weights, counted the same way on
    every device: the peak of the bytes autograd holds for backward
    (:class:`SavedTensorMeter`) plus ``state_bytes``, the rule's own persistent training state
    (eligibility traces and the like), which autograd does not see. (The CUDA allocator's
    peak, which also holds library workspaces, gradients and temporaries, is
    :func:`cuda_peak_bytes`.)
    """
    with SavedTensorMeter() as meter:
        step()
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    return int(meter.peak + state_bytes)


def cuda_peak_bytes(step, device: str | torch.device) -> int:
    """The CUDA allocator's peak during ``step()`` above what was allocated before it, measured
    on a second call after a warm-up call (so the first call's library workspaces and the
    optimiser state a first step creates are not in it). ``step`` runs twice."""
    if not str(device).startswith("cuda"):
        raise ValueError(f"cuda_peak_bytes needs a CUDA device, got {device!r}; on the CPU use "
                         "peak_training_bytes")
    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated() - before)


def cpu_peak_bytes(step) -> int:
    """The peak of the bytes torch's CPU allocator holds during ``step()`` above what was held
    before it: every tensor the step creates (its inputs' chunks, temporaries, saved tensors,
    state), from the allocation and free events torch's profiler records. Measured on a second
    call after a warm-up call, as :func:`cuda_peak_bytes`; ``step`` runs twice.

    Both calls run under the profiler, so a block the warm-up left behind (last step's
    gradients, say) has a known size when the measured call frees it; the profiler reports the
    free of a block it did not see allocated only by chance (a stale entry for its address), which
    made the figure vary by a few kilobytes between identical runs. The garbage collector is held
    off, so the figure does not depend on when it would have run either."""
    from torch.profiler import ProfilerActivity, profile, record_function

    gc.collect()
    gc.disable()
    try:
        with _without_profiler_notices(), profile(activities=[ProfilerActivity.CPU],
                                                   profile_memory=True) as prof:
            step()
            with record_function(_MEASURED):
                step()
    finally:
        gc.enable()
    events = prof.profiler.kineto_results.events()
    window = next(e for e in events if e.name() == _MEASURED)
    cpu = torch._C._autograd.DeviceType.CPU
    memory = [e for e in events if e.name() == "[memory]" and e.device_type() == cpu
              and window.start_ns() <= e.start_ns() <= window.end_ns()]
    live = peak = 0
    for e in sorted(memory, key=lambda e: e.start_ns()):
        live += e.nbytes()
        peak = max(peak, live)
    return int(peak)


_MEASURED = "synaptica::measured_step"


@contextmanager
def _without_profiler_notices():
    """Standard error without the lines torch's profiler (kineto) writes at every start and stop
    (``USDT: ... profiler_start``; no setting turns them off): file descriptor 2 goes to a
    temporary file while the profiler runs, and every other line is written back afterwards."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(keepends=True)
                    if not line.startswith(b"USDT:")]
            if kept:
                os.write(2, b"".join(kept))


__all__ = ["EpochRecord", "SavedTensorMeter", "batch_order", "cpu_peak_bytes", "cuda_peak_bytes",
           "epoch_generator",
           "optimizer_arrays", "peak_training_bytes", "progress_bar", "read_run_record",
           "restore_optimizer", "resume_from", "save_with_record"]
