"""``synaptica bench``: CUBA and STDP against peer simulators, BPTT against snnTorch, and the
learning-rules comparison."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys

from snn.cli.common import (
    UsageError,
    arch,
    check_device,
    check_out_dir,
    int_list,
    layer_sizes,
    load_split,
    non_negative_int,
    peer_list,
    positive_float,
    positive_int,
    print_json,
    print_rules_table,
    seed_list,
)


def cmd_bench_cuba(a: argparse.Namespace) -> int:
    from snn.bench.cuba import PEERS, run_cuba, run_peer_cuba

    peers = peer_list(a.vs)
    for peer in peers:
        if peer not in PEERS:
            raise UsageError(f"--vs {peer!r} is unknown; choose from {', '.join(PEERS)}")
        if peer == "brian2cuda":  # refused before any work where it cannot run
            from snn.peers import brian2cuda

            reason = brian2cuda.unavailable()
            if reason is not None:
                raise UsageError(reason)
    plot = _plot_path(a.plot, f"cuba_{a.neurons}.png") if a.plot else None
    chip = {"time_scale_factor": a.time_scale_factor, "machine": a.machine}
    chip = {key: value for key, value in chip.items() if value is not None}
    for key in chip:
        flag = "--" + key.replace("_", "-")
        if a.stdp:
            raise UsageError(f"{flag} applies to --backend spinnaker; --stdp runs numba only")
        if a.backend != "spinnaker":
            raise UsageError(f"{flag} applies to --backend spinnaker only (this run uses "
                             f"--backend {a.backend}); drop {flag} or add --backend spinnaker")
    if "machine" in chip:
        from hardware.spinnaker.machine import Machine

        try:
            Machine.named(chip["machine"])
        except ValueError as err:
            raise UsageError(f"--machine: {err}") from None
    if a.stdp:
        if peers:
            raise UsageError("--stdp compares our static and plastic runs; it takes no --vs")
        if plot:
            raise UsageError("--plot charts the simulators of a --vs comparison; --stdp takes none")
        from snn.bench.cuba import stdp_throughput

        report = stdp_throughput(a.neurons, a.duration, max(a.repeat, 3), a.seed)
        if a.json:
            print_json(report)
        else:
            print(f"CUBA, {a.neurons} neurons, {a.duration:g} s: static "
                  f"{report['static_events_per_s']:.3g} events/s, with STDP on every synapse "
                  f"{report['stdp_events_per_s']:.3g} events/s (ratio {report['ratio']:.2f})")
        return 0
    ours = run_cuba(a.neurons, a.duration, a.backend, a.seed, a.repeat, build_options=chip)
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
    if plot:
        report["plot"] = str(_bench_chart(report, peers, plot))
    if a.json:
        print_json(report)
        return 0
    print(f"CUBA, {a.neurons} neurons, {a.duration:g} s of biological time (dt 0.1 ms)")
    cols = ["wall_s", "build_s", "rate_hz", "cv_isi", "events_per_s"]
    print(f"  {'simulator':<26}" + "".join(f"{c:>14}" for c in cols))
    for row in [ours] + [report[p] for p in peers]:
        print(f"  {row['simulator']:<26}" + "".join(f"{row[c]:>14.4g}" for c in cols))
    print(f"  bytes per synapse: {ours['bytes_per_synapse']:.2f}")
    if "provenance" in ours:
        p = ours["provenance"]
        print(f"  {p['machine']}, time_scale_factor {p['time_scale_factor']}: timer overruns "
              f"{p['timer_tick_overruns']} on {p['cores_with_overruns']} cores, late spikes "
              f"{p['late_spikes']}, skipped synapses {p['skipped_synapses']}, max core load "
              f"{p['max_core_load']:.2f}")
    for peer, s in speedups.items():
        print(f"  speedup vs {peer}: {s:.2f}x")
    return 0


def cmd_bench_stdp(a: argparse.Namespace) -> int:
    from snn.bench.stdp import PEERS, bench_stdp

    peers = peer_list(a.vs)
    for peer in peers:
        if peer not in PEERS:
            raise UsageError(f"--vs {peer!r} is unknown; choose from {', '.join(PEERS)}")
    report = bench_stdp(a.duration, seeds=tuple(a.seeds), vs=tuple(peers), membrane=a.membrane,
                        backend=a.backend, repeat=a.repeat)
    if a.json:
        print_json(report)
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


def cmd_bench_bptt(a: argparse.Namespace) -> int:
    import torch

    from rules.bench import BPTT_PEERS, bench_bptt

    if a.threads:
        torch.set_num_threads(a.threads)
    check_device(a.device)
    peers = peer_list(a.vs)
    for peer in peers:
        if peer not in BPTT_PEERS:
            raise UsageError(f"--vs {peer!r} is unknown; choose from {', '.join(BPTT_PEERS)}")
        if peer == "spikingjelly" and importlib.util.find_spec("spikingjelly") is None:
            raise UsageError("--vs spikingjelly needs SpikingJelly: pip install --no-deps "
                             "spikingjelly==2.0.0 'loguru>=0.7,<1' (docs/benchmarks.md)")
    report = bench_bptt(arch="-".join(map(str, a.arch)), steps=a.T, batch=a.batch, device=a.device,
                        repeat=a.repeat, vs=tuple(peers), seed=a.seed, chunk_steps=a.chunk or None)
    if a.json:
        print_json(report)
        return 0
    print(f"BPTT training step, {'-'.join(map(str, a.arch))}, T={a.T}, batch {a.batch}, {a.device}, "
          f"{report['threads']} threads (median of {a.repeat})")
    cuda = "cuda_peak_bytes" in report
    print(f"  {'':<12}{'time/step (s)':>16}{'saved for backward (MB)':>26}"
          + (f"{'CUDA peak (MB)':>16}" if cuda else ""))
    names = (["unfused"] if "unfused" in report else []) + peers
    rows = [("synaptica", report)] + [(n, report[n]) for n in names]
    for name, row in rows:
        print(f"  {name:<12}{row['time_per_step_s']:>16.4f}{row['peak_memory_bytes'] / 1e6:>26.1f}"
              + (f"{row['cuda_peak_bytes'] / 1e6:>16.1f}" if cuda else ""))
    print(f"  our time loops: {report['kernels']}"
          + (f" (unfused: the torch loop; speedup {report['speedup_vs_unfused']:.2f}x)"
             if "unfused" in report else ""))
    if peers:
        print(f"  ratios (ours / {peers[0]}): time {report['time_ratio']:.3f}, "
              f"memory {report['memory_ratio']:.3f}")
    return 0


def cmd_bench_rules(a: argparse.Namespace) -> int:
    import torch

    from rules.bench import BenchInterrupted, RulesBenchConfig, bench_rules, write_rules_bench

    if a.threads:
        torch.set_num_threads(a.threads)
    check_device(a.device)
    check_out_dir(a.out)
    train, test = load_split(a.dataset, a.data_dir, a.seed)
    sizes = layer_sizes(a.arch, a.dataset, train, n_classes=train.n_classes)
    config = RulesBenchConfig(rules=tuple(a.rules), sizes=tuple(sizes),
                              steps=a.T, epochs=a.epochs, batch=a.batch, seed=a.seed, device=a.device,
                              memory_steps=tuple(a.memory_T), snntorch=not a.no_snntorch,
                              skip_failures=a.skip_failures)
    done = _finished_rows(a.out, config) if a.resume else None
    try:
        report = bench_rules(train, test, config, dataset=a.dataset,
                             progress=not (a.json or a.no_progress), done=done)
    except BenchInterrupted as stop:
        rows = stop.report["rows"]
        if not rows:
            print(f"synaptica: interrupted during {stop.report['interrupted_in']}, before any rule "
                  "finished; nothing was written", file=sys.stderr)
            return 130
        files = write_rules_bench(stop.report, a.out)
        print(f"synaptica: interrupted during {stop.report['interrupted_in']}; the rules that finished "
              f"({', '.join(r['rule'] for r in rows)}) are in {files['h5']}; to continue, run the same "
              "command with --resume", file=sys.stderr)
        return 130
    report["files"] = write_rules_bench(report, a.out)
    if a.json:
        print_json(report)
        return 0
    print(f"Rules on {a.dataset} ({report['n_train']} train / {report['n_test']} test), {report['arch']}, "
          f"T={a.T}, {a.epochs} epochs, batch {a.batch}, {a.device}")
    print_rules_table(report)
    print("  files: " + ", ".join(report["files"].values()))
    return 0


def _finished_rows(out: str, config) -> list[dict]:
    """The rows of the interrupted rules benchmark in ``out`` with the same config; a usage
    error naming the setting and both values if the config differs."""
    from dataclasses import asdict
    from pathlib import Path

    from rules.bench import read_rules_bench

    path = Path(out) / "rules_bench.h5"
    if not path.exists():
        raise UsageError(f"--resume: there is no {path} to continue from (an interrupted `synaptica "
                         "bench rules` with this --out writes it); drop --resume to start fresh")
    earlier = read_rules_bench(path)
    now = json.loads(json.dumps(asdict(config)))
    for key, value in earlier["config"].items():
        if key != "skip_failures" and now.get(key) != value:
            raise UsageError(f"--resume: {path} was measured with {key}={value!r}, this command asks "
                             f"for {key}={now.get(key)!r}; give the same settings, or drop --resume")
    return earlier["rows"]


def _rule_names(text: str) -> list[str]:
    import rules

    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in rules.available()]
    if unknown or not names:
        given = ", ".join(map(repr, unknown)) or "(none given)"
        raise argparse.ArgumentTypeError(f"unknown rule(s) {given}; available rules: "
                                         f"{', '.join(rules.available())}")
    return names


def _plot_path(text: str, name: str):
    """The chart's file: ``text`` if it names a .png file, ``text/name`` if it is a directory."""
    from pathlib import Path

    path = Path(text)
    if path.is_dir() or not path.suffix:
        path = check_out_dir(str(path), "--plot") / name
    elif path.suffix.lower() != ".png":
        raise UsageError(f"--plot {text}: the chart is a PNG; give a file name ending in .png or a "
                         "directory")
    else:
        check_out_dir(str(path.parent), "--plot")
    return path


