"""The main job: a balanced excitatory-inhibitory network (CUBA) a newcomer can read and run.

Builds the CUBA network, records every spike and three membrane traces, runs one second of
biological time with a progress bar, and writes a raster plot (PNG) and the recordings (HDF5).
"""

from __future__ import annotations

from pathlib import Path

from snn.bench.cuba import DT, cuba_network


def run_demo(out: str | Path = "out", neurons: int = 4000, duration: float = 1.0,
             seed: int = 1, progress: bool = True) -> dict:
    """Run the demo; returns a summary with the paths of the files written."""
    from snn import plot

    out = Path(out)
    net = cuba_network(neurons)
    P = net.populations[0]
    net.state_monitor(P[:3], ["v"], every=1, name="v")
    sim = net.build(dt=DT, seed=seed)
    res = sim.run(duration, progress=progress)
    h5 = res.to_hdf5(out / "demo_results.h5")

    plt = plot.pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1, 1.2]})
    spikes = res["spikes"]
    plot.raster(axes[0], spikes, max_neurons=min(neurons, 500))
    axes[0].set_title(f"CUBA network, {neurons} LIF neurons: first {min(neurons, 500)} shown")
    plot.population_rate(axes[1], spikes, 0.0, duration)
    plot.traces(axes[2], res["v"], "v")
    for ax in axes[:-1]:
        ax.set_xlabel("")
    fig.tight_layout()
    png = plot.save_figure(fig, out / "demo_raster.png")
    return {
        "neurons": neurons, "synapses": sim.built.n_synapses, "duration_s": duration,
        "spikes": spikes.count, "rate_hz": spikes.rate(duration), "cv_isi": spikes.cv_isi(),
        "wall_s": res.timing["wall_s"], "build_s": sim.build_s, "seed": seed,
        "raster_png": str(png), "results_h5": str(h5),
    }
