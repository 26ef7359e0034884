"""``synaptica demo``: the demo network, then the learning-rules comparison on the digits."""

from __future__ import annotations

import argparse

from snn.cli.common import (
    check_out_dir,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
    print_rules_table,
    print_table,
)


def cmd_demo(a: argparse.Namespace) -> int:
    from snn.demo import run_demo

    check_out_dir(a.out)
    summary = run_demo(a.out, neurons=a.neurons, duration=a.duration, seed=a.seed,
                       progress=not (a.json or a.no_progress), rules=not a.no_rules)
    if a.json:
        print_json(summary)
        return 0
    rules = summary.pop("rules", None)
    print("Synaptica demo: a balanced E/I network of LIF neurons (CUBA)")
    print_table(list(summary.items()))
    print(f"Open {summary['raster_png']} to see the raster plot.")
    if rules is not None:
        print(f"\nLearning rules on the 8x8 digits, {rules['arch']}, T={rules['steps']}, "
              f"{rules['epochs']} epochs")
        print_rules_table(rules)
        print(f"Open {rules['files']['png']} to see accuracy vs time and memory vs T.")
    return 0


def add_parser(subparsers) -> None:
    """Add the ``demo`` command."""
    demo = subparsers.add_parser("demo", help="run the demo network and the rules comparison",
                          description="Run a 4000-neuron balanced E/I network for 1 s and write a "
                                      "raster plot and the recordings; then train a small network "
                                      "on the shipped digits with each learning rule and BPTT and "
                                      "write the comparison table and chart.")
    demo.add_argument("--out", default="out", help="output directory (default: out)")
    demo.add_argument("--neurons", type=positive_int, default=4000)
    demo.add_argument("--duration", type=positive_float, default=1.0, help="seconds")
    demo.add_argument("--seed", type=non_negative_int, default=1)
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.add_argument("--no-rules", action="store_true",
                      help="leave out the learning-rules comparison on the digits")
    demo.set_defaults(func=cmd_demo)
