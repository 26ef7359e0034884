"""NIR fixtures made by other libraries: small networks built with Sinabs or Rockpool, exported
with the library's own NIR exporter and run on fixed inputs by the library itself.

Run it inside the library's own environment (it needs only that library, torch, nir and
NumPy; never Synaptica)::

    /work/venvs/sinabs/bin/python tools/nir_peer_fixtures.py sinabs       # sinabs 3.1.3, nir 1.0.4
    /work/venvs/rockpool_nir/bin/python tools/nir_peer_fixtures.py rockpool  # rockpool 3.1.0

Each fixture ``NAME`` is two files in ``tests/data/nir_peers/`` (``--out``):

* ``NAME.nir``: the graph, as the library's exporter made it, written by ``nir.write``;
* ``NAME.npz``: ``inputs`` (samples, steps, inputs) of 0/1 spikes, ``outputs`` (samples, steps,
  outputs), the library's own output spikes on them, and ``info``, a JSON document: the
  library, its version and settings, the versions of nir, nirtorch and torch, the step the
  library runs at (``dt``) and the seed.

``tests/test_nir_fixtures.py`` imports each graph with ``hardware.nir.from_nir`` and compares
its spikes with ``outputs``. Inputs are Bernoulli spikes and weights uniform, from ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

SAMPLES, STEPS, N_IN, N_HID, N_OUT = 20, 60, 20, 16, 8
INPUT_RATE = 0.3
"""Probability of an input spike per channel and step."""


def _atomic(path: Path, write) -> None:
    """``write(tmp)`` then rename to ``path``: never a half-written fixture."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _save(out: Path, name: str, graph, inputs: np.ndarray, outputs: np.ndarray, info: dict) -> None:
    import nir

    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / f"{name}.nir", lambda tmp: nir.write(tmp, graph))
    info = {**info, "nir": version("nir"), "nirtorch": version("nirtorch"),
            "torch": version("torch"), "numpy": version("numpy")}

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, inputs=inputs.astype(np.uint8),
                                outputs=outputs.astype(np.float32),
                                info=np.array(json.dumps(info, sort_keys=True)))
    _atomic(out / f"{name}.npz", write)
    print(f"{name}: {int(outputs.sum())} output spikes ({outputs.mean():.3f} per neuron and step, "
          f"at most {int(outputs.max())} in one step)")


def _inputs(rng: np.ndarray) -> np.ndarray:
    return (rng.random((SAMPLES, STEPS, N_IN)) < INPUT_RATE).astype(np.float32)


def _uniform_(linear, rng, low: float, high: float) -> None:
    import torch

    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(rng.uniform(low, high, tuple(linear.weight.shape))))


