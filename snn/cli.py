"""The ``synaptica`` command line.

Exit codes: 0 success, 1 a run failed (the message says why), 2 bad command-line usage.
Every command that reports figures takes ``--json`` and then prints exactly one JSON object
on standard output.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable

import numpy as np


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _peers(vs: list[str]) -> list[str]:
    """``--vs a --vs b,c`` as ["a", "b", "c"]."""
    return [p for item in vs for p in item.split(",") if p]


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, indent=None, default=float))


def _print_table(rows: list[tuple[str, object]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"  {key:<{width}}  {value}")


def cmd_demo(a: argparse.Namespace) -> int:
    from snn.demo import run_demo

    summary = run_demo(a.out, neurons=a.neurons, duration=a.duration, seed=a.seed,
                       progress=not (a.json or a.no_progress), rules=not a.no_rules)
    if a.json:
        _print_json(summary)
        return 0
    rules = summary.pop("rules", None)
    print("Synaptica demo: a balanced E/I network of LIF neurons (CUBA)")
    _print_table(list(summary.items()))
    print(f"Open {summary['raster_png']} to see the raster plot.")
    if rules is not None:
        print(f"\nLearning rules on the 8x8 digits, {rules['arch']}, T={rules['steps']}, "
              f"{rules['epochs']} epochs")
        print_rules_table(rules)
        print(f"Open {rules['files']['png']} to see accuracy vs time and memory vs T.")
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    import platform
    from importlib import metadata

    import numba
    import numpy

    from snn import __version__
    from snn.backends import available_backends
    from snn.backends.numba import cache_dir

    info = {
        "synaptica": __version__, "python": platform.python_version(),
        "platform": platform.platform(), "numpy": numpy.__version__,
        "numba": numba.__version__, "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "backends": available_backends(), "kernel_cache": str(cache_dir()),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = bool(torch.cuda.is_available())
        info["cuda_devices"] = [torch.cuda.get_device_name(i)
                                for i in range(torch.cuda.device_count())]
    except ImportError:
        info["torch"], info["cuda"], info["cuda_devices"] = None, False, []
    for key, dist in (("h5py", "h5py"), ("brian2", "brian2"), ("nest", "nest-simulator")):
        try:
            info[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[key] = None
    if a.json:
        _print_json(info)
    else:
        _print_table([(k, ", ".join(v) if isinstance(v, list) else v) for k, v in info.items()])
    return 0


def cmd_bench_cuba(a: argparse.Namespace) -> int:
    from snn.bench.cuba import PEERS, run_cuba, run_peer_cuba

    peers = _peers(a.vs)
    for peer in peers:
        if peer not in PEERS:
            raise ValueError(f"--vs {peer!r} is unknown; choose from {', '.join(PEERS)}")
    if a.stdp:
        if peers:
            raise ValueError("--stdp compares our static and plastic runs; it takes no --vs")
        from snn.bench.cuba import stdp_throughput

        report = stdp_throughput(a.neurons, a.duration, max(a.repeat, 3), a.seed)
        if a.json:
            _print_json(report)
        else:
            print(f"CUBA, {a.neurons} neurons, {a.duration:g} s: static "
                  f"{report['static_events_per_s']:.3g} events/s, with STDP on every synapse "
                  f"{report['stdp_events_per_s']:.3g} events/s (ratio {report['ratio']:.2f})")
        return 0
    ours = run_cuba(a.neurons, a.duration, a.backend, a.seed, a.repeat)
    report = dict(ours)
    speedups = {}
    for peer in peers:
        theirs = run_peer_cuba(peer, a.neurons, a.duration, a.seed, a.repeat)
        report[peer] = theirs
        speedups[peer] = theirs["wall_s"] / ours["wall_s"]
        report[f"rate_ratio_{peer}"] = ours["rate_hz"] / theirs["rate_hz"]
    if speedups:
        report["speedup"] = speedups[peers[0]]
        report["speedups"] = speedups
    if a.plot:
        _bench_chart(report, peers, a.plot)
        report["plot"] = a.plot
    if a.json:
        _print_json(report)
        return 0
    print(f"CUBA, {a.neurons} neurons, {a.duration:g} s of biological time (dt 0.1 ms)")
    cols = ["wall_s", "build_s", "rate_hz", "cv_isi", "events_per_s"]
    print(f"  {'simulator':<26}" + "".join(f"{c:>14}" for c in cols))
    for row in [ours] + [report[p] for p in peers]:
        print(f"  {row['simulator']:<26}" + "".join(f"{row[c]:>14.4g}" for c in cols))
    print(f"  bytes per synapse: {ours['bytes_per_synapse']:.2f}")
    for peer, s in speedups.items():
        print(f"  speedup vs {peer}: {s:.2f}x")
    return 0


def cmd_bench_stdp(a: argparse.Namespace) -> int:
    from snn.bench.stdp import PEERS, bench_stdp

    peers = _peers(a.vs)
    for peer in peers:
        if peer not in PEERS:
            raise ValueError(f"--vs {peer!r} is unknown; choose from {', '.join(PEERS)}")
    report = bench_stdp(a.duration, seeds=tuple(a.seeds), vs=tuple(peers), membrane=a.membrane,
                        backend=a.backend, repeat=a.repeat)
    if a.json:
        _print_json(report)
        return 0
    print(f"Song, Miller & Abbott STDP: 1000 inputs at 15 Hz, {a.duration:g} s, {a.membrane} "
          f"membrane, means over seeds {','.join(map(str, a.seeds))}")
    cols = ["frac_low", "frac_high", "w_mean", "rate_hz", "wall_s", "build_s"]
    print(f"  {'simulator':<20}" + "".join(f"{c:>11}" for c in cols))
    for name, row in [(report["simulator"], report)] + [(p, report[p]) for p in dict.fromkeys(peers)]:
        print(f"  {name:<20}" + "".join(f"{row[c]:>11.4g}" for c in cols))
    for peer, s in report.get("speedups", {}).items():
        print(f"  speedup vs {peer}: {s:.2f}x")
    if "speedup_cpu" in report:
        print(f"  speedup vs brian2-cpp in CPU time (Brian2 times its loop with std::clock): "
              f"{report['speedup_cpu']:.2f}x")
    return 0


def _load_split(dataset: str, data_dir: str | None, seed: int):
    """Train/test split: digits stratified 80/20; MNIST-format sets use their 10k test file,
    the first 8,000 images for training and the last 2,000 for testing."""
    from snn import datasets

    if dataset == "digits":
        return datasets.load_digits().stratified_split(0.2, seed=seed)
    loader = {"mnist": datasets.load_mnist, "fashion": datasets.load_fashion_mnist,
              "kmnist": datasets.load_kmnist}[dataset]
    ds = loader(directory=data_dir, split="test")
    return ds[:8000], ds[8000:]


def _sizes(arch: str | None, dataset: str, train) -> list[int]:
    """Layer sizes from ``--arch`` (default 64-128-10 for digits, N-500-10 otherwise), checked
    against the images."""
    in_features = int(np.prod(train.image_shape))
    arch = arch or (f"{in_features}-128-10" if dataset == "digits" else f"{in_features}-500-10")
    try:
        sizes = [int(s) for s in arch.split("-")]
    except ValueError:
        raise ValueError(f"--arch must be layer sizes joined by '-', e.g. 784-500-10, got {arch!r}") from None
    if sizes[0] != in_features:
        raise ValueError(f"--arch starts with {sizes[0]} inputs but {dataset} images have {in_features}")
    return sizes


def _option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as JSON where it parses (numbers, true, lists), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must look like KEY=VALUE (e.g. lr=0.01), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _train_rule(a: argparse.Namespace) -> dict:
    """Train a rule of the registry: ``rules.get(a.rule).build(...)``, then ``fit``; writes the
    checkpoint (``save``) and returns the report."""
    import inspect
    import time
    from pathlib import Path

    import rules

    cls = rules.get(a.rule)
    train, test = _load_split(a.dataset, a.data_dir, a.seed)
    sizes = _sizes(a.arch, a.dataset, train)
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
    "diehl-cook": _learner("rules.diehl_cook", "train_diehl_cook"),
    "sym-stdp": _learner("rules.sym_stdp", "train_sym_stdp"),
    "pattern": _learner("rules.pattern", "train_pattern"),
})


def _trainable() -> list[str]:
    import rules

    return sorted(set(rules.available()) | set(_TRAINERS))


def _rule_name(text: str) -> str:
    if text not in _trainable():
        raise argparse.ArgumentTypeError(f"{text!r} is not a known rule; available: "
                                         f"{', '.join(_trainable())}")
    return text


def _rule_names(text: str) -> list[str]:
    import rules

    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in rules.available()]
    if unknown or not names:
        given = ", ".join(map(repr, unknown)) or "(none given)"
        raise argparse.ArgumentTypeError(f"unknown rule(s) {given}; available rules: "
                                         f"{', '.join(rules.available())}")
    return names


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be positive integers joined by commas, got {text!r}")
    return values


def _write_json(path, obj: dict):
    """Write ``obj`` as JSON to ``path`` atomically; returns the path."""
    import os
    from pathlib import Path

    from snn.h5io import temporary_sibling

    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        tmp.write_text(json.dumps(obj, indent=1, default=float) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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
    _write_json(results, report)
    if a.json:
        _print_json(report)
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


def cmd_bench_bptt(a: argparse.Namespace) -> int:
    import torch

    from rules.bench import bench_bptt

    if a.threads:
        torch.set_num_threads(a.threads)
    peers = _peers(a.vs)
    report = bench_bptt(arch=a.arch, steps=a.T, batch=a.batch, device=a.device, repeat=a.repeat,
                        vs=tuple(peers), seed=a.seed, chunk_steps=a.chunk or None)
    if a.json:
        _print_json(report)
        return 0
    print(f"BPTT training step, {a.arch}, T={a.T}, batch {a.batch}, {a.device}, "
          f"{report['threads']} threads (median of {a.repeat})")
    print(f"  {'':<12}{'time/step (s)':>16}{'saved for backward (MB)':>26}")
    rows = [("synaptica", report)] + [(p, report[p]) for p in peers]
    for name, row in rows:
        print(f"  {name:<12}{row['time_per_step_s']:>16.4f}{row['peak_memory_bytes'] / 1e6:>26.1f}")
    if peers:
        print(f"  ratios (ours / {peers[0]}): time {report['time_ratio']:.3f}, "
              f"memory {report['memory_ratio']:.3f}")
    return 0


def cmd_bench_rules(a: argparse.Namespace) -> int:
    import torch

    from rules.bench import RulesBenchConfig, bench_rules, write_rules_bench

    if a.threads:
        torch.set_num_threads(a.threads)

    train, test = _load_split(a.dataset, a.data_dir, a.seed)
    config = RulesBenchConfig(rules=tuple(a.rules), sizes=tuple(_sizes(a.arch, a.dataset, train)),
                              steps=a.T, epochs=a.epochs, batch=a.batch, seed=a.seed, device=a.device,
                              memory_steps=tuple(a.memory_T), snntorch=not a.no_snntorch,
                              skip_failures=a.skip_failures)
    report = bench_rules(train, test, config, dataset=a.dataset, progress=not (a.json or a.no_progress))
    report["files"] = write_rules_bench(report, a.out)
    if a.json:
        _print_json(report)
        return 0
    print(f"Rules on {a.dataset} ({report['n_train']} train / {report['n_test']} test), {report['arch']}, "
          f"T={a.T}, {a.epochs} epochs, batch {a.batch}, {a.device}")
    print_rules_table(report)
    print("  files: " + ", ".join(report["files"].values()))
    return 0


def print_rules_table(report: dict) -> None:
    """The rows of a rules benchmark as a text table, then what was skipped and why."""
    steps = report["memory_steps"]
    head = (f"  {'rule':<15}{'test acc':>9}{'s/epoch':>9}{'peak MB':>9}"
            + "".join(f"{f'MB T={t}':>11}" for t in steps) + f"{'syn ops/sample':>16}")
    print(head)
    for r in report["rows"]:
        print(f"  {r['rule']:<15}{r['test_accuracy']:>9.4f}{r['wall_s_per_epoch']:>9.3f}"
              f"{r['peak_memory_bytes'] / 1e6:>9.2f}"
              + "".join(f"{r['memory_by_T'][str(t)] / 1e6:>11.2f}" for t in steps)
              + f"{r['synaptic_ops_per_sample']:>16.4g}")
    for item in report["skipped"]:
        print(f"  skipped {item['rule']}: {item['reason']}")
    for note in report["notes"]:
        print(f"  note: {note}")


def _bench_chart(report: dict, peers: list[str], path: str) -> None:
    from snn import plot

    plt = plot.pyplot()
    rows = [report] + [report[p] for p in peers]
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(rows) + 1.5))
    ax.barh([r["simulator"] for r in rows], [r["wall_s"] for r in rows], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel("simulation wall time (s), lower is better")
    ax.set_title(f"CUBA {report['neurons']} neurons, {report['duration_s']:g} s")
    fig.tight_layout()
    plot.save_figure(fig, path)


def build_parser() -> argparse.ArgumentParser:
    from snn import __version__

    ap = argparse.ArgumentParser(
        prog="synaptica",
        description="Event-driven spiking-network simulator with pluggable learning rules.",
    )
    ap.add_argument("--version", action="version", version=f"synaptica {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the demo network and the rules comparison",
                          description="Run a 4000-neuron balanced E/I network for 1 s and write a "
                                      "raster plot and the recordings; then train a small network "
                                      "on the shipped digits with each learning rule and BPTT and "
                                      "write the comparison table and chart.")
    demo.add_argument("--out", default="out", help="output directory (default: out)")
    demo.add_argument("--neurons", type=_positive_int, default=4000)
    demo.add_argument("--duration", type=_positive_float, default=1.0, help="seconds")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.add_argument("--no-rules", action="store_true",
                      help="leave out the learning-rules comparison on the digits")
    demo.set_defaults(func=cmd_demo)

    info = sub.add_parser("info", help="versions, backends, threads, CUDA")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=cmd_info)

    train = sub.add_parser(
        "train", help="train a network on a data set with a learning rule",
        description="Train a fully connected spiking network with any registered rule. Data: digits "
                    "(shipped, 8x8) or an MNIST-format set from --data-dir / $SYNAPTICA_DATA (its 10k "
                    "test file: first 8,000 images train, last 2,000 test). Writes a checkpoint "
                    "(HDF5), a results file (JSON) and a learning-curve PNG to --out.")
    train.add_argument("rule", type=_rule_name, help="learning rule, e.g. bptt, tess, ff, ccl, softhebb")
    train.add_argument("--dataset", choices=["digits", "mnist", "fashion", "kmnist"], default="digits")
    train.add_argument("--data-dir", help="directory holding the MNIST-format files")
    train.add_argument("--arch", help="layer sizes, e.g. 784-500-10 (default by data set)")
    train.add_argument("--neurons", type=_positive_int, default=None,
                       help="STDP learners: excitatory/hidden neurons (diehl-cook, sym-stdp) or "
                            "inputs (pattern); default by learner")
    train.add_argument("--neuron", default=None,
                       choices=["lif", "adaptive", "meta", "ultralif", "ultradlif"],
                       help="bptt: hidden neuron model (default lif)")
    train.add_argument("--readout", choices=["li", "lif"], default=None,
                       help="bptt: li, leaky-integrator read-out (max membrane; default); lif: spike counts")
    train.add_argument("--beta", type=float, default=None, help="bptt: membrane decay per step (default 0.9)")
    train.add_argument("--steps", type=_positive_int, default=25, help="time steps T")
    train.add_argument("--encoder", choices=["rate", "latency", "direct"], default="rate")
    train.add_argument("--epochs", type=_positive_int, default=None,
                       help="passes over the training set (default 15; 1 for the STDP learners)")
    train.add_argument("--batch", type=_positive_int, default=64)
    train.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default: the rule's)")
    train.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                       help="any field of the rule's config, e.g. --option hebbian_epochs=3 (softhebb) "
                            "or --option synapses=conductance (sym-stdp); repeatable")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="cpu", help="cpu or cuda")
    train.add_argument("--out", default="out", help="output directory (default: out)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint in --out (rules whose fit can resume: bptt)")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(func=cmd_train)

    bench = sub.add_parser("bench", help="benchmarks against peer simulators and between rules")
    bsub = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    cuba = bsub.add_parser(
        "cuba", help="the CUBA network (Vogels & Abbott 2005, Brian2's example)",
        description="Run CUBA on our engine and, with --vs, on peers in the same invocation. "
                    "wall_s is simulation time only (build and compilation excluded) for "
                    "every simulator.")
    cuba.add_argument("--neurons", type=_positive_int, default=4000,
                      help="network size; 80 synapses per neuron are kept (default 4000)")
    cuba.add_argument("--duration", type=_positive_float, default=1.0, help="seconds (default 1)")
    cuba.add_argument("--backend", default="numba", help="our backend (default numba)")
    cuba.add_argument("--vs", action="append", default=[], metavar="PEER",
                      help="peer to run side by side: brian2 (Cython runtime), brian2-cpp "
                           "(cpp_standalone), brian2-numpy, nest; repeat or comma-separate")
    cuba.add_argument("--seed", type=int, default=1)
    cuba.add_argument("--repeat", type=_positive_int, default=1,
                      help="timed runs per simulator (ours and peers alike); wall_s is the "
                           "fastest, wall_s_runs lists all (default 1)")
    cuba.add_argument("--plot", metavar="PNG", help="write a bar chart of wall times")
    cuba.add_argument("--stdp", action="store_true",
                      help="additive pair STDP on every synapse: events/s against the static "
                           "network, back to back (at least 3 rounds)")
    cuba.add_argument("--json", action="store_true", help="print one JSON object")
    cuba.set_defaults(func=cmd_bench_cuba)

    stdp = bsub.add_parser(
        "stdp", help="Song, Miller & Abbott (2000): 1000 Poisson inputs, pair STDP (Brian2's example)",
        description="Run the STDP experiment on our engine and, with --vs, in Brian2 in the same "
                    "invocation; fractions of weights below 0.1 / above 0.9 gmax, averaged over "
                    "seeds. wall_s excludes build and compilation.")
    stdp.add_argument("--duration", type=_positive_float, default=100.0, help="seconds (default 100)")
    stdp.add_argument("--seeds", type=_int_list, default=[1], help="comma-separated seeds (default 1)")
    stdp.add_argument("--vs", action="append", default=[], metavar="PEER",
                      help="brian2-cpp (cpp_standalone), brian2 (Cython runtime), brian2-numpy; "
                           "repeat or comma-separate")
    stdp.add_argument("--membrane", choices=["conductance", "example"], default="conductance",
                      help="conductance: ge*(Ee - v) (default); example: Brian2's ge*(Ee - vr)")
    stdp.add_argument("--backend", default="numba", help="our backend (default numba)")
    stdp.add_argument("--repeat", type=_positive_int, default=1,
                      help="timed runs per seed and simulator; the fastest is kept (default 1)")
    stdp.add_argument("--json", action="store_true", help="print one JSON object")
    stdp.set_defaults(func=cmd_bench_stdp)

    bptt = bsub.add_parser(
        "bptt", help="one BPTT training step, ours against snnTorch on the same network",
        description="Same weights, same Bernoulli input (rate 0.2), cross-entropy on output "
                    "spike counts; times forward+backward of one mini-batch and counts the "
                    "bytes autograd saves for backward (saved_tensors_hooks, each storage once).")
    bptt.add_argument("--arch", default="784-500-10", help="layer sizes (default 784-500-10)")
    bptt.add_argument("--T", type=_positive_int, default=25, help="time steps (default 25)")
    bptt.add_argument("--batch", type=_positive_int, default=128)
    bptt.add_argument("--device", default="cpu", help="cpu or cuda")
    bptt.add_argument("--vs", action="append", default=[], metavar="PEER", help="snntorch")
    bptt.add_argument("--repeat", type=_positive_int, default=5, help="timed steps; median counts")
    bptt.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    bptt.add_argument("--chunk", type=int, default=25,
                      help="time steps per chunk in our layers (0: all at once; default 25)")
    bptt.add_argument("--seed", type=int, default=0)
    bptt.add_argument("--json", action="store_true", help="print one JSON object")
    bptt.set_defaults(func=cmd_bench_bptt)

    brules = bsub.add_parser(
        "rules", help="every learning rule and BPTT on the same network, data and budget",
        description="Train the same architecture with each rule, with our BPTT and with snnTorch's "
                    "BPTT (same encoded batches), for the same epochs. Reports test accuracy, wall "
                    "time per epoch, peak training memory (one step at --T and at each --memory-T) "
                    "and synaptic operations per sample; writes rules_bench.csv, .h5 and .png to --out.")
    brules.add_argument("--rules", type=_rule_names, default=["tess", "ff", "ccl", "softhebb", "bptt"],
                        help="comma-separated rule names (default tess,ff,ccl,softhebb,bptt; bptt is "
                             "always added)")
    brules.add_argument("--dataset", choices=["digits", "mnist", "fashion", "kmnist"], default="digits")
    brules.add_argument("--data-dir", help="directory holding the MNIST-format files")
    brules.add_argument("--arch", help="layer sizes (default 64-128-10 for digits, 784-500-10 otherwise)")
    brules.add_argument("--T", type=_positive_int, default=25, help="time steps (default 25)")
    brules.add_argument("--epochs", type=_positive_int, default=3, help="epochs for every rule (default 3)")
    brules.add_argument("--batch", type=_positive_int, default=64, help="mini-batch size (default 64)")
    brules.add_argument("--memory-T", type=_int_list, default=[10, 50, 200, 400], metavar="T1,T2,...",
                        help="time steps of the memory-growth measurement (default 10,50,200,400)")
    brules.add_argument("--seed", type=int, default=0)
    brules.add_argument("--device", default="cpu", help="cpu or cuda")
    brules.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    brules.add_argument("--no-snntorch", action="store_true", help="leave out snnTorch's BPTT")
    brules.add_argument("--skip-failures", action="store_true",
                        help="report a rule that fails as skipped instead of stopping (exit 1)")
    brules.add_argument("--out", default="out", help="output directory (default: out)")
    brules.add_argument("--no-progress", action="store_true", help="no progress bar")
    brules.add_argument("--json", action="store_true", help="print one JSON object")
    brules.set_defaults(func=cmd_bench_rules)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``synaptica`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("synaptica: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, RuntimeError, OSError, NotImplementedError) as err:
        print(f"synaptica: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
