"""UltraLIF / UltraDLIF against surrogate-gradient LIF, PLIF and the DSpike surrogate at the
UltraLIF paper's MNIST setup (Minoza 2026; brief ``shared/papers/ultralif.md``): 784-64-10,
T = 1, Bernoulli rate input with p = 0.5 x (``gain=0.5``), Adam lr 1e-3, batch 128, learnable
eps clamped to [0.1, 20], read-out = the LI layer's membrane averaged over T (a linear layer at
T = 1). MNIST 10k: first 8000 of the test file train, last 2000 test. Also the eps -> 0 export
gap of the Ultra neurons: the same trained weights evaluated with the hard spike
``s = H(V - theta)``.

    python benchmarks/ultralif_paper_setup.py --epochs 100 --seeds 0 1 2

Rows: LIF (``LIF.from_beta(0.9)``, reset by subtraction) with the fast-sigmoid (slope 25),
arctan (slope 2) or DSpike (Li et al. 2021, temperature b = 4, window |v - theta| <= 1/2)
surrogate; PLIF (Fang et al. 2021: 1/tau = sigmoid(w) learned per layer from tau = 2, input
decayed, hard reset, arctan surrogate); the smooth DSpike neuron of the paper's own baselines
(``dspike-smooth``, :class:`snn.models.DSpikeLIF`); UltraLIF (tau = 0.9) and UltraDLIF, eps
learned from 1.

Paper (100 epochs, full MNIST, 60k train): UltraDLIF 95.67%, best baseline DSpike+ 95.58%.
Its DSpike / DSpike+ baselines (official code, ``baselines`` module) are not surrogate
gradients: their forward spike is the smooth DSpike function itself (real-valued, learned
temperature, DSpike+ also a learned tau; the two are the same network at T = 1). The
``lif-dspike`` row is the surrogate form (Heaviside forward), ``dspike-smooth`` the paper's.

Measured (``--epochs 100 --seeds 0 1 2``, the paper's budget; 2-core host shared with 7 other
jobs, 35-260 s a run), final-epoch test accuracy, mean +- sd over the seeds:

=================  ============  =================
row                accuracy (%)  hard spike (%)
=================  ============  =================
LIF fast sigmoid   91.33 +- 0.91
LIF arctan         92.07 +- 0.31
LIF DSpike         90.57 +- 0.35
PLIF               92.08 +- 0.15
DSpike, smooth     93.47 +- 0.36
UltraLIF           92.92 +- 0.26  92.02 +- 0.33
UltraDLIF          93.30 +- 0.07  92.15 +- 0.23
=================  ============  =================

UltraDLIF and UltraLIF are above every binary-spike baseline (surrogate LIF, PLIF) by
0.8-1.2 points; against the paper's own best baseline, the smooth DSpike neuron, UltraDLIF
ties (93.30 +- 0.07 against 93.47 +- 0.36; the paper: 95.67 against 95.58). So at T = 1 the
Ultra neurons' advantage is that of a real-valued spike, which DSpike's smooth form shares.
Absolute figures are 2-3 points below the paper's because 8000 training images stand in for
60,000. Export to hard spikes costs 0.9 (UltraLIF) to 1.15 (UltraDLIF) points: the hard-spike
network is still at the level of the best surrogate LIF. (The smooth DSpike row was run
separately, ``--models dspike-smooth``, same settings.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from rules.bptt import BPTT, BPTTConfig, mlp
from snn.datasets import load_mnist
from snn.surrogate import surrogate

MODELS = {"lif-fast_sigmoid": ("lif", "fast_sigmoid"), "lif-arctan": ("lif", "arctan"),
          "lif-dspike": ("lif", "dspike"), "plif": ("plif", "arctan"), "dspike-smooth": ("dspike", None),
          "ultralif": ("ultralif", None), "ultradlif": ("ultradlif", None)}


def build(neuron: str, surr: str | None, sizes: list[int]):
    """``sizes[0]``-``sizes[1]``-``sizes[2]`` with an LI read-out; ``plif`` is Fang et al.'s
    PLIF (tau = 2 at the start, learned per layer, input decayed, hard reset to 0) with the
    arctan surrogate they used; ``dspike`` the smooth DSpike neuron of the UltraLIF paper's
    baselines (:class:`snn.models.DSpikeLIF`: learned temperature from b = 4, threshold 0.5;
    at T = 1 its DSpike+ form, with a learned tau, is the same network)."""
    if neuron not in ("plif", "dspike"):
        return mlp(sizes, neuron=neuron, readout="li", surrogate=None if surr is None else surrogate(surr))
    from snn.layers import Linear, Sequential
    from snn.models import LI, PLIF, DSpikeLIF

    n_in, hidden, n_out = sizes
    hidden_layer = (Linear(n_in, hidden, PLIF(), surrogate=surrogate(surr)) if neuron == "plif"
                    else Linear(n_in, hidden, DSpikeLIF()))
    return Sequential(hidden_layer, Linear(hidden, n_out, LI.from_beta(0.9)))


def hard_spike_accuracy(rule: BPTT, test) -> float:
    """Accuracy with the Ultra neurons' spike replaced by its eps -> 0 limit ``H(V - theta)``."""
    from snn.training import ultra

    soft = ultra._TrainingUltra._fire

    def hard(V, consts, eps):
        s = (V > consts["theta"]).to(V.dtype)
        return s, {"u": V * (1.0 - s), "v": V}

    ultra._TrainingUltra._fire = staticmethod(hard)
    try:
        return rule.evaluate(test)
    finally:
        ultra._TrainingUltra._fire = staticmethod(soft)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    p.add_argument("--data-dir", default=str(default_data))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--out", default="out/ultralif")
    args = p.parse_args()
    torch.set_num_threads(1)
    ds = load_mnist(directory=args.data_dir, split="test")
    train, test = ds[:8000], ds[8000:]
    rows: dict[str, dict[str, list[float]]] = {}
    for name in args.models:
        neuron, surr = MODELS[name]
        for seed in args.seeds:
            torch.manual_seed(seed)
            net = build(neuron, surr, [784, args.hidden, 10])
            rule = BPTT(net, BPTTConfig(steps=1, encoder="rate", gain=0.5, lr=1e-3, batch_size=128, seed=seed,
                                        decoder="mean_membrane"))
            t0 = time.perf_counter()
            hist = rule.fit(train, test, epochs=args.epochs)
            row = rows.setdefault(name, {})
            row.setdefault("acc", []).append(hist[-1].test_accuracy)
            row.setdefault("wall_s", []).append(time.perf_counter() - t0)
            if neuron.startswith("ultra"):
                row.setdefault("hard_spike_acc", []).append(hard_spike_accuracy(rule, test))
            print(name, seed, {k: round(v[-1], 4) for k, v in row.items()}, flush=True)
    print(f"\nMNIST 10k (8000/2000), 784-{args.hidden}-10, T=1, p=0.5x, Adam 1e-3, batch 128, "
          f"{args.epochs} epochs, seeds {args.seeds}")
    summary = {}
    for name, row in rows.items():
        summary[name] = {k: (float(np.mean(v)), float(np.std(v))) for k, v in row.items()}
        print(f"  {name:18s} " + "  ".join(f"{k} {m:.4f}+-{s:.4f}" for k, (m, s) in summary[name].items()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ultralif_paper_setup.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"args": vars(args), "rows": summary}, indent=1))
    tmp.replace(path)


if __name__ == "__main__":
    main()
