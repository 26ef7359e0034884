"""Plots of recordings: raster, population rate, state traces.

The functions draw on axes you pass, so they work in notebooks and scripts alike; on a
machine without a display matplotlib falls back to its Agg backend by itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from snn.results import SpikeRecord, StateRecord


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def raster(ax, record: SpikeRecord, max_neurons: int | None = None, color: str = "k") -> None:
    """Dot raster of ``record`` on ``ax`` (time in ms), optionally the first ``max_neurons``."""
    keep = record.indices < max_neurons if max_neurons else slice(None)
    ax.plot(record.times[keep] * 1e3, record.indices[keep], ",", color=color, rasterized=True)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")


def population_rate(ax, record: SpikeRecord, t_start: float, t_end: float,
                    bin_s: float = 5e-3) -> None:
    """Population firing rate (Hz) in bins of ``bin_s`` seconds."""
    edges = np.arange(t_start, t_end + bin_s / 2, bin_s)
    counts, _ = np.histogram(record.times, edges)
    ax.plot(edges[:-1] * 1e3, counts / (record.n_recorded * bin_s), lw=1)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")


def traces(ax, record: StateRecord, variable: str, scale: float = 1e3, unit: str = "mV") -> None:
    """One line per recorded neuron of ``variable``."""
    ax.plot(record.times * 1e3, record[variable] * scale, lw=0.8)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{variable} ({unit})")


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save ``fig`` to ``path`` atomically (temporary name, then rename) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    pyplot().close(fig)
    return path


def rules_comparison(rows: list[dict], path: str | os.PathLike, title: str = "") -> Path:
    """The rules benchmark as one figure, saved atomically to ``path``: test accuracy against
    training wall time per epoch (s, log axis), and peak training memory (MB) against the
    number of time steps T (log-log), one point or line per row of
    :func:`rules.bench.bench_rules`. Zero memory cannot sit on a log axis: such points are left
    out and the legend says ``0 B``."""
    plt = pyplot()
    fig, (acc, mem) = plt.subplots(1, 2, figsize=(11, 4.5))
    for i, row in enumerate(rows):
        color = f"C{i % 10}"
        acc.scatter(row["wall_s_per_epoch"], row["test_accuracy"], color=color, s=40, zorder=3,
                    label=row["rule"])
        steps = sorted(int(t) for t in row["memory_by_T"])
        megabytes = np.array([row["memory_by_T"][str(t)] for t in steps], dtype=float) / 1e6
        shown = megabytes > 0
        label = row["rule"] if shown.all() else f"{row['rule']} (0 B at some T)"
        if shown.any():
            mem.plot(np.array(steps)[shown], megabytes[shown], "o-", color=color, label=label)
        else:
            mem.plot([], [], "o-", color=color, label=f"{row['rule']} (0 B)")
    acc.set_xscale("log")
    acc.margins(x=0.25)
    acc.set_xlabel("training wall time per epoch (s)")
    acc.set_ylabel("test accuracy")
    # Rules close in accuracy stay apart: the axis starts a little below the lowest one.
    scores = [float(r["test_accuracy"]) for r in rows if r.get("test_accuracy") is not None]
    lowest = min((a for a in scores if np.isfinite(a)), default=0.0)
    acc.set_ylim(max(0.0, np.floor(10 * lowest - 0.5) / 10), 1.0)
    acc.grid(alpha=0.3, which="both")
    acc.set_title("accuracy vs time")
    mem.set_xscale("log")
    mem.set_yscale("log")
    mem.set_xlabel("time steps T")
    mem.set_ylabel("peak training memory (MB)")
    mem.grid(alpha=0.3, which="both")
    mem.set_title("memory vs T (one training step)")
    if rows:
        acc.legend(fontsize=8, loc="lower right")
        mem.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
