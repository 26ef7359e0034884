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
