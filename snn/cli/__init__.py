"""The ``synaptica`` command line.

Exit codes: 0 success, 1 a run failed (the message says why), 2 bad command-line usage
(argparse's checks, and :class:`snn.cli.common.UsageError` for what a command finds wrong
before it starts the work), 130 interrupted (Ctrl-C).
Every command that reports figures takes ``--json`` and then prints exactly one JSON object
on standard output.

Each command (or command group) is a module with ``add_parser(subparsers)``, which adds its
parser and sets ``func`` (the handler: ``func(args) -> exit code``). :data:`COMMANDS` lists
those modules in the order ``synaptica --help`` shows them; a new command is one module and
one line there. Modules import their heavy dependencies (torch, rules, hardware) inside the
handlers, so ``synaptica --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: tuple[str, ...] = (
    "snn.cli.demo",
    "snn.cli.info",
    "snn.cli.train",
    "snn.cli.bench",
    "hardware.cli_map",
    "hardware.cli_emulate",
    "hardware.cli_export",
    "hardware.cli_nest",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``synaptica`` parser with every command of :data:`COMMANDS`."""
    from snn import __version__

    ap = argparse.ArgumentParser(
        prog="synaptica",
        description="Event-driven spiking-network simulator with pluggable learning rules.",
    )
    ap.add_argument("--version", action="version", version=f"synaptica {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``synaptica`` console script."""
    from snn.cli.common import UsageError

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    for token in argv:
        # argparse drops a value of "--" given as --flag=-- and hands the command an empty list
        if token.startswith("--") and token.endswith("=--"):
            parser.error(f"argument {token[:-3]}: expected a value, got '--'")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("synaptica: interrupted", file=sys.stderr)
        return 130
    except UsageError as err:
        print(f"synaptica {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, RuntimeError, OSError, NotImplementedError) as err:
        print(f"synaptica: error: {err}", file=sys.stderr)
        return 1


__all__ = ["COMMANDS", "build_parser", "main"]
