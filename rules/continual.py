"""Task sequences for continual learning: permuted MNIST and split digits, the accuracy
matrix, ACC and BWT, and runs of a rule by plain fine-tuning, with HLOP
(:mod:`rules.hlop`), or jointly on all tasks (the multitask upper bound).

``R[i, j]`` is the test accuracy on task ``j`` after training on tasks ``0..i``. With ``N``
tasks (Lopez-Paz and Ranzato, GEM, 2017; the HLOP paper uses the same)::

    ACC = (1/N) sum_j R[N-1, j]
    BWT = 1/(N-1) sum_{j<N-1} (R[N-1, j] - R[j, j])

BWT < 0 is forgetting. The multitask run trains once on the union of all tasks' training
sets (the same number of epochs, hence the same number of updates as the sequence) and
reports its per-task accuracies as a single row.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rules.hlop import HLOP, HLOPConfig
from snn.datasets import Dataset
from snn.h5io import temporary_sibling
from snn.layers import Sequential
from snn.validate import check_int

METHODS = ("finetune", "hlop", "multitask")


@dataclass
class Task:
    """One task: its name and its training and test sets (same label space for all tasks)."""

    name: str
    train: Dataset
    test: Dataset


def permuted_tasks(ds: Dataset, n_tasks: int, seed: int, test_fraction: float = 0.2) -> list[Task]:
    """Permuted-``ds`` tasks: a stratified train/test split of ``ds`` (seeded), then for every
    task one fixed random permutation of the pixels (seeded by ``(seed, task)``; task 0 keeps
    the original order, as in the usual protocol)."""
    n_tasks = check_int("n_tasks", n_tasks, minimum=1)
    train, test = ds.stratified_split(test_fraction, seed)
    h, w = ds.image_shape
    tasks = []
    for t in range(n_tasks):
        perm = np.arange(h * w) if t == 0 else np.random.default_rng([seed, t]).permutation(h * w)

        def permute(d: Dataset, perm=perm, t=t) -> Dataset:
            images = np.ascontiguousarray(d.images.reshape(len(d), -1)[:, perm].reshape(len(d), h, w))
            return Dataset(images, d.labels, f"{d.name}-perm{t}", d.n_classes, d.max_value)

        tasks.append(Task(f"perm{t}", permute(train), permute(test)))
    return tasks


def split_tasks(ds: Dataset, seed: int, classes_per_task: int = 2,
                test_fraction: float = 0.25) -> list[Task]:
    """Split-``ds`` tasks in the domain-incremental setting: task ``t`` holds classes
    ``t*c .. t*c + c - 1`` (``c = classes_per_task``), relabelled ``0 .. c-1``, so one shared
    ``c``-way head serves every task (its decisions for old tasks can be overwritten: the
    setting where fine-tuning forgets most)."""
    c = check_int("classes_per_task", classes_per_task, minimum=2)
    if ds.n_classes % c:
        raise ValueError(f"classes_per_task={c} does not divide the {ds.n_classes} classes")
    train, test = ds.stratified_split(test_fraction, seed)
    tasks = []
    for t in range(ds.n_classes // c):
        def part(d: Dataset, t=t) -> Dataset:
            keep = (d.labels // c) == t
            return Dataset(d.images[keep], (d.labels[keep] % c).astype(np.int64),
                           f"{d.name}-task{t}", c, d.max_value)

        tasks.append(Task(f"{t * c}-{t * c + c - 1}", part(train), part(test)))
    return tasks


def spiking_cnn(image_shape: tuple[int, int], n_out: int, channels: Sequence[int] = (8,),
                beta: float = 0.9, v_thresh: float = 0.5) -> Sequential:
    """A spiking CNN for flattened gray images (the inputs BPTT feeds: ``(T, batch, H*W)``):
    per entry of ``channels`` a 3x3 ``Conv2d`` of LIF neurons (padding 1) and 2x2 average
    pooling, then an LI read-out ``Linear``. Its convolutions are what HLOP projects by
    im2col patches (see :mod:`rules.hlop`)."""
    from torch import nn

    from snn.layers import AvgPool2d, Conv2d, Flatten, Linear
    from snn.models import LI, LIF

    h, w = (check_int("image_shape", v, minimum=1) for v in image_shape)
    layers: list[nn.Module] = [nn.Unflatten(2, (1, h, w))]
    prev = 1
    for c in channels:
        c = check_int("channels", c, minimum=1)
        if h < 2 or w < 2:
            raise ValueError(f"image_shape {tuple(image_shape)} is too small for {len(channels)} "
                             "conv + 2x2 pooling stages; use fewer channels entries")
        layers += [Conv2d(prev, c, 3, LIF.from_beta(beta, v_thresh=v_thresh), padding=1), AvgPool2d(2)]
        prev, h, w = c, h // 2, w // 2
    layers += [Flatten(), Linear(prev * h * w, check_int("n_out", n_out, minimum=1), LI.from_beta(beta))]
    return Sequential(*layers)


def acc_bwt(matrix: np.ndarray) -> tuple[float, float]:
    """``(ACC, BWT)`` of an accuracy matrix (``R[i, j]`` after task ``i`` on task ``j``)."""
    R = np.asarray(matrix, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] < 1:
        raise ValueError(f"matrix must be a square N x N accuracy matrix, got shape {R.shape}")
    n = R.shape[0]
    acc = float(R[-1].mean())
    bwt = float(np.mean([R[-1, j] - R[j, j] for j in range(n - 1)])) if n > 1 else 0.0
    return acc, bwt


@dataclass
class ContinualResult:
    """One method's run over a task sequence (accuracies as fractions)."""

    method: str
    tasks: list[str]
    matrix: list[list[float]]  # N x N; for "multitask" one row (after joint training)
    acc: float
    bwt: float | None
    wall_s: float
    lateral: list[int] = field(default_factory=list)  # HLOP: lateral neurons per layer at the end


