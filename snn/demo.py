"""The main job: a balanced excitatory-inhibitory network (CUBA) a newcomer can read and run,
then the learning rules side by side on the shipped digits.

Part one builds the CUBA network, records every spike and three membrane traces, runs one
second of biological time with a progress bar, and writes a raster plot (PNG) and the
recordings (HDF5). Part two trains a small network (64-64-10, T = 10) on the 8x8 digits with
BPTT, TESS, forward-forward, counter-current learning and SoftHebb (and snnTorch's BPTT),
and writes the comparison table (CSV, HDF5) and chart (PNG); a rule that does not import or
fails is reported as skipped.
"""

from __future__ import annotations

from pathlib import Path

from snn.bench.cuba import DT, cuba_network


def demo_rules_config(seed: int = 0):
    """The demo's rules comparison: small enough for a few seconds a rule on two cores."""
    from rules.bench import RulesBenchConfig

    return RulesBenchConfig(rules=("bptt", "tess", "ff", "ccl", "softhebb"), sizes=(64, 64, 10), steps=10,
                            epochs=4, batch=64, seed=seed, skip_failures=True)


def run_demo(out: str | Path = "out", neurons: int = 4000, duration: float = 1.0,
             seed: int = 1, progress: bool = True, rules=True) -> dict:
    """Run the demo; returns a summary with the paths of the files written.

    ``rules``: True runs the rules comparison with :func:`demo_rules_config`, a
    :class:`rules.bench.RulesBenchConfig` runs that one instead, False leaves it out.
    """
    summary = _cuba(Path(out), neurons, duration, seed, progress)
    if rules is not False:
        summary["rules"] = _rules(Path(out), demo_rules_config() if rules is True else rules, progress)
    return summary


def _cuba(out: Path, neurons: int, duration: float, seed: int, progress: bool) -> dict:
    from snn import plot

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


def _rules(out: Path, config, progress: bool) -> dict:
    import torch

    from rules.bench import bench_rules, write_rules_bench
    from snn.datasets import load_digits

    train, test = load_digits().stratified_split(0.2, seed=config.seed)
    # At this size a matrix product takes microseconds: a second torch thread only adds
    # synchronisation, which on a busy machine costs far more than the work (measured 2-5x).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report = bench_rules(train, test, config, dataset="digits", progress=progress)
    finally:
        torch.set_num_threads(threads)
    report["files"] = write_rules_bench(report, out, stem="demo_rules")
    return report
