"""Loihi 2 target: a trained ``snn.layers`` stack as a lava-dl netx HDF5 file, and our own
bit-level model of how Loihi (lava-nc's ``fixed_pt`` models) runs it.

Loihi's CUBA neuron (lava ``PyLifModelBitAcc``), per step, on integers::

    u = trunc(u * (4096 - iDecay) / 4096) + (a << 6)        a: summed weights of input spikes
    v = trunc(v * (4096 - vDecay) / 4096) + u + (bias << 6)
    spike if v > (vThMant << 6); then v = 0

(``trunc`` rounds toward zero; ``u`` wraps and ``v`` saturates at 24 bits). A dense layer
delivers the spikes of step ``t`` at step ``t + 1``. Constraints the quantiser enforces:
weights are 8-bit with an exponent (netx re-derives the exponent; we write even integers in
[-256, 254], which it stores without loss), decays are 12-bit fractions of 4096, the bias
mantissa is 13-bit signed (exponent 6), the threshold mantissa 17-bit unsigned (scaled by
64), and the reset is to 0.

Mapping from our layers (``Linear`` with ``LIF.from_beta``-style neurons: delta synapses,
``v_rest = v_reset = 0``, no refractory period): ``iDecay = 4096`` (the current keeps
nothing: a delta synapse), ``vDecay = round(4096 (1 - exp(-dt / tau_m)))``, and per layer one
scale ``s`` (integer units per volt) with ``weight = 2 round(s W / 2)``,
``bias = round(s b)``, ``vThMant = round(s v_thresh)``. Our reset by subtraction becomes
Loihi's reset to 0: the float and fixed-point accuracies in ``docs/deploy.md`` include it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn.h5io import atomic_h5

DECAY_UNITY = 4096
WEIGHT_RANGE = (-256, 254)
BIAS_MAX = 4095
VTH_MAX = 2**17 - 1
UV_MAX = 2**23


@dataclass
class LoihiLayer:
    """One dense layer of CUBA neurons in Loihi's integers."""

    weight: np.ndarray  # (out, in) int64, even, in WEIGHT_RANGE
    bias: np.ndarray    # (out,) int64 mantissa, exponent 6
    v_th_mant: int
    i_decay: int
    v_decay: int
    scale: float        # integer units per float unit of weight, bias and threshold


def _lif_params(layer, index: int) -> tuple[float, float]:
    """(beta, v_thresh) of a ``Linear`` layer whose neuron Loihi's CUBA neuron can run."""
    from snn.layers import Linear
    from snn.models import LIF

    where = f"layer {index} ({type(layer).__name__})"
    if not isinstance(layer, Linear):
        raise ValueError(f"{where}: the Loihi export takes Linear layers only")
    neuron = layer.neuron
    if type(neuron) is not LIF:
        raise ValueError(f"{where}: {type(neuron).__name__} neurons have no Loihi CUBA form; "
                         "train with spiking LIF layers (synaptica train bptt --readout lif)")
    for name in ("v_rest", "v_reset", "tau_ref", "tau_syn_exc", "tau_syn_inh", "i_bias"):
        if np.any(np.asarray(getattr(neuron, name)) != 0):
            raise ValueError(f"{where}: LIF.{name} must be 0 for Loihi's CUBA neuron (delta "
                             "synapses, rest and reset at 0), as LIF.from_beta gives")
    tau_m = np.asarray(neuron.tau_m, dtype=np.float64)
    thresh = np.asarray(neuron.v_thresh, dtype=np.float64)
    if tau_m.size > 1 and np.ptp(tau_m) > 0 or thresh.size > 1 and np.ptp(thresh) > 0:
        raise ValueError(f"{where}: per-neuron tau_m or v_thresh; Loihi's netx layer has one of each")
    return float(np.exp(-layer.dt / tau_m.flat[0])), float(thresh.flat[0])