def _concat(datasets: list[Dataset]) -> Dataset:
    d0 = datasets[0]
    return Dataset(np.concatenate([d.images for d in datasets]), np.concatenate([d.labels for d in datasets]),
                   "multitask", d0.n_classes, d0.max_value)


def run_sequence(make_rule: Callable[[], object], tasks: list[Task], method: str, epochs: int = 1,
                 hlop: HLOPConfig | None = None, progress: bool = False) -> ContinualResult:
    """Train a fresh rule from ``make_rule()`` on ``tasks`` by ``method`` (``"finetune"``:
    one task after the other; ``"hlop"``: the same with HLOP's projection; ``"multitask"``:
    all tasks at once), ``epochs`` epochs per task, and measure the accuracy matrix."""
    if method not in METHODS:
        raise ValueError(f"method {method!r} is unknown; choose from {', '.join(METHODS)}")
    epochs = check_int("epochs", epochs, minimum=1)
    if not tasks:
        raise ValueError("tasks is empty; give at least one Task")
    t0 = time.perf_counter()
    rule = make_rule()
    names = [t.name for t in tasks]
    if method == "multitask":
        rule.fit(_concat([t.train for t in tasks]), epochs=epochs, progress=progress)
        row = [rule.evaluate(t.test) for t in tasks]
        return ContinualResult(method, names, [row], float(np.mean(row)), None, time.perf_counter() - t0)
    guard = HLOP(rule, hlop).attach() if method == "hlop" else None
    matrix = []
    for i, task in enumerate(tasks):
        rule.history = []
        rule.fit(task.train, epochs=epochs, progress=progress)
        if guard is not None and i < len(tasks) - 1:
            guard.end_task(task.train)
        matrix.append([rule.evaluate(t.test) for t in tasks])
    acc, bwt = acc_bwt(np.array(matrix))
    lateral = [s.k for s in guard.subspaces] if guard is not None else []
    if guard is not None:
        guard.detach()
    return ContinualResult(method, names, matrix, acc, bwt, time.perf_counter() - t0, lateral)


def write_report(results: list[ContinualResult], json_path: str | os.PathLike,
                 png_path: str | os.PathLike | None = None, settings: dict | None = None) -> None:
    """Write ``results`` (and the run's ``settings``) as JSON, and the accuracy matrices as a
    PNG, each atomically."""
    json_path = Path(json_path)
    tmp = temporary_sibling(json_path)
    try:
        tmp.write_text(json.dumps({"settings": settings or {}, "results": [asdict(r) for r in results]},
                                  indent=1))
        os.replace(tmp, json_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if png_path is not None:
        plot_matrices(results, png_path)


def plot_matrices(results: list[ContinualResult], path: str | os.PathLike) -> Path:
    """Heat maps of the accuracy matrices of the sequential methods (and the multitask row)."""
    from snn.plot import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.4), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        R = 100 * np.asarray(r.matrix)
        ax.imshow(R, vmin=0, vmax=100, cmap="viridis")
        for (i, j), v in np.ndenumerate(R):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                    color="w" if v < 60 else "k")
        bwt = "" if r.bwt is None else f", BWT {100 * r.bwt:+.1f}"
        ax.set_title(f"{r.method}: ACC {100 * r.acc:.1f}{bwt}", fontsize=9)
        ax.set_xlabel("tested on task")
        ax.set_ylabel("after training task" if R.shape[0] > 1 else "")
        ax.set_xticks(range(R.shape[1]))
        ax.set_yticks(range(R.shape[0]))
    fig.tight_layout()
    return save_figure(fig, path)


__all__ = ["METHODS", "ContinualResult", "Task", "acc_bwt", "permuted_tasks", "plot_matrices",
           "run_sequence", "spiking_cnn", "split_tasks", "write_report"]
