"""``synaptica train``: train a network on a data set with a registered rule or an STDP learner.

One source of truth for settings: every flag that sets a rule's setting (``--steps``,
``--encoder``, ``--seed``, ``--batch``, ``--lr``, ``--neuron``, ``--readout``, ``--beta``)
defaults to "not set", and then the rule's own default applies; ``--option KEY=VALUE`` sets any
argument of the rule's ``build`` or field of its configuration, and a flag and an option that
set the same setting to different values are an error. A flag or option the rule cannot use
is an error naming it.

Files in ``--out`` are named ``<rule>_<dataset>`` (``<rule>`` alone for learners without a data
set): the checkpoint ``.h5``, ``_results.json`` (what was actually used and measured) and
``_curve.png``.

Resuming (``--resume``) continues from the checkpoint, which records the run's settings: a
setting not given on the command line is the checkpoint's; one given must equal it (else an
error naming the setting and both values). ``--epochs`` is the total to reach: it may be raised
to train on (rules whose learning-rate schedule spans the run, e.g. TESS's cosine, follow the
new total from the resumed epoch on), never set below the epochs already done; without it, the
interrupted run's total applies. The device may change. Ctrl-C stops a run; the checkpoint
then holds the last finished epoch (it is written atomically after each epoch), the message
says where it is, and the exit code is 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn.cli.common import (
    UsageError,
    arch,
    check_device,
    check_out_dir,
    key_value,
    layer_sizes,
    load_split,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
    write_json,
)

# Flags that set one of a rule's settings: argparse dest -> (flag, setting).
RULE_FLAGS: dict[str, tuple[str, str]] = {
    "steps": ("--steps", "steps"), "encoder": ("--encoder", "encoder"), "seed": ("--seed", "seed"),
    "batch": ("--batch", "batch_size"), "lr": ("--lr", "lr"), "neuron": ("--neuron", "neuron"),
    "readout": ("--readout", "readout"), "beta": ("--beta", "beta"),
}
# Flags of one learner kind only: dest -> flag.
_OTHER_FLAGS = {"arch": "--arch", "neurons": "--neurons", "device": "--device", "resume": "--resume",
                "dataset": "--dataset", "data_dir": "--data-dir", "nproc": "--nproc"}
RULE_EPOCHS = 15  # default --epochs for the rules of the registry


def _json_value(value):
    """``value`` as it reads back from JSON (tuples as lists, numpy scalars as numbers, other
    objects by name), for comparing and recording settings."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


def _given(a: argparse.Namespace, flags: dict[str, tuple[str, str]],
           rule: str) -> dict[str, tuple[str, object]]:
    """The settings the command line sets: setting -> (how it was given, value). Flags and
    ``--option`` entries that set one setting to different values are an error."""
    given: dict[str, tuple[str, object]] = {}
    for dest, (flag, setting) in flags.items():
        value = getattr(a, dest)
        if value is not None:
            given[setting] = (f"{flag} {value}", value)
    for key, value in a.option:
        text = f"--option {key}={json.dumps(value) if not isinstance(value, str) else value}"
        if key in given and _json_value(given[key][1]) != _json_value(value):
            raise UsageError(f"{given[key][0]} and {text} set {key} of {rule} differently; give one")
        given.setdefault(key, (text, value))
    return given


def _refuse_flags(a: argparse.Namespace, rule: str, dests: list[str], takes: str) -> None:
    """A usage error for the first of ``dests`` set on the command line."""
    for dest in dests:
        value = getattr(a, dest)
        if value not in (None, False):
            flag = RULE_FLAGS[dest][0] if dest in RULE_FLAGS else _OTHER_FLAGS[dest]
            raise UsageError(f"{flag} does not apply to {rule}; it takes {takes}")


# -- rules of the registry ----------------------------------------------------------------------


def config_class(cls: type) -> type | None:
    """The configuration dataclass of a rule class: its ``config_class``, or the annotation of
    its ``config`` field or ``__init__`` argument; None if it declares none."""
    explicit = getattr(cls, "config_class", None)
    if isinstance(explicit, type) and dataclasses.is_dataclass(explicit):
        return explicit
    for owner in (cls, cls.__init__):
        try:
            hint = typing.get_type_hints(owner).get("config")
        except Exception:  # an annotation that does not resolve: look at the next place
            continue
        for candidate in (hint, *typing.get_args(hint)):
            if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
                return candidate
    return None


