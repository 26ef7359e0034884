"""Song, Miller & Abbott (2000) with on-chip STDP on the emulated SpiNNaker target, beside the
numba float engine (same network, same seeds; :func:`snn.bench.stdp.run_song_abbott`, the
current-based "example" membrane, dt 0.1 ms).

The emulator runs sPyNNaker's deferred pair rule with 16-bit weights. Two settings of the
ring-buffer bound:

* ``default``: sPyNNaker's rule (constant delays: 1000 inputs x w_max coinciding, so r = 6 and
  a weight has 2**-9 nA resolution: w_max is ~31 steps and one pairing's change, 1 % of
  w_max, is a third of a step, truncated away);
* ``bound``: ``max_expected_summed_weight = 10 w_max`` (ten coincident inputs at the bound, a
  Poisson tail of 1e-5 at 1.5 input spikes per tick), r = 0: what a user sets on a board.

Output: final fractions of weights below 0.1 and above 0.9 of ``gmax``, output rate, wall
time. Run: ``python benchmarks/spinnaker_song_abbott.py [--duration 100] [--seeds 1 2]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import json

from snn.bench.stdp import GMAX, run_song_abbott, weight_scale

KEYS = ("frac_low", "frac_high", "w_mean", "rate_hz", "wall_s", "build_s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=100.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    w_max = GMAX * weight_scale("example")
    runs = []
    for seed in a.seeds:
        row = {"seed": seed}
        num = run_song_abbott(a.duration, seed, "example", backend="numba")
        row["numba"] = {k: num[k] for k in KEYS}
        for label, opts in (("spinnaker_bound", {"max_expected_summed_weight": 10 * w_max}),
                            ("spinnaker_default", {})):
            emu = run_song_abbott(a.duration, seed, "example", backend="spinnaker",
                                  machine="spinn3", **opts)
            row[label] = {k: emu[k] for k in KEYS}
            row[label]["d_frac_low_points"] = 100 * (emu["frac_low"] - num["frac_low"])
            row[label]["d_frac_high_points"] = 100 * (emu["frac_high"] - num["frac_high"])
        runs.append(row)
        print(f"seed {seed}, {a.duration:g} s: numba low {num['frac_low']:.3f} high "
              f"{num['frac_high']:.3f} rate {num['rate_hz']:.1f} Hz ({num['wall_s']:.1f} s)")
        for label in ("spinnaker_bound", "spinnaker_default"):
            e = row[label]
            print(f"  {label}: low {e['frac_low']:.3f} ({e['d_frac_low_points']:+.1f} points) "
                  f"high {e['frac_high']:.3f} ({e['d_frac_high_points']:+.1f} points) rate "
                  f"{e['rate_hz']:.1f} Hz ({e['wall_s']:.1f} s)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"duration_s": a.duration, "runs": runs}, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
