"""CLI: ``synaptica run-nest SCRIPT --threads N`` and ``synaptica export pynn NET -o DIR``
(registered by :mod:`hardware.cli_export`).

``NET`` names an engine network: ``cuba`` or ``cuba:N`` (the CUBA benchmark with N neurons),
or ``file.py`` / ``file.py:name`` where ``name`` (default ``network``) is a
:class:`snn.Network` or a function of no arguments that returns one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import warnings
from pathlib import Path


def load_network(spec: str):
    """The :class:`snn.Network` that ``spec`` names (see the module docstring)."""
    from snn import Network

    if spec == "cuba" or spec.startswith("cuba:"):
        from snn.bench.cuba import cuba_network

        size = spec.partition(":")[2] or "4000"
        if not size.isdigit():
            raise ValueError(f"NET {spec!r}: write cuba:N with N a number of neurons, e.g. cuba:4000")
        return cuba_network(int(size))
    path, _, name = spec.partition(".py")
    path, name = Path(path + ".py"), name.lstrip(":") or "network"
    if not spec.partition(":")[0].endswith(".py") or not path.is_file():
        raise ValueError(f"NET {spec!r} is neither cuba[:N] nor an existing file.py[:name]")
    module_spec = importlib.util.spec_from_file_location(f"_synaptica_net_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise ValueError(f"{path} has no {name!r}; define network = Network(...) or pass "
                         f"{path}:NAME")
    obj = getattr(module, name)
    net = obj() if callable(obj) and not isinstance(obj, Network) else obj
    if not isinstance(net, Network):
        raise TypeError(f"{path}:{name} is a {type(net).__name__}, not a snn.Network")
    return net


def cmd_export_pynn(a: argparse.Namespace) -> int:
    from hardware.pynn import export_pynn

    net = load_network(a.net)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        script = export_pynn(net, a.out, duration=a.duration, dt=a.dt, seed=a.seed,
                             exact=not a.inexact)
    for w in caught:
        print(f"synaptica: warning: {w.message}", file=sys.stderr)
    print(f"wrote {script} and {script.parent / 'network.npz'}; run it with "
          f"`synaptica run-nest {script}` or `python {script}`")
    return 0


def cmd_run_nest(a: argparse.Namespace) -> int:
    from hardware.pynn import run_script

    script = Path(a.script)
    folder = script if script.is_dir() else script.parent
    out = Path(a.out) if a.out else folder / "spikes.npz"
    info = run_script(a.script, out, threads=a.threads, processes=a.processes,
                      simulator=a.simulator, duration=a.duration)
    info["spikes_file"] = str(out)
    if a.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key:>12}: {value}")
    return 0


def add_export_pynn(export_sub) -> None:
    """Register ``pynn`` under the ``export`` command's subparsers."""
    p = export_sub.add_parser(
        "pynn", help="a standalone PyNN script plus data (NEST, sPyNNaker)",
        description="Write DIR/run.py (needs only NumPy and PyNN) and DIR/network.npz: the network "
                    "sampled from --seed, connections as explicit lists, delays and spike labels "
                    "mapped to NEST's conventions (docs/pynn.md).")
    p.add_argument("net", metavar="NET", help="cuba[:N] or file.py[:name] (a Network or a "
                                              "function returning one)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--duration", type=float, default=1.0, help="run length written into the "
                                                               "script (s, default 1)")
    p.add_argument("--dt", type=float, default=1e-4, help="time step (s, default 1e-4)")
    p.add_argument("--seed", type=int, default=0, help="seed of connectivity and initial state")
    p.add_argument("--inexact", action="store_true",
                   help="accept NEST's minimal delay for one-step delays between neurons "
                        "(one step later than ours)")
    p.set_defaults(func=cmd_export_pynn)


def add_parser(sub) -> None:
    """Register ``run-nest`` under the top-level subparsers (see :mod:`snn.cli`)."""
    p = sub.add_parser(
        "run-nest", help="run an exported PyNN network on NEST (threads, MPI processes)",
        description="Run DIR/run.py written by `synaptica export pynn` on NEST with --threads "
                    "threads in each of --processes MPI processes (mpirun); spikes go to "
                    "DIR/spikes.npz unless -o is given.")
    p.add_argument("script", metavar="SCRIPT", help="the exported run.py or its folder")
    p.add_argument("--threads", type=int, default=1, help="NEST threads per process")
    p.add_argument("--processes", type=int, default=1, help="MPI processes (needs mpirun)")
    p.add_argument("--simulator", default="nest", help="PyNN backend (default nest)")
    p.add_argument("--duration", type=float, default=None, help="seconds (default: as exported)")
    p.add_argument("-o", "--out", default=None, help="spikes file (.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_run_nest)
