"""CLI: ``synaptica emulate NETWORK [--machine spinn5] [--duration S] [--json]``.

Runs a network on the emulated SpiNNaker target (:mod:`hardware.spinnaker.backend`) and
prints its provenance: cores, chips and router entries, packets sent / received / lost /
default-routed, ring-buffer saturations, late spikes and timer overruns against the cycle
budget, and the energy estimate. ``NETWORK`` is ``cuba``, ``pattern``, ``song-abbott`` or a
Python file defining ``build_network()`` (:mod:`hardware.spinnaker.examples`).
"""

from __future__ import annotations

import argparse
import json

from hardware.spinnaker.examples import add_network_arguments
from snn.cli.common import positive_int


def add_parser(subparsers) -> None:
    """Add the ``emulate`` command."""
    p = subparsers.add_parser(
        "emulate", help="run a network on the emulated SpiNNaker target and report provenance",
        description="Run a network with SpiNNaker 1's fixed-point arithmetic, multicast routing, "
                    "ring buffers and timing (backend='spinnaker'); print sPyNNaker's "
                    "provenance counters, resources and energy.")
    add_network_arguments(p)
    p.add_argument("--duration", type=float, default=1.0, help="simulated seconds (default 1)")
    p.add_argument("--dt", type=float, default=None,
                   help="time step (s): 1e-3 (sPyNNaker's default) or 1e-4; default 1e-4 for "
                        "cuba and song-abbott, 1e-3 for pattern and files")
    p.add_argument("--time-scale-factor", type=positive_int, default=1,
                   help="wall time per tick = dt x factor (the cycle budget scales with it)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_emulate)


def emulate(network: str, neurons: int | None = None, machine: str = "spinn5",
            duration: float = 1.0, dt: float | None = None, time_scale_factor: int = 1,
            neurons_per_core: int | None = None, seed: int = 1) -> dict:
    """Run ``network`` on the emulator; returns the provenance plus spike counts."""
    from hardware.spinnaker.backend import SpiNNakerSimulation
    from hardware.spinnaker.examples import example_network
    from snn.network import Network

    net = example_network(network, neurons, seed=seed)
    options = {"machine": machine, "time_scale_factor": time_scale_factor,
               "neurons_per_core": neurons_per_core}
    if isinstance(net, Network):
        if dt is None:
            dt = 1e-4 if network in ("cuba", "song-abbott") else 1e-3
        sim = net.build(dt=dt, backend="spinnaker", seed=seed, **options)
    else:  # an already sampled network (the pattern detector's, at its own step)
        if dt is not None and abs(dt - net.dt) > 1e-12:
            raise ValueError(f"{network} is sampled at dt={net.dt:g} s; leave --dt out")
        sim = SpiNNakerSimulation(net, **options)
    res = sim.run(duration)
    spikes = {name: {"population": rec.population, "spikes": rec.count,
                     "rate_hz": rec.rate(res.duration)} for name, rec in res.spikes.items()}
    return {"network": network, "dt": sim.dt, "duration_s": res.duration, "spikes": spikes,
            "provenance": res.provenance}


def cmd_emulate(a: argparse.Namespace) -> int:
    """Handler of ``synaptica emulate``."""
    from hardware.spinnaker.provenance import format_provenance

    out = emulate(a.network, a.neurons, a.machine, a.duration, a.dt, a.time_scale_factor,
                  a.neurons_per_core, a.seed)
    if a.json:
        print(json.dumps(out, default=float))
        return 0
    print(f"{a.network}: {out['duration_s']:g} s at dt {out['dt'] * 1e3:g} ms on {a.machine}")
    for name, s in out["spikes"].items():
        print(f"  {name} ({s['population']}): {s['spikes']} spikes, {s['rate_hz']:.2f} Hz")
    print(format_provenance(out["provenance"]))
    return 0


__all__ = ["add_parser", "cmd_emulate", "emulate"]
