"""SynSense Xylo target: a trained ``snn.layers`` stack as a Xylo specification (the arguments
of rockpool's ``XyloSim.from_specification``), and our own model of the chip's integer
neurons.

Xylo's LIF neuron (measured against xylosim 0.1.3, Xylo Audio 3 / SYNS65302), per step, on
16-bit integers, with ``decay(x, d) = x - max(x >> d, 1)`` for ``x > 0`` and
``x - (x >> d)`` otherwise (``>>`` floors)::

    I = decay(I + (W @ s_in) << weight_shift, dash_syn)
    V = decay(V, dash_mem) + I + bias
    n = min(V // threshold, 31) spikes if V >= threshold; V -= n * threshold

(an output neuron emits at most one spike a step and subtracts one threshold). Input spikes
reach the hidden neurons in the same step; hidden spikes reach the output
neurons one step later. Constraints: int8 weights (with a per-stage left shift), int16
thresholds, time constants as bit shifts ``dash = round(log2(tau / dt))``, at most 31
spikes a step, <= 992 hidden and <= 32 output neurons (SYNS65302; Xylo Audio 2 has 8
outputs), no instantaneous synapse (``dash_syn >= 1``).

Mapping from our two-layer ``Linear`` LIF stacks (``LIF.from_beta``: delta synapses, reset by
subtraction): ``dash_mem = round(log2(tau_m / dt))``; the delta synapse becomes
``dash_syn = 1``, which keeps each input's total charge (``w/2 + w/4 + ...``) but spreads it
over the following steps; per stage one scale ``s`` with ``W = round(s W)`` in int8 and
``threshold = round(s v_thresh)``, ``bias = round(s b)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_SPIKES = 31
INT16 = (-(2**15), 2**15 - 1)
HIDDEN_MAX, OUTPUT_MAX = 992, 32
THRESHOLD_TARGET = 2**12
"""Weight shifts are chosen so that thresholds come near this (int16 headroom for V)."""


@dataclass
class XyloSpec:
    """The integer network, named as ``XyloSim.from_specification`` names its arguments."""

    weights_in: np.ndarray   # (n_in, n_hidden, 2) int8 (second synapse unused)
    weights_out: np.ndarray  # (n_hidden, n_out) int8
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    threshold: np.ndarray
    threshold_out: np.ndarray
    bias: np.ndarray
    bias_out: np.ndarray
    weight_shift_in: int
    weight_shift_out: int
    dt: float

    def arrays(self) -> dict:
        """The specification as a dict of arrays (recurrent weights zero)."""
        n_hidden = self.weights_in.shape[1]
        return {**{k: np.asarray(v) for k, v in vars(self).items()},
                "weights_rec": np.zeros((n_hidden, n_hidden, 2), dtype=np.int64),
                "dash_syn_2": self.dash_syn.copy()}


def _stage(layer, index: int):
    from snn.layers import Linear
    from snn.models import LIF

    where = f"layer {index} ({type(layer).__name__})"
    if not isinstance(layer, Linear) or type(layer.neuron) is not LIF:
        raise ValueError(f"{where}: Xylo takes Linear layers of LIF neurons (train with "
                         "synaptica train bptt --readout lif)")
    n = layer.neuron
    for name in ("v_rest", "v_reset", "tau_ref", "tau_syn_exc", "tau_syn_inh", "i_bias"):
        if np.any(np.asarray(getattr(n, name)) != 0):
            raise ValueError(f"{where}: LIF.{name} must be 0 (as LIF.from_beta gives)")
    if n.reset != "subtract":
        raise ValueError(f"{where}: Xylo resets by subtraction; use reset='subtract'")
    tau = float(np.max(n.tau_m))
    if tau <= layer.dt:
        raise ValueError(f"{where}: tau_m = {tau:g} s <= dt; Xylo needs tau_m > dt")
    dash_mem = int(round(np.log2(tau / layer.dt)))
    w = layer.weight.detach().cpu().double().numpy().T            # (in, out)
    b = (layer.bias.detach().cpu().double().numpy() if layer.bias is not None
         else np.zeros(w.shape[1]))
    v_th = float(np.max(n.v_thresh))
    base = 127.0 / max(np.abs(w).max(), 1e-30)
    shift = max(0, int(np.floor(np.log2(THRESHOLD_TARGET / (base * v_th)))))
    scale = base * 2**shift
    weights = np.clip(np.rint(base * w), -128, 127).astype(np.int64)
    threshold = np.full(w.shape[1], int(round(scale * v_th)), dtype=np.int64)
    bias = np.clip(np.rint(scale * b), *INT16).astype(np.int64)
    if threshold[0] > INT16[1]:
        raise ValueError(f"{where}: threshold {threshold[0]} exceeds int16")
    return weights, shift, dash_mem, threshold, bias


def quantize(net) -> XyloSpec:
    """Xylo's integer form of a trained two-layer ``snn.layers.Sequential`` (hidden LIF
    layer, LIF read-out)."""
    layers = list(net)
    if len(layers) != 2:
        raise ValueError(f"Xylo maps input -> hidden -> output: give two Linear layers, got "
                         f"{len(layers)}")
    w_in, shift_in, dm, th, b = _stage(layers[0], 0)
    w_out, shift_out, dm_out, th_out, b_out = _stage(layers[1], 1)
    if w_in.shape[1] > HIDDEN_MAX or w_out.shape[1] > OUTPUT_MAX:
        raise ValueError(f"Xylo (SYNS65302) has <= {HIDDEN_MAX} hidden and <= {OUTPUT_MAX} output "
                         f"neurons, the network has {w_in.shape[1]} and {w_out.shape[1]}")
    n_h, n_o = w_in.shape[1], w_out.shape[1]
    w3 = np.zeros((*w_in.shape, 2), dtype=np.int64)
    w3[..., 0] = w_in
    return XyloSpec(w3, w_out, np.full(n_h, dm), np.ones(n_h, np.int64), np.full(n_o, dm_out),
                    np.ones(n_o, np.int64), th, th_out, b, b_out, shift_in, shift_out,
                    float(layers[0].dt))


def _decay(x: np.ndarray, dash: np.ndarray) -> np.ndarray:
    step = x >> dash
    return x - np.where((x > 0) & (step == 0), 1, step)


def _fire(v: np.ndarray, threshold: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    n = np.where(v >= threshold, np.minimum(v // threshold, most), 0)
    return v - n * threshold, n


def simulate(spec: XyloSpec, spikes: np.ndarray) -> np.ndarray:
    """Output spike counts (steps, n_out) of ``spec`` on input counts ``spikes``
    (steps, n_in), from rest, as xylosim computes them."""
    w_in = spec.weights_in[..., 0]
    n_h, n_o = w_in.shape[1], spec.weights_out.shape[1]
    i_h, v_h = np.zeros(n_h, np.int64), np.zeros(n_h, np.int64)
    i_o, v_o = np.zeros(n_o, np.int64), np.zeros(n_o, np.int64)
    hidden = np.zeros(n_h, np.int64)
    out = np.zeros((spikes.shape[0], n_o), dtype=np.int64)
    for t, s in enumerate(np.asarray(spikes, dtype=np.int64)):
        i_o = np.clip(_decay(i_o + ((hidden @ spec.weights_out) << spec.weight_shift_out),
                             spec.dash_syn_out), *INT16)
        v_o = np.clip(_decay(v_o, spec.dash_mem_out) + i_o + spec.bias_out, *INT16)
        v_o, out[t] = _fire(v_o, spec.threshold_out, 1)
        i_h = np.clip(_decay(i_h + ((s @ w_in) << spec.weight_shift_in), spec.dash_syn), *INT16)
        v_h = np.clip(_decay(v_h, spec.dash_mem) + i_h + spec.bias, *INT16)
        v_h, hidden = _fire(v_h, spec.threshold, MAX_SPIKES)
    return out


def save_spec(spec: XyloSpec, path: str | os.PathLike) -> Path:
    """Write the specification as ``.npz`` (atomically); ``XyloSim.from_specification(**d)``
    takes its entries."""
    from snn.h5io import temporary_sibling

    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **spec.arrays())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


__all__ = ["XyloSpec", "quantize", "save_spec", "simulate"]
