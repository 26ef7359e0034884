"""The reference workload (STDP + homeostasis spatial-pattern detector, Davies et al. 2024;
:mod:`rules.pattern`) trained and tested on the emulated SpiNNaker cores, beside the float run.

The detector's own code runs unchanged; its ``Network.build`` calls are sent to
``backend="spinnaker"`` (on-chip pair STDP, :mod:`hardware.spinnaker.stdp`, and integer
synaptic scaling, :mod:`hardware.spinnaker.homeostasis`, at dt 1 ms). Reported: one trained
pattern (accuracy, detection and false-positive rates) and accuracy against Hamming
distance for two trained patterns, for numba (float) and the emulator, same seeds; the
emulator three times: with sPyNNaker's ring-buffer rule (32 plastic inputs at STDP's w_max
plus the teacher: r = 8, a weight step of 1.6e-4 V, 4 % of an initial weight), with the bound
set just above the teacher's weight (r = 4, 16x finer), and with the rule's shift but the
trained weights read back as sPyNNaker 7.4.1 leaves them (:func:`without_flush`: the STDP
updates still deferred at the end are not applied; the detector itself flushes them one tick
before the end of training, ``SpiNNakerSimulation.flush_plasticity``).

Run: ``python benchmarks/spinnaker_pattern.py [--inputs 32] [--trials 2] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager

import numpy as np

import snn
from rules.pattern import PatternConfig, PatternDetector, make_patterns, overlap_sweep


@contextmanager
def on_backend(name: str, **options):
    """Send every ``Network.build`` inside the block to backend ``name`` (with ``options``)."""
    original = snn.Network.build

    def build(self, dt=snn.network.DEFAULT_DT, backend="numba", seed=None, batch=None, **kw):
        return original(self, dt=dt, backend=name, seed=seed, batch=batch, **{**options, **kw})

    snn.Network.build = build
    try:
        yield
    finally:
        snn.Network.build = original


@contextmanager
def without_flush():
    """Read the trained weights back as sPyNNaker 7.4.1 leaves them: the deferred STDP updates
    pending since each input's last spike stay unapplied (``flush_plasticity`` hidden, so
    :func:`rules.stdp.pattern._train` reads the rows as they are)."""
    from hardware.spinnaker.backend import SpiNNakerSimulation

    original = SpiNNakerSimulation.flush_plasticity
    SpiNNakerSimulation.flush_plasticity = None
    try:
        yield
    finally:
        SpiNNakerSimulation.flush_plasticity = original


def workload(n_inputs: int, trials: int, distances, seed: int, presentations: int) -> dict:
    config = PatternConfig(presentations=presentations)
    size = n_inputs // 2
    rng = np.random.default_rng(np.random.SeedSequence([seed, 6]))
    single = make_patterns(n_inputs, size, 1, None, rng)
    t0 = time.perf_counter()
    model = PatternDetector(n_inputs, 1, config, size, seed=seed)
    model.fit(single)
    one = model.evaluate(single)
    rows = overlap_sweep(n_inputs, size, 2, distances, config, trials, seed)
    return {"one_pattern": one, "two_patterns": rows, "wall_s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=32)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--distances", type=int, nargs="+", default=[2, 4, 8, 16])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--presentations", type=int, default=PatternConfig.presentations,
                    help="training presentations of each pattern (default the detector's 10)")
    ap.add_argument("--bound", type=float, default=0.3,
                    help="max_expected_summed_weight (V) of the second emulator run; default "
                         "0.3, just above the teacher's weight (the largest single input)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    out = {"numba": workload(a.inputs, a.trials, a.distances, a.seed, a.presentations)}
    with on_backend("spinnaker", machine="spinn3"):
        out["spinnaker"] = workload(a.inputs, a.trials, a.distances, a.seed, a.presentations)
    with on_backend("spinnaker", machine="spinn3", max_expected_summed_weight=a.bound):
        out["spinnaker_bound"] = workload(a.inputs, a.trials, a.distances, a.seed, a.presentations)
    with on_backend("spinnaker", machine="spinn3"), without_flush():
        out["spinnaker_deferred"] = workload(a.inputs, a.trials, a.distances, a.seed,
                                             a.presentations)
    for name, r in out.items():
        one = r["one_pattern"]
        sweep = ", ".join(f"h={row['hamming']}: {row['accuracy']:.2f}" for row in r["two_patterns"])
        print(f"{name}: one pattern accuracy {one['accuracy']:.3f} (detection "
              f"{one['detection_rate']:.2f}, false positives {one['false_positive_rate']:.2f}); "
              f"two patterns {sweep} ({r['wall_s']:.1f} s)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