def quantize(net) -> list[LoihiLayer]:
    """Loihi's integer form of a trained ``snn.layers.Sequential`` of ``Linear`` LIF layers."""
    layers = []
    for i, layer in enumerate(net):
        beta, v_th = _lif_params(layer, i)
        w = layer.weight.detach().cpu().double().numpy()
        b = (layer.bias.detach().cpu().double().numpy() if layer.bias is not None
             else np.zeros(w.shape[0]))
        limits = [WEIGHT_RANGE[1] / max(np.abs(w).max(), 1e-30), VTH_MAX / v_th]
        if np.any(b != 0):
            limits.append(BIAS_MAX / np.abs(b).max())
        scale = min(limits)
        weight = np.clip(2 * np.rint(scale * w / 2), *WEIGHT_RANGE).astype(np.int64)
        layers.append(LoihiLayer(
            weight=weight, bias=np.rint(scale * b).astype(np.int64),
            v_th_mant=int(round(scale * v_th)), i_decay=DECAY_UNITY,
            v_decay=int(round(DECAY_UNITY * (1.0 - beta))), scale=scale))
    return layers


def write_netx(layers: list[LoihiLayer], path: str | Path) -> Path:
    """Write ``layers`` as a lava-dl netx HDF5 file (atomically); returns the path."""
    with atomic_h5(path, "synaptica-netx") as fh:
        top = fh.create_group("layer")
        for i, layer in enumerate(layers):
            g = top.create_group(str(i))
            g.create_dataset("type", data=np.bytes_("dense"))
            g.create_dataset("shape", data=np.array([layer.weight.shape[0]], dtype=np.int64))
            g.create_dataset("weight", data=layer.weight)
            if np.any(layer.bias != 0):
                g.create_dataset("bias", data=layer.bias)
            n = g.create_group("neuron")
            n.create_dataset("type", data=np.bytes_("CUBA"))
            n.create_dataset("iDecay", data=layer.i_decay)
            n.create_dataset("vDecay", data=layer.v_decay)
            n.create_dataset("vThMant", data=layer.v_th_mant)
            n.create_dataset("refDelay", data=1)
            n.create_dataset("gradedSpike", data=False)
    return Path(path)


def _decay(x: np.ndarray, decay: int) -> np.ndarray:
    prod = x.astype(np.int64) * (DECAY_UNITY - decay)
    return np.sign(prod) * (np.abs(prod) >> 12)


def simulate(layers: list[LoihiLayer], spikes: np.ndarray,
             reset_interval: int | None = None) -> np.ndarray:
    """Run ``layers`` as lava-nc's fixed-point models do on input ``spikes`` (steps, n_in)
    (row ``t`` is sent at lava time step ``t + 1``); returns the last layer's spikes
    (steps, n_out). With ``reset_interval = R``, layer ``l`` (from 0) zeroes ``u`` and ``v``
    at the steps ``t`` (from 1) with ``t % R == (l + 1) % R``, as netx's ``reset_interval``."""
    spikes = np.asarray(spikes).astype(bool)
    steps = spikes.shape[0]
    u = [np.zeros(layer.weight.shape[0], np.int64) for layer in layers]
    v = [np.zeros(layer.weight.shape[0], np.int64) for layer in layers]
    pending = [np.zeros(layer.weight.shape[0], np.int64) for layer in layers]
    out = np.zeros((steps, layers[-1].weight.shape[0]), dtype=bool)
    for t in range(1, steps + 1):
        s = spikes[t - 1]
        for idx, layer in enumerate(layers):
            a_in = pending[idx]
            pending[idx] = layer.weight[:, s].sum(axis=1)
            if reset_interval is not None and t % reset_interval == (idx + 1) % reset_interval:
                u[idx][:] = 0
                v[idx][:] = 0
            cur = _decay(u[idx], layer.i_decay) + (a_in << 6)
            cur = np.where(cur > UV_MAX, cur - 2 * UV_MAX, cur)
            cur = np.where(cur <= -UV_MAX, cur + 2 * UV_MAX, cur)
            u[idx] = cur
            volt = _decay(v[idx], layer.v_decay) + cur + (layer.bias << 6)
            volt = np.clip(volt, -UV_MAX + 1, UV_MAX - 1)
            s = volt > (layer.v_th_mant << 6)
            volt[s] = 0
            v[idx] = volt
        out[t - 1] = s
    return out


__all__ = ["LoihiLayer", "quantize", "simulate", "write_netx"]
