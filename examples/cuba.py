"""The CUBA network (Vogels & Abbott 2005, as in Brian2's examples), written out in full.

Run: python examples/cuba.py [--neurons N] [--duration S] [--out DIR]
Prints rate, CV of ISIs and timing; writes cuba_raster.png to --out (default out).
"""

import argparse
from pathlib import Path

import snn
from snn import plot

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--neurons", type=int, default=4000)
ap.add_argument("--duration", type=float, default=1.0, help="seconds")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--out", default="out", help="folder for the PNG (default out)")
args = ap.parse_args()

ms, mV = 1e-3, 1e-3
n_exc = int(0.8 * args.neurons)
net = snn.Network()
neurons = net.population(
    args.neurons,
    snn.LIF(tau_m=20 * ms, v_rest=-49 * mV, v_thresh=-50 * mV, v_reset=-60 * mV,
            tau_ref=5 * ms, tau_syn_exc=5 * ms, tau_syn_inh=10 * ms),
    name="P",
    init={"v": snn.Uniform(-60 * mV, -50 * mV)},
)
p = 80 / args.neurons  # 80 synapses per neuron, as p = 0.02 at 4000 neurons
net.connect(neurons[:n_exc], neurons, snn.FixedProbability(p), weight=1.62 * mV, synapse="exc")
net.connect(neurons[n_exc:], neurons, snn.FixedProbability(p), weight=-9 * mV, synapse="inh")
net.spike_monitor(neurons, name="spikes")

sim = net.build(dt=0.1 * ms, backend="numba", seed=args.seed)
result = sim.run(args.duration, progress=True)
spikes = result["spikes"]
print(f"{spikes.count} spikes, {spikes.rate(args.duration):.2f} Hz, CV(ISI) {spikes.cv_isi():.3f}")
print(f"simulation {result.timing['wall_s']:.3f} s, build {sim.build_s:.2f} s")

fig, ax = plot.pyplot().subplots(figsize=(8, 4))
plot.raster(ax, spikes, max_neurons=500)
print(f"wrote {plot.save_figure(fig, Path(args.out) / 'cuba_raster.png')}")
