"""TESS on the emulated SpiNNaker cores beside float TESS: accuracy, the cost of each
fixed-point choice, and the memory a core needs.

Three parts (``--parts``, all by default):

* ``digits``: the 64-128-10 network of ``docs/benchmarks.md`` (T = 25, batch 64, float TESS's
  defaults: Adam 5e-3, cosine schedule) trained by float TESS (``rules.tess``, numba backend,
  float32) and on the chip (s4.11 traces, stochastic rounding), same seed and epochs, for each
  seed of ``--seeds``.
* ``formats``: seed 0 on digits with one on-chip choice changed at a time: trace format,
  rounding, weight shift (finer weights with less ring-buffer headroom, coarser weights, and
  a shift so small that the ring buffers saturate).
* ``mnist``: MNIST-10k (first 8000 of the test split for training, last 2000 for testing,
  784-500-10, T = 25, batch 128), float and chip, ``--mnist-epochs``.

Results go to ``--out`` (JSON, written atomically; parts not run keep their old entries;
digits runs are merged by seed). ``--merge`` folds the JSON of separate runs (e.g. one
process per seed on a busy machine) into ``--out``.

    nice -n 10 .venv/bin/python benchmarks/spinnaker_tess.py
    nice -n 10 .venv/bin/python benchmarks/spinnaker_tess.py --parts digits --seeds 1 --out s1.json
    nice -n 10 .venv/bin/python benchmarks/spinnaker_tess.py --parts --merge s1.json s2.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from hardware.spinnaker.tess import ChipConfig, SpiNNakerTESS
from rules.tess import TESS
from snn.datasets import load_digits, load_mnist

DIGITS = dict(sizes=[64, 128, 10], steps=25, batch_size=64)
MNIST = dict(sizes=[784, 500, 10], steps=25, batch_size=128)
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def run_float(setup: dict, train, test, epochs: int, seed: int) -> dict:
    rule = TESS.build(setup["sizes"], steps=setup["steps"], batch_size=setup["batch_size"], seed=seed,
                      backend="numba")
    t0 = time.perf_counter()
    hist = rule.fit(train, test, epochs=epochs)
    return {"accuracy": hist[-1].test_accuracy, "curve": [h.test_accuracy for h in hist],
            "wall_s": time.perf_counter() - t0}


def run_chip(setup: dict, train, test, epochs: int, seed: int, chip: ChipConfig) -> dict:
    rule = SpiNNakerTESS.build(setup["sizes"], steps=setup["steps"], batch_size=setup["batch_size"],
                               seed=seed, chip=chip)
    t0 = time.perf_counter()
    hist = rule.fit(train, test, epochs=epochs)
    return {"accuracy": hist[-1].test_accuracy, "curve": [h.test_accuracy for h in hist],
            "wall_s": time.perf_counter() - t0, "weight_shifts": [L.shift for L in rule.layers],
            "weight_lsb": [L.lsb for L in rule.layers], "saturations": asdict(rule.saturations),
            "chip": asdict(chip), "resources": rule.resources()}


def digits_part(args, results: dict) -> None:
    train, test = load_digits().stratified_split(0.2, seed=0)
    rows = []
    for seed in args.seeds:
        f = run_float(DIGITS, train, test, args.epochs, seed)
        c = run_chip(DIGITS, train, test, args.epochs, seed, ChipConfig())
        rows.append({"seed": seed, "float": f, "chip": c, "difference": c["accuracy"] - f["accuracy"]})
        print(f"digits seed {seed}: float {f['accuracy']:.4f}  chip {c['accuracy']:.4f}  "
              f"(chip - float {100 * (c['accuracy'] - f['accuracy']):+.2f} points)  "
              f"shifts {c['weight_shifts']}  saturations {sum(sum(v) for v in c['saturations'].values())}")
    merge_digits(results, {"setup": {**DIGITS, "epochs": args.epochs}, "runs": rows})


def merge_digits(results: dict, part: dict) -> None:
    """Add ``part``'s digits runs to ``results`` (a run of the same seed is replaced) and
    recompute the means; runs of other epochs are dropped."""
    old = results.get("digits", {})
    keep = old.get("runs", []) if old.get("setup") == part["setup"] else []
    seeds = {r["seed"] for r in part["runs"]}
    rows = sorted([r for r in keep if r["seed"] not in seeds] + part["runs"], key=lambda r: r["seed"])
    mean = {k: sum(r[k]["accuracy"] for r in rows) / len(rows) for k in ("float", "chip")}
    print(f"digits mean of {len(rows)} seeds: float {mean['float']:.4f}  chip {mean['chip']:.4f}")
    results["digits"] = {"setup": part["setup"], "runs": rows, "mean": mean}


def formats_part(args, results: dict) -> None:
    train, test = load_digits().stratified_split(0.2, seed=0)
    rule_shifts = SpiNNakerTESS.build(DIGITS["sizes"]).layers
    r0, r1 = (L.shift for L in rule_shifts)
    variants = [
        ("s4.11 traces, stochastic rounding (default)", ChipConfig()),
        ("s4.11 traces, round to nearest", ChipConfig(rounding="nearest")),
        ("s16.15 traces, stochastic", ChipConfig(trace_format="s16.15")),
        ("s16.15 traces, round to nearest", ChipConfig(trace_format="s16.15", rounding="nearest")),
        ("s2.13 traces, stochastic", ChipConfig(trace_format="s2.13")),
        ("s8.7 traces, stochastic", ChipConfig(trace_format="s8.7")),
        ("weight shift rule - 2 (4x finer weights)", ChipConfig(weight_shift=(r0 - 2, r1 - 2))),
        ("weight shift rule + 3 (8x coarser weights)", ChipConfig(weight_shift=(r0 + 3, r1 + 3))),
        ("weight shift rule + 3, round to nearest", ChipConfig(weight_shift=(r0 + 3, r1 + 3),
                                                               rounding="nearest")),
        ("weight shift 0, 1 (ring buffers saturate)", ChipConfig(weight_shift=(0, 1))),
    ]
    digits = results.get("digits", {})
    ref0 = None
    if digits.get("setup", {}).get("epochs") == args.epochs:  # the float run of the digits part
        ref0 = next((r["float"] for r in digits["runs"] if r["seed"] == 0), None)
    if ref0 is None:
        ref0 = run_float(DIGITS, train, test, args.epochs, 0)
    rows = []
    print(f"{'on-chip choice':46s} {'accuracy':>8s} {'vs float':>9s} {'shifts':>8s} {'saturations':>11s}")
    print(f"{'float TESS (numba, float32)':46s} {ref0['accuracy']:8.4f}")
    for name, chip in variants:
        c = run_chip(DIGITS, train, test, args.epochs, 0, chip)
        sat = sum(sum(v) for v in c["saturations"].values())
        rows.append({"variant": name, **{k: c[k] for k in ("accuracy", "curve", "weight_shifts", "weight_lsb",
                                                             "saturations", "chip", "wall_s")},
                     "difference": c["accuracy"] - ref0["accuracy"]})
        print(f"{name:46s} {c['accuracy']:8.4f} {100 * (c['accuracy'] - ref0['accuracy']):+8.2f}p "
              f"{str(c['weight_shifts']):>8s} {sat:11d}")
    results["formats"] = {"setup": {**DIGITS, "epochs": args.epochs, "seed": 0}, "float": ref0, "rows": rows}


def mnist_part(args, results: dict) -> None:
    ds = load_mnist(directory=args.mnist_dir, split="test")
    train, test = ds[:8000], ds[8000:]
    f = run_float(MNIST, train, test, args.mnist_epochs, 0)
    c = run_chip(MNIST, train, test, args.mnist_epochs, 0, ChipConfig())
    print(f"MNIST-10k ({args.mnist_epochs} epochs): float {f['accuracy']:.4f} ({f['wall_s']:.0f} s)  "
          f"chip {c['accuracy']:.4f} ({c['wall_s']:.0f} s)  shifts {c['weight_shifts']}")
    results["mnist"] = {"setup": {**MNIST, "epochs": args.mnist_epochs, "train": "test[:8000]",
                                  "test": "test[8000:]"}, "float": f, "chip": c}


def print_memory(results: dict) -> None:
    for name in ("digits", "mnist"):
        part = results.get(name)
        if not part:
            continue
        chip = part["runs"][0]["chip"] if name == "digits" else part["chip"]
        res = chip["resources"]
        print(f"{name}: {res['cores']} cores on {res['chips']} chip(s), SDRAM {res['sdram_bytes']} B")
        for layer in res["layers"]:
            print(f"  layer {layer['layer']} ({layer['n_in']} -> {layer['neurons']}): "
                  f"{layer['cores']} core(s) "
                  f"of {layer['neurons_per_core']} + {layer['learning_signal_cores']} learning-signal core; "
                  f"DTCM {layer['dtcm_bytes']} B, SDRAM {layer['sdram_bytes']} B per core; "
                  f"{layer['macs_per_tick_per_core']} eligibility MACs per tick")


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="*", default=["digits", "formats", "mnist"],
                        choices=["digits", "formats", "mnist"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30, help="digits epochs (default 30)")
    parser.add_argument("--mnist-epochs", type=int, default=3)
    parser.add_argument("--mnist-dir", type=Path, default=MNIST_DIR)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).with_name("results") / "spinnaker_tess.json")
    parser.add_argument("--merge", nargs="+", type=Path, default=[],
                        help="JSON files of earlier runs (e.g. one seed each) to merge into --out")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for path in args.merge:
        other = json.loads(path.read_text())
        if "digits" in other:
            merge_digits(results, other.pop("digits"))
        results.update(other)
    if args.merge:
        write_json(args.out, results)
    parts = {"digits": digits_part, "formats": formats_part, "mnist": mnist_part}
    for name in args.parts:
        if name == "mnist" and not args.mnist_dir.exists():
            print(f"MNIST skipped: {args.mnist_dir} does not exist (--mnist-dir)")
            continue
        parts[name](args, results)
        write_json(args.out, results)
    print_memory(results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
