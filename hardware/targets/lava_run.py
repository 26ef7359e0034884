"""Run a netx HDF5 file with lava-nc's fixed-point CPU models (Loihi 2 bit-accurate).

Standalone (Python 3.10 with lava-nc 0.10.0, lava-dl 0.6.0 installed ``--no-deps``, h5py,
NumPy; no Synaptica, no torch)::

    python lava_run.py net.h5 inputs.npz outputs.npz

``inputs.npz`` holds ``spikes`` (steps, n_in) and ``reset_interval`` (0 for none);
``outputs.npz`` gets the network's output spikes (steps, n_out). lava-dl's
``lava.lib.dl.netx`` imports torch in ``sequential_modules`` and ``slayer.neuron.rf``
(resonate-and-fire layers only), neither used by a dense CUBA network: without torch, both
get stand-ins (the import shim documented in docs/deploy.md).
"""

from __future__ import annotations

import sys
import types

import numpy as np


def _shim_lava_dl() -> None:
    """Without torch: a bare ``torch`` module for ``netx.sequential_modules`` (which needs
    torch only inside its functions; lava's compiler imports every module of netx while it
    looks for process models) and a stand-in for ``lava.lib.dl.slayer.neuron.rf``."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        return
    torch = types.ModuleType("torch")
    torch.is_tensor = lambda _x: False
    torch.tensor = torch.Tensor = type("Tensor", (), {})  # annotations only
    sys.modules["torch"] = torch
    for name in ("lava.lib.dl.slayer", "lava.lib.dl.slayer.neuron"):
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module
    rf = types.ModuleType("lava.lib.dl.slayer.neuron.rf")

    def neuron_params(*_args, **_kwargs):
        raise NotImplementedError("resonate-and-fire layers need lava-dl's slayer (torch)")

    rf.neuron_params = neuron_params
    sys.modules["lava.lib.dl.slayer.neuron.rf"] = rf


def run(net_path: str, spikes: np.ndarray, reset_interval: int | None) -> np.ndarray:
    """Output spikes (steps, n_out) of the netx network ``net_path`` on ``spikes``."""
    _shim_lava_dl()
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    steps = spikes.shape[0]
    net = hdf5.Network(net_config=net_path, reset_interval=reset_interval)
    source = io.source.RingBuffer(data=spikes.T.astype(np.int32))
    sink = io.sink.RingBuffer(shape=net.out.shape, buffer=steps)
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    out = sink.data.get()
    net.stop()
    return np.asarray(out).T != 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        raise SystemExit("usage: lava_run.py NET.h5 INPUTS.npz OUTPUTS.npz")
    with np.load(args[1]) as fh:
        spikes, interval = fh["spikes"], int(fh["reset_interval"])
    out = run(args[0], spikes, interval or None)
    np.savez(args[2], spikes=out)


if __name__ == "__main__":
    main()