def sinabs_fixtures(out: Path, seed: int) -> None:
    """Feed-forward sinabs nets (Linear -> neuron -> Linear -> neuron), single spikes per step,
    reset by subtraction (sinabs's default reset): IAF, LIF (tau_mem in steps,
    ``norm_input=True``, sinabs's default), IAF with sinabs's default ``MultiSpike``, and IAF
    with non-squeeze layers (traced on a batch)."""
    import sinabs
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneSubtract, SingleSpike
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = _inputs(rng)
    squeeze = {"num_timesteps": STEPS}  # layers on (batch * time, features), as for Speck
    specs = {
        "sinabs_iaf": (lambda: sl.IAFSqueeze(spike_fn=SingleSpike, reset_fn=MembraneSubtract(),
                                             **squeeze),
                       (-0.15, 0.2), (-0.3, 0.5),
                       "IAFSqueeze(spike_fn=SingleSpike, reset_fn=MembraneSubtract())"),
        "sinabs_lif": (lambda: sl.LIFSqueeze(tau_mem=20.0, spike_fn=SingleSpike,
                                             reset_fn=MembraneSubtract(), **squeeze),
                       (-1.0, 3.0), (-1.0, 3.0),
                       "LIFSqueeze(tau_mem=20.0, spike_fn=SingleSpike, reset_fn=MembraneSubtract()), "
                       "norm_input=True"),
        "sinabs_iaf_multispike": (lambda: sl.IAFSqueeze(**squeeze), (-0.2, 0.45), (-0.3, 0.45),
                                  "IAFSqueeze() (defaults: spike_fn=MultiSpike, MembraneSubtract)"),
        # Non-squeeze layers on (batch, time, features): the graph's Input is (time, N_IN).
        "sinabs_iaf_batch_time": (lambda: sl.IAF(spike_fn=SingleSpike, reset_fn=MembraneSubtract()),
                                  (-0.15, 0.2), (-0.3, 0.5),
                                  "IAF(spike_fn=SingleSpike, reset_fn=MembraneSubtract())"),
    }
    for name, (neuron, w1, w2, what) in specs.items():
        net = nn.Sequential(nn.Linear(N_IN, N_HID, bias=False), neuron(),
                            nn.Linear(N_HID, N_OUT, bias=False), neuron())
        _uniform_(net[0], rng, *w1)
        _uniform_(net[2], rng, *w2)
        squeezed = name != "sinabs_iaf_batch_time"
        # Squeeze layers are traced on one sample, (time, features): the graph's Input is
        # (N_IN,). Non-squeeze layers take (batch, time, features) and the Input becomes
        # (time, N_IN), which nir 1.0.8's type check rejects.
        sample = torch.zeros(STEPS, N_IN) if squeezed else torch.zeros(1, STEPS, N_IN)
        graph = sinabs.to_nir(net, sample)
        for module in net:
            if hasattr(module, "reset_states"):
                module.reset_states()
        with torch.no_grad():
            y = net(torch.as_tensor(x).reshape(SAMPLES * STEPS, N_IN) if squeezed
                    else torch.as_tensor(x))
        y = y.reshape(SAMPLES, STEPS, N_OUT).numpy()
        _save(out, name, graph, x, y, {
            "library": "sinabs", "version": version("sinabs"), "seed": seed,
            "network": f"Linear({N_IN}, {N_HID}, bias=False) -> {what} -> Linear({N_HID}, "
                       f"{N_OUT}, bias=False) -> the same neuron",
            "dt": 1.0, "dt_note": "sinabs has no time unit: tau_mem is in steps, so dt = 1",
            "exporter": f"sinabs.to_nir(net, torch.zeros({tuple(sample.shape)}))"})


def rockpool_fixtures(out: Path, seed: int) -> None:
    """A feed-forward Rockpool net (LinearTorch -> LIFTorch -> LinearTorch -> LIFTorch), one
    spike per step at most, exported as Linear and CubaLIF nodes."""
    import rockpool
    import torch
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = _inputs(rng)
    dt, tau_mem, tau_syn = 1e-3, 20e-3, 5e-3
    lif = {"tau_mem": tau_mem, "tau_syn": tau_syn, "threshold": 1.0, "dt": dt,
           "max_spikes_per_dt": 1}
    net = Sequential(LinearTorch((N_IN, N_HID), has_bias=False), LIFTorch(N_HID, **lif),
                     LinearTorch((N_HID, N_OUT), has_bias=False), LIFTorch(N_OUT, **lif))
    with torch.no_grad():
        net[0].weight.copy_(torch.as_tensor(rng.uniform(-0.02, 0.03, (N_IN, N_HID))))
        net[2].weight.copy_(torch.as_tensor(rng.uniform(-0.03, 0.05, (N_HID, N_OUT))))
    graph = to_nir(net, torch.zeros(1, 1, N_IN))
    with torch.no_grad():
        net.reset_state()
        y, _, _ = net(torch.as_tensor(x))
    _save(out, "rockpool_lif", graph, x, y.numpy(), {
        "library": "rockpool", "version": rockpool.__version__, "seed": seed,
        "network": f"LinearTorch(({N_IN}, {N_HID}), has_bias=False) -> LIFTorch({N_HID}, "
                   f"{lif}) -> LinearTorch(({N_HID}, {N_OUT}), has_bias=False) -> LIFTorch("
                   f"{N_OUT}, same)",
        "dt": dt, "dt_note": "LIFTorch's dt; NIR stores none",
        "exporter": "rockpool.nn.modules.torch.nir.to_nir(net, torch.zeros(1, 1, N_IN))"})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("library", choices=["sinabs", "rockpool"])
    ap.add_argument("-o", "--out", type=Path,
                    default=Path(__file__).resolve().parents[1] / "tests" / "data" / "nir_peers")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    {"sinabs": sinabs_fixtures, "rockpool": rockpool_fixtures}[a.library](a.out, a.seed)


if __name__ == "__main__":
    main()
