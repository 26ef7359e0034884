"""Run a Xylo specification in xylosim, SynSense's bit-accurate chip simulator, via rockpool.

Standalone (rockpool 3.1.0, xylosim, bitstruct, packaging, NumPy; no Synaptica)::

    python xylo_run.py spec.npz inputs.npz outputs.npz

``spec.npz`` holds the arguments of ``XyloSim.from_specification`` (written by
``hardware.targets.xylo.save_spec``); ``inputs.npz`` holds ``spikes`` (samples, steps,
n_in); ``outputs.npz`` gets ``spikes`` (samples, steps, n_out), each sample run from reset.

``samna`` on PyPI is a stub that tries to download the real package at import, and
``rockpool.devices.xylo`` imports it unconditionally (for the hardware interfaces this script
does not use): a meta-path finder answers every ``samna.*`` import with an empty stand-in
module first (the import shim documented in docs/deploy.md). Nothing of samna is called.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

import numpy as np


class _Absent(type):
    def __getattr__(cls, _name):
        return _Stub


class _Stub(metaclass=_Absent):
    """Stands in for any samna name; fails only if actually used."""

    def __init__(self, *_args, **_kwargs):
        raise RuntimeError("samna is not installed; only xylosim runs here")


class _SamnaStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "samna" or name.startswith("samna."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda _name: _Stub
        return module

    def exec_module(self, module):
        return None


def run(spec: dict, spikes: np.ndarray) -> np.ndarray:
    """Output spikes (samples, steps, n_out) of XyloSim built from ``spec``."""
    sys.meta_path.insert(0, _SamnaStandIn())
    from rockpool.devices.xylo.syns65302 import XyloSim

    args = {k: (v.item() if v.ndim == 0 else v) for k, v in spec.items()}
    sim = XyloSim.from_specification(**args)
    outputs = []
    for sample in spikes:
        sim.reset_state()
        out, _, _ = sim.evolve(sample.astype(int), record=False)
        outputs.append(np.asarray(out))
    return np.stack(outputs)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        raise SystemExit("usage: xylo_run.py SPEC.npz INPUTS.npz OUTPUTS.npz")
    with np.load(args[0]) as fh:
        spec = {k: fh[k] for k in fh.files}
    with np.load(args[1]) as fh:
        spikes = fh["spikes"]
    np.savez(args[2], spikes=run(spec, spikes))


if __name__ == "__main__":
    main()
