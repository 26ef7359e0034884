"""Does the cost per neuron stay flat as CUBA grows? Interleaved runs in one process.

Builds CUBA at each size (80 synapses per neuron throughout), then simulates each size in
turn, several rounds, keeping the fastest time per size so that noise from other work on the
machine affects every size alike. Prints seconds per neuron per simulated second and the
ratio of each size to the smallest.

Run: python examples/cuba_scaling.py [--sizes 4000 64000] [--rounds 4] [--json]
"""

import argparse
import json

from snn.bench.cuba import DT, cuba_network

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 64000])
ap.add_argument("--rounds", type=int, default=4)
ap.add_argument("--duration", type=float, default=1.0, help="seconds per timed run")
ap.add_argument("--json", action="store_true")
args = ap.parse_args()

sims = {n: cuba_network(n, record=False).build(dt=DT, seed=1) for n in args.sizes}
best = {n: float("inf") for n in args.sizes}
for _ in range(args.rounds):
    for n, sim in sims.items():
        best[n] = min(best[n], sim.run(args.duration).timing["wall_s"])
per_neuron = {n: best[n] / (n * args.duration) for n in args.sizes}
base = per_neuron[args.sizes[0]]
report = {str(n): {"wall_s": best[n], "wall_s_per_neuron_second": per_neuron[n],
                   "ratio_to_smallest": per_neuron[n] / base} for n in args.sizes}
if args.json:
    print(json.dumps(report))
else:
    for n, row in report.items():
        print(f"{n:>8} neurons: {row['wall_s']:.4f} s, {row['wall_s_per_neuron_second']:.3e} s per "
              f"neuron-second, {row['ratio_to_smallest']:.2f}x the smallest")
