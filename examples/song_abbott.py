"""Song, Miller & Abbott (2000): competitive STDP splits 1000 input weights into two groups.

Run: python examples/song_abbott.py [--duration S] [--seed N] [--membrane conductance|example]
                                    [--every S] [--out DIR]
Prints the fractions of weights near each bound and the timing; writes into DIR (default out)
song_abbott_hist.png (final histogram), song_abbott_evolution.png (histograms over time as a
heat map) and song_abbott_weights.png (final weight against input index).
"""

import argparse
from pathlib import Path

import numpy as np

from snn import plot
from snn.bench.stdp import HIGH, LOW, MEMBRANES, run_song_abbott

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--duration", type=float, default=100.0, help="biological time (s)")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--membrane", choices=MEMBRANES, default="conductance")
ap.add_argument("--every", type=float, default=2.0, help="seconds between histograms")
ap.add_argument("--out", default="out", help="folder for the PNGs (default out)")
args = ap.parse_args()
if args.duration <= 0 or args.every <= 0:
    ap.error("--duration and --every must be > 0")

r = run_song_abbott(args.duration, seed=args.seed, membrane=args.membrane, every=args.every)
print(f"{args.membrane} membrane, {r['duration_s']:g} s: frac_low {r['frac_low']:.3f} "
      f"(w < {LOW} gmax), frac_high {r['frac_high']:.3f} (w > {HIGH} gmax), mean {r['w_mean']:.3f} "
      f"gmax, output {r['rate_hz']:.1f} Hz")
print(f"simulation {r['wall_s']:.2f} s, build {r['build_s']:.2f} s")

out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
plt = plot.pyplot()
edges = np.linspace(0.0, 1.0, r["hist_counts"].shape[1] + 1)
title = f"{args.membrane} membrane, seed {args.seed}"

fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ax.stairs(r["hist_counts"][-1], edges, fill=True, alpha=0.7)
ax.set_xlabel("w / gmax")
ax.set_ylabel("synapses")
ax.set_title(f"after {r['duration_s']:g} s ({title})", fontsize=9)
written = [plot.save_figure(fig, out / "song_abbott_hist.png")]

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
times = r["hist_times"]
t_edges = np.concatenate([times[:1], (times[:-1] + times[1:]) / 2, times[-1:]])
mesh = ax.pcolormesh(t_edges, edges, r["hist_counts"].T, cmap="viridis", shading="flat")
fig.colorbar(mesh, ax=ax, label="synapses per bin")
ax.set_xlabel("time (s)")
ax.set_ylabel("w / gmax")
ax.set_title(f"weight histogram over time ({title})", fontsize=9)
written.append(plot.save_figure(fig, out / "song_abbott_evolution.png"))

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(np.arange(r["weights"].size), r["weights"], ".", ms=2)
ax.set_xlabel("input index")
ax.set_ylabel("w / gmax")
ax.set_title(f"final weights ({title})", fontsize=9)
written.append(plot.save_figure(fig, out / "song_abbott_weights.png"))
print("wrote " + ", ".join(str(p) for p in written))
