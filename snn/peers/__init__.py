"""Peer simulators and libraries for side-by-side benchmarks.

A simulator runner is a module run in a subprocess (``python -m snn.peers.<name> ...``) that
prints one JSON object; subprocesses keep the peer's global state (Brian2's device, NEST's
kernel) out of the calling process, and may run in another Python (:mod:`.brian2cuda`, whose
Brian2 release differs from the ``peers`` extra's). Training peers run in process:
:mod:`.spikingjelly_bptt` builds SpikingJelly's version of the BPTT benchmark network.
"""

from __future__ import annotations

import json
import subprocess
import sys


def run_peer(module: str, args: list[str], timeout: float = 3600, python: str | None = None,
             env: dict[str, str] | None = None) -> dict:
    """Run ``python -m snn.peers.<module> args`` (``python``: this interpreter unless given,
    ``env``: this environment unless given) and return its JSON output."""
    cmd = [python or sys.executable, "-m", f"snn.peers.{module}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"peer run {' '.join(cmd[2:])} failed:\n" + "\n".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])
