"""Supervised symmetric-STDP classifier (Hao et al. 2020) on the digits or MNIST 10k.

Trains P->E and E->C with symmetric STDP, synaptic scaling and a 200 Hz teacher on the
label's class neuron, then tests with the class neuron of most spikes. Writes the checkpoint,
results (HDF5), receptive fields, weight histograms over time and a raster to ``--out``.

    .venv/bin/python examples/sym_stdp.py                                  # digits, ~1-2 min
    .venv/bin/python examples/sym_stdp.py --dataset mnist --data-dir ../shared/data/mnist \
        --neurons 400 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rules.sym_stdp import train_sym_stdp

# MNIST files: --data-dir, else $SYNAPTICA_DATA (the loader reads it), else ../shared/data/mnist
# beside the repository root.
MNIST_DIR = None if os.environ.get("SYNAPTICA_DATA") else str(
    Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=("digits", "mnist"))
    parser.add_argument("--data-dir", default=MNIST_DIR, help="directory of the MNIST idx files")
    parser.add_argument("--neurons", type=int, default=None, help="hidden neurons N_E")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=None, help="use the first N training samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out/sym_stdp")
    args = parser.parse_args()
    extra = {} if args.train_limit is None else {"train_limit": args.train_limit}
    result = train_sym_stdp(args.dataset, args.data_dir, args.neurons, args.epochs, args.seed,
                            progress=True, out_dir=args.out, **extra)
    result.pop("config")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
