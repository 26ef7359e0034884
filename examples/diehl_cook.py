"""Diehl & Cook (2015): unsupervised STDP digit recognition on the engine.

Trains the network (conductance-based LIF neurons with an adaptive threshold, Diehl & Cook's
STDP on the input weights, lateral inhibition, weight normalisation before every image),
names each excitatory neuron by its responses to the training images, tests it, and writes a
checkpoint, a results file and plots (receptive fields, weight histograms, thresholds,
raster) to ``--out``.

    python examples/diehl_cook.py                        # digits, 100 neurons (~1 min)
    python examples/diehl_cook.py --dataset mnist --data-dir /path/to/mnist
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rules.diehl_cook import train_diehl_cook

# MNIST files: --data-dir, else $SYNAPTICA_DATA (the loader reads it), else ../shared/data/mnist
# beside the repository root.
MNIST_DIR = None if os.environ.get("SYNAPTICA_DATA") else str(
    Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "mnist"), default="digits")
    parser.add_argument("--data-dir", default=MNIST_DIR, help="directory of the MNIST idx files")
    parser.add_argument("--neurons", type=int, default=100, help="excitatory neurons")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training set")
    parser.add_argument("--train-samples", type=int, default=None, help="use the first N images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out", help="output directory (default out)")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args()
    summary = train_diehl_cook(args.dataset, data_dir=args.data_dir, neurons=args.neurons,
                               epochs=args.epochs, seed=args.seed, progress=args.progress,
                               out_dir=args.out, train_samples=args.train_samples)
    summary.pop("config")
    print(json.dumps(summary, indent=2))
    print(f"test accuracy {summary['test_accuracy']:.1%} in {summary['wall_s']:.0f} s; "
          f"files in {args.out}/")


if __name__ == "__main__":
    main()