def _bench_chart(report: dict, peers: list[str], path):
    from snn import plot

    plt = plot.pyplot()
    rows = [report] + [report[p] for p in peers]
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(rows) + 1.5))
    ax.barh([r["simulator"] for r in rows], [r["wall_s"] for r in rows], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel("simulation wall time (s), lower is better")
    ax.set_title(f"CUBA {report['neurons']} neurons, {report['duration_s']:g} s")
    fig.tight_layout()
    return plot.save_figure(fig, path)


def add_parser(subparsers) -> None:
    """Add the ``bench`` command group (cuba, stdp, bptt, rules)."""
    bench = subparsers.add_parser("bench", help="benchmarks against peer simulators and between rules")
    bsub = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    cuba = bsub.add_parser(
        "cuba", help="the CUBA network (Vogels & Abbott 2005, Brian2's example)",
        description="Run CUBA on our engine and, with --vs, on peers in the same invocation. "
                    "wall_s is simulation time only (build and compilation excluded) for "
                    "every simulator.")
    cuba.add_argument("--neurons", type=positive_int, default=4000,
                      help="network size; 80 synapses per neuron are kept (default 4000)")
    cuba.add_argument("--duration", type=positive_float, default=1.0, help="seconds (default 1)")
    cuba.add_argument("--backend", default="numba", help="our backend (default numba)")
    cuba.add_argument("--time-scale-factor", type=positive_int, default=None,
                      help="--backend spinnaker: wall time per tick = dt x factor; the cores' "
                           "cycle budget scales with it (default 1: at dt 0.1 ms CUBA overruns; "
                           "sPyNNaker runs 0.1 ms at 10)")
    cuba.add_argument("--machine", default=None,
                      help="--backend spinnaker: spinn3, spinn5 or WxH such as 16x16 "
                           "(default spinn5)")
    cuba.add_argument("--vs", action="append", default=[], metavar="PEER",
                      help="peer to run side by side: brian2 (Cython runtime), brian2-cpp "
                           "(cpp_standalone), brian2-numpy, nest, brian2cuda (GPU and nvcc); "
                           "repeat or comma-separate")
    cuba.add_argument("--seed", type=non_negative_int, default=1)
    cuba.add_argument("--repeat", type=positive_int, default=1,
                      help="timed runs per simulator (ours and peers alike); wall_s is the "
                           "fastest, wall_s_runs lists all (default 1)")
    cuba.add_argument("--plot", metavar="PNG", help="write a bar chart of wall times to this .png file "
                                                    "(or to cuba_<neurons>.png in this directory)")
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
    stdp.add_argument("--duration", type=positive_float, default=100.0, help="seconds (default 100)")
    stdp.add_argument("--seeds", type=seed_list, default=[1], help="comma-separated seeds (default 1)")
    stdp.add_argument("--vs", action="append", default=[], metavar="PEER",
                      help="brian2-cpp (cpp_standalone), brian2 (Cython runtime), brian2-numpy; "
                           "repeat or comma-separate")
    stdp.add_argument("--membrane", choices=["conductance", "example"], default="conductance",
                      help="conductance: ge*(Ee - v) (default); example: Brian2's ge*(Ee - vr)")
    stdp.add_argument("--backend", default="numba", help="our backend (default numba)")
    stdp.add_argument("--repeat", type=positive_int, default=1,
                      help="timed runs per seed and simulator; the fastest is kept (default 1)")
    stdp.add_argument("--json", action="store_true", help="print one JSON object")
    stdp.set_defaults(func=cmd_bench_stdp)

    bptt = bsub.add_parser(
        "bptt", help="one BPTT training step, ours against snnTorch on the same network",
        description="Same weights, same Bernoulli input (rate 0.2), cross-entropy on output "
                    "spike counts; times forward+backward of one mini-batch and counts the "
                    "bytes autograd saves for backward (saved_tensors_hooks, each storage once).")
    bptt.add_argument("--arch", type=arch, default=[784, 500, 10], help="layer sizes (default 784-500-10)")
    bptt.add_argument("--T", type=positive_int, default=25, help="time steps (default 25)")
    bptt.add_argument("--batch", type=positive_int, default=128)
    bptt.add_argument("--device", default="cpu", help="cpu or cuda")
    bptt.add_argument("--vs", action="append", default=[], metavar="PEER",
                      help="snntorch, spikingjelly (its multi-step LIF kernels); repeat or "
                           "comma-separate")
    bptt.add_argument("--repeat", type=positive_int, default=5, help="timed steps; median counts")
    bptt.add_argument("--threads", type=non_negative_int, default=0,
                      help="torch CPU threads (default: torch's)")
    bptt.add_argument("--chunk", type=non_negative_int, default=25,
                      help="time steps per chunk in our layers (0: all at once; default 25)")
    bptt.add_argument("--seed", type=non_negative_int, default=0)
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
    brules.add_argument("--arch", type=arch,
                        help="layer sizes (default 64-128-10 for digits, 784-500-10 otherwise)")
    brules.add_argument("--T", type=positive_int, default=25, help="time steps (default 25)")
    brules.add_argument("--epochs", type=positive_int, default=3, help="epochs for every rule (default 3)")
    brules.add_argument("--batch", type=positive_int, default=64, help="mini-batch size (default 64)")
    brules.add_argument("--memory-T", type=int_list, default=[10, 50, 200, 400], metavar="T1,T2,...",
                        help="time steps of the memory-growth measurement (default 10,50,200,400)")
    brules.add_argument("--seed", type=non_negative_int, default=0)
    brules.add_argument("--device", default="cpu", help="cpu or cuda")
    brules.add_argument("--threads", type=non_negative_int, default=0,
                        help="torch CPU threads (default: torch's)")
    brules.add_argument("--no-snntorch", action="store_true", help="leave out snnTorch's BPTT")
    brules.add_argument("--skip-failures", action="store_true",
                        help="report a rule that fails as skipped instead of stopping (exit 1)")
    brules.add_argument("--out", default="out", help="output directory (default: out)")
    brules.add_argument("--resume", action="store_true",
                        help="after Ctrl-C: keep the rules measured in --out, run the rest")
    brules.add_argument("--no-progress", action="store_true", help="no progress bar")
    brules.add_argument("--json", action="store_true", help="print one JSON object")
    brules.set_defaults(func=cmd_bench_rules)