def rule_settings(cls: type) -> tuple[dict[str, object], bool]:
    """``(settings, open)``: the settings a rule takes, by name, with their defaults where the
    rule declares them (``build`` keyword arguments, then its configuration's fields), and
    whether ``build`` takes further keyword arguments that no configuration class declares
    (then any ``--option`` is passed on)."""
    settings: dict[str, object] = {}
    more = False
    for name, p in inspect.signature(cls.build).parameters.items():
        if p.kind is p.VAR_KEYWORD:
            more = True
        elif name not in ("sizes", "device") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            settings[name] = None if p.default is p.empty else p.default
    config = config_class(cls)
    if config is not None:
        for f in dataclasses.fields(config):
            if f.name not in settings:
                if f.default is not dataclasses.MISSING:
                    settings[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    settings[f.name] = f.default_factory()
                else:
                    settings[f.name] = None
    return settings, more and config is None


def _train_rule(a: argparse.Namespace) -> dict:
    """Train a rule of the registry: ``rules.get(a.rule).build(sizes, **settings)``, then
    ``fit`` with the checkpoint saved after every epoch; returns the report."""
    import time

    import rules
    from rules.base import read_run_record
    from snn.checkpoint import load_checkpoint

    cls = rules.get(a.rule)
    _refuse_flags(a, a.rule, ["neurons"], "--arch for its layer sizes")
    accepted, open_options = rule_settings(cls)
    given = _given(a, RULE_FLAGS, a.rule)
    for key, (text, _) in given.items():
        if key not in accepted and not open_options:
            flag = text.split(" ")[0]
            raise UsageError(f"{flag if flag != '--option' else text.split('=')[0]} does not apply to "
                             f"{a.rule}; its settings: {', '.join(sorted(accepted))}")
    device = check_device(a.device or "cpu")
    dataset = a.dataset or "digits"
    out = check_out_dir(a.out)
    checkpoint = out / f"{a.rule}_{dataset}.h5"
    record, epochs_done = None, 0
    resumable = {"checkpoint", "resume"} <= set(inspect.signature(cls.fit).parameters)
    if a.resume and not resumable:
        raise UsageError(f"--resume needs a rule whose fit() takes checkpoint= and resume=; "
                         f"{a.rule}'s does not")
    if a.resume:
        if not checkpoint.exists():
            raise UsageError(f"--resume: there is no checkpoint {checkpoint} to continue from (a run of "
                             f"`synaptica train {a.rule}` with this --out and --dataset writes it after "
                             "its first epoch); drop --resume to start fresh")
        _, meta = load_checkpoint(checkpoint)
        record = read_run_record(checkpoint)
        epochs_done = len(meta.get("history", []))
        saved = record["settings"] if record else meta.get("config", {})
        for key, (text, value) in given.items():
            if key in saved and _json_value(saved[key]) != _json_value(value):
                raise UsageError(f"--resume: the checkpoint {checkpoint} was trained with {key}="
                                 f"{saved[key]!r}, the command line asks for {key}={value!r} ({text}); "
                                 "give the same value, or drop --resume to start fresh")
        if record and a.arch is not None and "-".join(map(str, a.arch)) != record["arch"]:
            raise UsageError(f"--resume: the checkpoint {checkpoint} holds the architecture "
                             f"{record['arch']}, the command line asks for --arch "
                             f"{'-'.join(map(str, a.arch))}; give the same, or drop --resume")
    epochs = a.epochs
    if epochs is None:
        epochs = record["epochs"] if record else max(RULE_EPOCHS, epochs_done)
    if epochs < epochs_done:
        raise UsageError(f"--resume: the checkpoint {checkpoint} already holds {epochs_done} epochs, "
                         f"more than --epochs {epochs}; give --epochs {epochs_done} or more")
    build_args = {**(record["given"] if record else {}), **{k: v for k, (_, v) in given.items()}}
    if a.resume and not record and "seed" in saved:  # a checkpoint written from Python: its seed
        build_args.setdefault("seed", saved["seed"])  # fixes the data split
    seed = build_args.get("seed", accepted.get("seed") or 0)
    train, test = load_split(dataset, a.data_dir, int(seed))
    if record:
        sizes = [int(s) for s in record["arch"].split("-")]
    else:
        classes = None if build_args.get("task") == "autoencoder" else train.n_classes
        sizes = layer_sizes(a.arch, dataset, train, getattr(cls, "default_hidden", None), classes)
    try:
        rule = cls.build(sizes, device=device, **build_args)
    except (TypeError, ValueError) as err:
        raise UsageError(f"{a.rule} refuses these settings: {err}") from None
    if not a.resume:
        checkpoint.unlink(missing_ok=True)  # a fresh run replaces the files of an earlier one
    resolved = {**accepted, **build_args}
    if dataclasses.is_dataclass(getattr(rule, "config", None)):
        resolved.update(dataclasses.asdict(rule.config))
    resolved = _json_value(resolved)
    rule.run_record = {"rule": a.rule, "dataset": dataset, "arch": "-".join(map(str, sizes)),
                       "epochs": epochs, "given": _json_value(build_args), "settings": resolved}
    extra = {"checkpoint": checkpoint, "resume": a.resume} if resumable else {}
    t0 = time.perf_counter()
    try:
        history = rule.fit(train, test, epochs=epochs, progress=not (a.json or a.no_progress), **extra)
    except KeyboardInterrupt:
        if not resumable:
            raise Interrupted(f"interrupted; {a.rule} saves its checkpoint when the run ends, so none "
                              "was written") from None
        if checkpoint.exists():
            done = len(load_checkpoint(checkpoint)[1]["history"])
            raise Interrupted(f"interrupted; the checkpoint {checkpoint} holds epoch {done} of {epochs} "
                              f"(the last one finished); to continue, run the same command with "
                              "--resume") from None
        raise Interrupted("interrupted before the first epoch finished; no checkpoint was written") from None
    wall = time.perf_counter() - t0
    if not resumable:
        rule.save(checkpoint)
    if dataclasses.is_dataclass(getattr(rule, "config", None)):  # a resumed rule has the file's
        resolved = _json_value({**resolved, **dataclasses.asdict(rule.config)})
    report = {
        "rule": a.rule, "dataset": dataset, "arch": "-".join(map(str, sizes)),
        **{k: resolved.get(k) for k in ("steps", "encoder", "seed", "batch_size", "lr")},
        "settings": resolved, "given": rule.run_record["given"], "device": device,
        "epochs": len(history), "resumed_from_epoch": epochs_done if a.resume else None,
        "test_accuracy": history[-1].test_accuracy, "train_accuracy": history[-1].train_accuracy,
        "wall_s": wall, "wall_s_per_epoch": float(np.mean([h.wall_s for h in history])),
        "n_train": len(train), "n_test": len(test),
        "history": [dataclasses.asdict(h) for h in history], "checkpoint": str(checkpoint),
    }
    return report


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says what the checkpoint holds."""


# -- the engine-based STDP learners -------------------------------------------------------------


@dataclass(frozen=True)
class Learner:
    """An STDP learner of :mod:`rules.stdp` as the CLI drives it: ``module.function(dataset,
    data_dir, neurons, epochs, seed, progress=, out_dir=, **options)`` returns a report with at
    least ``test_accuracy``, ``wall_s``, ``checkpoint`` and ``config`` (what was used)."""

    module: str
    function: str
    config: str                    # its configuration dataclass in ``module``
    neurons_field: str | None      # the config field --neurons sets
    datasets: tuple[str, ...]      # () for a learner without a data set
    extra_options: tuple[str, ...]  # options beyond the configuration's fields

    def options(self) -> set[str]:
        import importlib

        cls = getattr(importlib.import_module(self.module), self.config)
        return {f.name for f in dataclasses.fields(cls)} | set(self.extra_options)


LEARNERS: dict[str, Learner] = {
    "diehl-cook": Learner("rules.stdp.diehl_cook", "train_diehl_cook", "DiehlCookConfig", "n_neurons",
                          ("digits", "mnist"), ("train_samples", "test_samples")),
    "sym-stdp": Learner("rules.stdp.sym_stdp", "train_sym_stdp", "SymSTDPConfig", "n_hidden",
                        ("digits", "mnist"), ("train_limit", "test_limit", "eval_every_epoch")),
    "pattern": Learner("rules.stdp.pattern", "train_pattern", "PatternConfig", None, (),
                       ("pattern_size", "distances", "trials", "sweep")),
}


def _train_learner(a: argparse.Namespace) -> dict:
    import importlib

    learner = LEARNERS[a.rule]
    takes = "--neurons, --epochs, --seed, --option" + (", --dataset, --data-dir" if learner.datasets else "")
    _refuse_flags(a, a.rule, [*(d for d in RULE_FLAGS if d != "seed"), "arch", "device", "resume", "nproc"]
                  + ([] if learner.datasets else ["dataset", "data_dir"]), takes)
    dataset = a.dataset or ("digits" if learner.datasets else None)
    if learner.datasets and dataset not in learner.datasets:
        raise UsageError(f"--dataset {dataset} is not available for {a.rule}; choose "
                         f"{' or '.join(learner.datasets)}")
    if dataset == "digits" and a.data_dir is not None:
        raise UsageError("--data-dir is for mnist; the digits ship with synaptica (drop --data-dir)")
    flags = {"neurons": ("--neurons", learner.neurons_field)} if learner.neurons_field else {}
    given = _given(a, {**flags, "seed": ("--seed", "seed")}, a.rule)
    known = learner.options()
    for key, (text, _) in given.items():
        if key not in known and key != "seed" and not (key == "neurons" and not learner.neurons_field):
            raise UsageError(f"{text.split('=')[0]} does not apply to {a.rule}; its options: "
                             f"{', '.join(sorted(known))}")
    options = {k: v for k, (_, v) in given.items() if k != "seed"}
    neurons = options.pop(learner.neurons_field, None) if learner.neurons_field else a.neurons
    options.pop("neurons", None)
    epochs = a.epochs or 1
    out = check_out_dir(a.out)
    fn = getattr(importlib.import_module(learner.module), learner.function)
    try:
        report = fn(dataset, a.data_dir, neurons, epochs, a.seed or 0, progress=not (a.json or a.no_progress),
                    out_dir=out, **options)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; {a.rule} writes its files when the run ends, so none were "
                          "written") from None
    report.setdefault("history", [{"epoch": epochs, "train_accuracy": None,
                                   "test_accuracy": report["test_accuracy"], "wall_s": report["wall_s"]}])
    report.update(rule=a.rule, epochs=epochs, given=_json_value(options))
    if dataset is not None:
        report["dataset"] = dataset
    return report


# -- the command --------------------------------------------------------------------------------


def _trainable() -> list[str]:
    import rules

    return sorted(set(rules.available()) | set(LEARNERS))


def _rule_name(text: str) -> str:
    if text not in _trainable():
        raise argparse.ArgumentTypeError(f"{text!r} is not a known rule; available: "
                                         f"{', '.join(_trainable())}")
    return text


def _train_parallel(a: argparse.Namespace) -> dict:
    """``_train_rule`` in ``a.nproc`` processes (rules.distributed); rank 0's report."""
    import rules
    from rules import distributed

    if a.rule in LEARNERS:
        _refuse_flags(a, a.rule, ["nproc"], "no --nproc (it trains one network on the engine)")
    if not getattr(rules.get(a.rule), "data_parallel", False):
        raise UsageError(f"--nproc does not apply to {a.rule}: it does not declare "
                         "data_parallel = True (docs/distributed.md); data-parallel rules: " + ", ".join(
                             n for n in _trainable() if n not in LEARNERS
                             and getattr(rules.get(n), "data_parallel", False)))
    report = distributed.launch(_train_rule, a.nproc, (a,), device=a.device)
    return {**report, "nproc": a.nproc}


def cmd_train(a: argparse.Namespace) -> int:
    try:
        if a.nproc is not None and a.nproc > 1:
            report = _train_parallel(a)
        else:
            report = (_train_learner if a.rule in LEARNERS else _train_rule)(a)
    except Interrupted as stop:
        print(f"synaptica: {stop}", file=sys.stderr)
        return 130
    out = Path(a.out)
    stem = a.rule if report.get("dataset") is None else f"{a.rule}_{report['dataset']}"
    on = "" if report.get("dataset") is None else f" on {report['dataset']}"
    png = _learning_curve(report["history"], out / f"{stem}_curve.png", f"{a.rule}{on}")
    report["learning_curve_png"] = str(png)
    results = out / f"{stem}_results.json"
    report["results_json"] = str(results)
    write_json(results, report)
    if a.json:
        print_json(report)
        return 0
    sizes = (f" ({report['n_train']} train / {report['n_test']} test), {report['arch']}, "
             f"T={report['steps']}, encoder {report['encoder']}") if "arch" in report else ""
    print(f"{a.rule}{on}{sizes}")
    for h in report["history"]:
        test = "" if h.get("test_accuracy") is None else f"test {h['test_accuracy']:.3f}  "
        loss = f"loss {h['train_loss']:.4f}  " if h.get("train_loss") is not None else ""
        train = f"train {h['train_accuracy']:.3f}  " if h.get("train_accuracy") is not None else ""
        print(f"  epoch {h['epoch']:>3}: {loss}{train}{test}({h['wall_s']:.1f} s)")
    if report.get("checkpoint"):
        print(f"  checkpoint {report['checkpoint']}")
    print(f"  results {results}\n  learning curve {png}")
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
        description="Train a network with a registered rule (bptt, tess, ff, ccl, softhebb, tempotron) "
                    "or an engine-based STDP learner (diehl-cook, sym-stdp, pattern). Data: digits "
                    "(shipped, 8x8) or an MNIST-format set from --data-dir / $SYNAPTICA_DATA (its 10k "
                    "test file: first 8,000 images train, last 2,000 test). Settings not given are the "
                    "rule's own defaults. Writes <rule>_<dataset>.h5 (checkpoint), "
                    "<rule>_<dataset>_results.json and <rule>_<dataset>_curve.png to --out. Ctrl-C "
                    "keeps the checkpoint of the last finished epoch (exit 130); --resume continues.")
    train.add_argument("rule", type=_rule_name,
                       help="bptt, tess, ff, ccl, softhebb, tempotron, diehl-cook, sym-stdp, pattern, or "
                            "any registered rule")
    train.add_argument("--dataset", choices=["digits", "mnist", "fashion", "kmnist"], default=None,
                       help="default digits; diehl-cook and sym-stdp: digits or mnist; pattern: none")
    train.add_argument("--data-dir", help="directory holding the MNIST-format files (mnist, fashion, kmnist)")
    train.add_argument("--arch", type=arch, help="rules: layer sizes, e.g. 784-500-10 (default: the images' "
                                                 "size, 128 hidden for digits or 500 otherwise, the classes; "
                                                 "tempotron: no hidden layer)")
    train.add_argument("--neurons", type=positive_int, default=None,
                       help="STDP learners: excitatory/hidden neurons (diehl-cook, sym-stdp) or "
                            "inputs (pattern); default by learner")
    train.add_argument("--neuron", default=None,
                       choices=["lif", "adaptive", "meta", "ultralif", "ultradlif", "plif", "dspike"],
                       help="hidden neuron model (bptt: all; tess: lif or meta; default lif)")
    train.add_argument("--readout", choices=["li", "lif"], default=None,
                       help="bptt, tess: li, leaky-integrator read-out (default); lif: spiking")
    train.add_argument("--beta", type=positive_float, default=None,
                       help="membrane decay per step (bptt, tess, ff, ccl; default 0.9)")
    train.add_argument("--steps", type=positive_int, default=None, help="time steps T (default: the rule's)")
    train.add_argument("--encoder", choices=["rate", "latency", "direct"], default=None,
                       help="input encoder (default: the rule's; tempotron: latency)")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help=f"total passes over the training set (default {RULE_EPOCHS}; 1 for the STDP "
                            "learners; with --resume: the checkpoint's run)")
    train.add_argument("--batch", type=positive_int, default=None,
                       help="mini-batch size (default: the rule's)")
    train.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: the rule's)")
    train.add_argument("--option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="any setting of the rule (its build arguments and config fields, e.g. "
                            "--option hebbian_epochs=3 for softhebb, --option synapses=conductance for "
                            "sym-stdp); repeatable")
    train.add_argument("--seed", type=non_negative_int, default=None, help="seed (default 0)")
    train.add_argument("--device", default=None, help="rules: cpu (default), cuda or cuda:N")
    train.add_argument("--out", default="out", help="output directory (default: out)")
    train.add_argument("--resume", action="store_true",
                       help="rules: continue from the checkpoint in --out (settings not given are the "
                            "checkpoint's; given ones must equal them; --epochs may be raised)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--nproc", type=positive_int, default=None,
                       help="rules: data-parallel training in N processes on this machine (gloo on "
                            "the CPU, NCCL on CUDA); the same global --batch, seed and weights as one "
                            "process (see docs/distributed.md for several machines)")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(func=cmd_train)
