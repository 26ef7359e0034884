"""SpikingJelly's version of the BPTT benchmark network (``synaptica bench bptt --vs
spikingjelly``).

The network of :func:`rules.bench.bench_bptt` (``Linear`` layers, each followed by a LIF layer,
spike counts of the last layer as the scores) built from SpikingJelly's multi-step
``LIFNode`` (``step_mode="m"``: one call runs all ``T`` steps of a layer), with our weights.
Our LIF is ``v = beta v + I``, a spike when ``v`` reaches 1 and a subtractive reset; in
SpikingJelly's terms that is ``decay_input=False`` (``H = V - V / tau + X``), ``tau = 1 / (1 -
beta)``, ``v_threshold=1`` and ``v_reset=None`` (soft reset), with the reset's gradient kept
(``detach_reset=False``, as ours).

SpikingJelly picks its implementation from the tensors' device: on the CPU its torch code, on
CUDA its compiled CUDA kernels or its Triton kernels (``SJ_LIF_CUDA_IMPLEMENTATION`` = ``auto``,
``cuda``, ``triton`` or ``torch`` chooses). Those kernels exist for its built-in surrogates
only, so :func:`jelly_surrogate` maps ours to the built-in of the same function:
``Sigmoid(slope)`` and ``ArcTan(slope)`` exactly; ``FastSigmoid(slope)`` (``1 / (1 + slope
|x|)^2``) to ``SoftSign(alpha=slope)``, the same shape scaled by ``slope / 2`` (SpikingJelly
has no unscaled one), which changes gradients but not the work of a training step.

Install: ``pip install --no-deps spikingjelly==2.0.0 "loguru>=0.7,<1"`` (docs/benchmarks.md:
SpikingJelly declares torchvision and torchaudio, which would replace a CPU build of torch,
and its neuron and surrogate modules import neither).
"""

from __future__ import annotations

import os

import torch
from torch import nn


def jelly_surrogate(ours):
    """SpikingJelly's kernel-backed surrogate for ours (``snn.surrogate``): ``(surrogate,
    exact)``, ``exact`` False when it is the same shape but another scale (fast sigmoid)."""
    from spikingjelly.activation_based import surrogate

    from snn.surrogate import ArcTan, FastSigmoid, Sigmoid

    if isinstance(ours, Sigmoid):
        return surrogate.Sigmoid(alpha=ours.slope), True
    if isinstance(ours, ArcTan):
        return surrogate.ATan(alpha=ours.slope), True
    if isinstance(ours, FastSigmoid):
        return surrogate.SoftSign(alpha=ours.slope), False
    raise ValueError(f"SpikingJelly has no built-in surrogate for {type(ours).__name__}; use "
                     "Sigmoid, ArcTan or FastSigmoid")


class JellyMLP(nn.Module):
    """``Linear`` + SpikingJelly multi-step ``LIFNode`` layers; ``forward(x)`` takes spikes
    ``(T, batch, inputs)`` and returns the last layer's spike counts ``(batch, outputs)``."""

    def __init__(self, sizes: list[int], beta: float, surrogate_function) -> None:
        super().__init__()
        from spikingjelly.activation_based import neuron

        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must lie in (0, 1) for SpikingJelly's LIF (tau = 1 / (1 - "
                             f"beta) > 1), got {beta}")
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.lifs = nn.ModuleList(
            neuron.LIFNode(tau=1.0 / (1.0 - beta), decay_input=False, v_threshold=1.0,
                           v_reset=None, surrogate_function=surrogate_function,
                           detach_reset=False, step_mode="m")
            for _ in self.fcs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self)  # every call starts from rest, as ours and snnTorch's
        h = x
        for fc, lif in zip(self.fcs, self.lifs, strict=True):
            h = lif(fc(h))  # nn.Linear maps the last axis of (T, batch, n) at once
        return h.sum(0)


def twin(sizes: list[int], ours, beta: float, surrogate) -> tuple[JellyMLP, bool]:
    """SpikingJelly's network with the weights of ``ours`` (a sequence of our ``Linear``
    layers) and the surrogate matching ``surrogate``; ``(network, exact surrogate)``."""
    fn, exact = jelly_surrogate(surrogate)
    net = JellyMLP([int(s) for s in sizes], beta, fn).to(ours[0].weight.device)
    with torch.no_grad():
        for fc, layer in zip(net.fcs, ours, strict=True):
            fc.weight.copy_(layer.weight)
            fc.bias.copy_(layer.bias)
    return net, exact


def implementation(device: str) -> str:
    """Which SpikingJelly LIF code runs on ``device``: ``"torch (CPU)"`` or, on CUDA, the
    ``SJ_LIF_CUDA_IMPLEMENTATION`` request (``auto`` tries its compiled CUDA kernels, then
    Triton, then torch) and, once a step has run, what SpikingJelly selected (``"cuda:auto ->
    triton"``; read from its private selection table, so absent if that changes)."""
    if not str(device).startswith("cuda"):
        return "torch (CPU)"
    requested = "cuda:" + os.environ.get("SJ_LIF_CUDA_IMPLEMENTATION", "auto")
    try:
        from spikingjelly._ops.lif import _selection

        chosen = sorted({s.name for s in _selection._selections.values() if s is not None})
    except (ImportError, AttributeError):
        chosen = []
    return requested + (f" -> {','.join(chosen)}" if chosen else "")


def version() -> str:
    """The installed SpikingJelly version."""
    from importlib.metadata import version as dist_version

    return dist_version("spikingjelly")


__all__ = ["JellyMLP", "implementation", "jelly_surrogate", "twin", "version"]
