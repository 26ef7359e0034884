"""``synaptica train``: train a network on a data set with a registered rule or an STDP learner."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from snn.cli.common import (
    key_value,
    layer_sizes,
    load_split,
    positive_float,
    positive_int,
    print_json,
    write_json,
)


def _train_rule(a: argparse.Namespace) -> dict:
    """Train a rule of the registry: ``rules.get(a.rule).build(...)``, then ``fit``; writes the
    checkpoint (``save``) and returns the report."""
    import inspect
    import time
    from pathlib import Path

    import rules

    cls = rules.get(a.rule)
    train, test = load_split(a.dataset, a.data_dir, a.seed)
    sizes = layer_sizes(a.arch, a.dataset, train)
    options = dict(a.option)
    options["batch_size"] = a.batch
    for key in ("lr", "neuron", "readout", "beta"):
        if getattr(a, key) is not None:
            options[key] = getattr(a, key)
    try:
        rule = cls.build(sizes, steps=a.steps, encoder=a.encoder, seed=a.seed, device=a.device, **options)
    except TypeError as err:
        raise ValueError(f"rule {a.rule!r} does not take one of the options {sorted(options)}: {err}; "
                         "--neuron, --readout and --beta are bptt's, --option KEY=VALUE sets any "
                         "field of the rule's config") from err
    out = Path(a.out)
    checkpoint = out / f"{a.rule}_{a.dataset}.h5"
    resumable = {"checkpoint", "resume"} <= set(inspect.signature(rule.fit).parameters)
    if a.resume and not resumable:
        raise ValueError(f"--resume needs a rule whose fit() takes checkpoint= and resume= (bptt's "
                         f"does); {a.rule}'s does not")
    extra = {"checkpoint": checkpoint, "resume": a.resume} if resumable else {}
    t0 = time.perf_counter()
    history = rule.fit(train, test, epochs=a.epochs, progress=not a.json, **extra)
    wall = time.perf_counter() - t0
    if not resumable:
        rule.save(checkpoint)
    report = {
        "rule": a.rule, "dataset": a.dataset, "arch": "-".join(map(str, sizes)), "steps": a.steps,
        "encoder": a.encoder, "options": options, "epochs": len(history),
        "test_accuracy": history[-1].test_accuracy, "train_accuracy": history[-1].train_accuracy,
        "wall_s": wall, "wall_s_per_epoch": float(np.mean([h.wall_s for h in history])),
        "n_train": len(train), "n_test": len(test), "seed": a.seed,
        "history": [h.__dict__ for h in history], "checkpoint": str(checkpoint),
    }
    if a.rule == "bptt":
        report.update(neuron=options.get("neuron", "lif"), readout=options.get("readout", "li"))
    return report


# Learners that are not rules of the registry: name -> function(args) -> report. A report has at
# least ``epochs``, ``test_accuracy``, ``wall_s``, ``checkpoint`` and ``history`` (a list of
# dicts with ``epoch``, ``train_accuracy``, ``test_accuracy``, ``wall_s``); ``cmd_train`` writes
# the results file and the learning curve and prints it. Every other name goes to _train_rule.
_TRAINERS: dict[str, Callable[[argparse.Namespace], dict]] = {}


def _learner(module: str, function: str) -> Callable[[argparse.Namespace], dict]:
    """A ``_TRAINERS`` entry for an STDP learner's ``train_*(dataset, data_dir, neurons,
    epochs, seed, progress, out_dir, **options)``."""

    def train(a: argparse.Namespace) -> dict:
        import importlib
        from pathlib import Path

        Path(a.out).mkdir(parents=True, exist_ok=True)
        fn = getattr(importlib.import_module(module), function)
        report = fn(a.dataset, a.data_dir, a.neurons, a.epochs, a.seed, progress=not a.json,
                    out_dir=a.out, **dict(a.option))
        report.setdefault("epochs", a.epochs)
        report.setdefault("history", [{"epoch": a.epochs, "train_accuracy": None,
                                       "test_accuracy": report["test_accuracy"],
                                       "wall_s": report["wall_s"]}])
        return report

    return train


_TRAINERS.update({
    "diehl-cook": _learner("rules.stdp.diehl_cook", "train_diehl_cook"),
    "sym-stdp": _learner("rules.stdp.sym_stdp", "train_sym_stdp"),
    "pattern": _learner("rules.stdp.pattern", "train_pattern"),
})


def _trainable() -> list[str]:
    import rules

    return sorted(set(rules.available()) | set(_TRAINERS))


def _rule_name(text: str) -> str:
    if text not in _trainable():
        raise argparse.ArgumentTypeError(f"{text!r} is not a known rule; available: "
                                         f"{', '.join(_trainable())}")
    return text


def cmd_train(a: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    torch.manual_seed(a.seed)
    if a.epochs is None:
        a.epochs = 1 if a.rule in _TRAINERS else 15
    report = _TRAINERS.get(a.rule, _train_rule)(a)
    out = Path(a.out)
    png = _learning_curve(report["history"], out / f"{a.rule}_{a.dataset}_curve.png",
                          f"{a.rule} on {a.dataset}")
    report["learning_curve_png"] = str(png)
    results = out / f"{a.rule}_{a.dataset}_results.json"
    report["results_json"] = str(results)
    write_json(results, report)
    if a.json:
        print_json(report)
        return 0
    sizes = (f" ({report['n_train']} train / {report['n_test']} test), {report['arch']}, "
             f"T={report['steps']}") if "arch" in report else ""
    print(f"{a.rule} on {a.dataset}{sizes}")
    for h in report["history"]:
        test = "" if h.get("test_accuracy") is None else f"test {h['test_accuracy']:.3f}  "
        loss = f"loss {h['train_loss']:.4f}  " if h.get("train_loss") is not None else ""
        train = f"train {h['train_accuracy']:.3f}  " if h.get("train_accuracy") is not None else ""
        print(f"  epoch {h['epoch']:>3}: {loss}{train}{test}({h['wall_s']:.1f} s)")
    print(f"  checkpoint {report['checkpoint']}\n  results {results}\n  learning curve {png}")
    return 0


def _learning_curve(history: list[dict], path, title: str):
    from snn import plot

    plt = plot.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    if all(h.get("train_accuracy") is not None for h in history):
        ax.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train")
    if all(h.get("test_accuracy") is not None for h in history):
        ax.plot(epochs, [h["test_accuracy"] for h in history], "s-", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    return plot.save_figure(fig, path)


def add_parser(subparsers) -> None:
    """Add the ``train`` command."""
    train = subparsers.add_parser(
        "train", help="train a network on a data set with a learning rule",
        description="Train a fully connected spiking network with any registered rule. Data: digits "
                    "(shipped, 8x8) or an MNIST-format set from --data-dir / $SYNAPTICA_DATA (its 10k "
                    "test file: first 8,000 images train, last 2,000 test). Writes a checkpoint "
                    "(HDF5), a results file (JSON) and a learning-curve PNG to --out.")
    train.add_argument("rule", type=_rule_name, help="learning rule, e.g. bptt, tess, ff, ccl, softhebb")
    train.add_argument("--dataset", choices=["digits", "mnist", "fashion", "kmnist"], default="digits")
    train.add_argument("--data-dir", help="directory holding the MNIST-format files")
    train.add_argument("--arch", help="layer sizes, e.g. 784-500-10 (default by data set)")
    train.add_argument("--neurons", type=positive_int, default=None,
                       help="STDP learners: excitatory/hidden neurons (diehl-cook, sym-stdp) or "
                            "inputs (pattern); default by learner")
    train.add_argument("--neuron", default=None,
                       choices=["lif", "adaptive", "meta", "ultralif", "ultradlif"],
                       help="bptt: hidden neuron model (default lif)")
    train.add_argument("--readout", choices=["li", "lif"], default=None,
                       help="bptt: li, leaky-integrator read-out (max membrane; default); lif: spike counts")
    train.add_argument("--beta", type=float, default=None, help="bptt: membrane decay per step (default 0.9)")
    train.add_argument("--steps", type=positive_int, default=25, help="time steps T")
    train.add_argument("--encoder", choices=["rate", "latency", "direct"], default="rate")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="passes over the training set (default 15; 1 for the STDP learners)")
    train.add_argument("--batch", type=positive_int, default=64)
    train.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: the rule's)")
    train.add_argument("--option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="any field of the rule's config, e.g. --option hebbian_epochs=3 (softhebb) "
                            "or --option synapses=conductance (sym-stdp); repeatable")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="cpu", help="cpu or cuda")
    train.add_argument("--out", default="out", help="output directory (default: out)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint in --out (rules whose fit can resume: bptt)")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(func=cmd_train)
