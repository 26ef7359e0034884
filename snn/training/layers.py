"""Layers for data-set training, built on the engine's neuron models.

Every layer maps a ``(T, batch, ...)`` tensor to a ``(T, batch, ...)`` tensor: ``T`` steps of
a mini-batch at once. A synaptic layer (``Linear``, ``Conv2d``) computes the input current of
all steps in one matrix product (inputs do not depend on the layer's own past), then runs its
neuron model (any model with a ``"training"`` implementation, e.g. :class:`~snn.models.LIF` or the
non-spiking :class:`~snn.models.LI` read-out) through all steps. ``RecurrentLinear`` adds
recurrent weights and steps through time. Stack layers in :class:`Sequential`.

Example (snnTorch's tutorial network)::

    net = Sequential(Linear(784, 500, LIF.from_beta(0.95)), Linear(500, 10, LIF.from_beta(0.95)))
    spikes = net(rate(images, T=25))            # (25, batch, 10)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from snn.backends import implementation_for
from snn.models import NeuronModel
from snn.training.surrogate import FastSigmoid, Surrogate
from snn.validate import check_int, check_positive_time

DEFAULT_DT = 1e-3


def mark_binary(x: torch.Tensor) -> torch.Tensor:
    """Flag ``x`` as holding only 0 and 1 (spikes), so a synaptic layer reading it keeps it as
    bool for its backward pass. Encoders and spiking layers mark their outputs."""
    x._synaptica_binary = True
    return x


def _is_binary(x: torch.Tensor) -> bool:
    return getattr(x, "_synaptica_binary", False)


class _SpikeLinear(torch.autograd.Function):
    """``x @ W.T + b`` that keeps a binary input as bool for the weight gradient (4x less
    memory than float32)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        flat = x.reshape(-1, x.shape[-1])
        out = flat @ weight.t() if bias is None else torch.addmm(bias, flat, weight.t())
        out = out.reshape(*x.shape[:-1], weight.shape[0])
        binary = _is_binary(x)
        ctx.save_for_backward(x.bool() if binary else x, weight)
        ctx.dtype, ctx.has_bias = x.dtype, bias is not None
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        x = x.to(ctx.dtype)
        g2 = grad.reshape(-1, grad.shape[-1])
        grad_x = grad @ weight if ctx.needs_input_grad[0] else None
        grad_w = g2.t() @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[1] else None
        grad_b = g2.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


class _SpikeConv2d(torch.autograd.Function):
    """2-D convolution that keeps a binary input as bool for the weight gradient."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        out = torch.nn.functional.conv2d(x, weight, bias, stride, padding)
        binary = _is_binary(x)
        ctx.save_for_backward(x.bool() if binary else x, weight)
        ctx.dtype, ctx.stride, ctx.padding = x.dtype, stride, padding
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        x = x.to(ctx.dtype)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = torch.nn.grad.conv2d_input(x.shape, weight, grad, ctx.stride, ctx.padding)
        if ctx.needs_input_grad[1]:
            gw = torch.nn.grad.conv2d_weight(x, weight.shape, grad, ctx.stride, ctx.padding)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad.sum((0, 2, 3))
        return gx, gw, gb, None, None


class SpikingLayer(nn.Module):
    """Base of synaptic layers: a neuron model run at time step ``dt`` (s)."""

    def __init__(self, neuron: NeuronModel, dt: float = DEFAULT_DT,
                 surrogate: Surrogate | None = None, detach_reset: bool = False,
                 param_shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        if not isinstance(neuron, NeuronModel):
            raise TypeError(f"neuron must be a neuron model such as LIF.from_beta(0.9), got {neuron!r}")
        self.dt = check_positive_time("dt", dt)
        neuron.check_dt(self.dt)
        self.neuron = neuron
        self.impl = implementation_for(neuron, "training")
        self.impl.constants(neuron, self.dt)  # validates what the layer can run
        self.surrogate = surrogate if surrogate is not None else FastSigmoid()
        if not isinstance(self.surrogate, Surrogate):
            raise TypeError(f"surrogate must be a snn.surrogate.Surrogate, got {surrogate!r}")
        self.detach_reset = bool(detach_reset)
        self.neuron_params = nn.ParameterDict(
            {k: nn.Parameter(v) for k, v in self.impl.parameters(neuron, param_shape, self.dt).items()})

    @property
    def spiking(self) -> bool:
        """False for read-out layers that output a membrane potential."""
        return self.impl.spiking

    def dynamics(self, current: torch.Tensor, state: dict | None = None, chunked: bool = False):
        """Run the neuron model over all steps of ``current`` (T, batch, ...). With
        ``chunked``, start from ``state`` and return ``(output, state after the last step)``."""
        params = dict(self.neuron_params)
        if chunked:
            out, state = self.impl.sequence_with_state(self.neuron, current, self.dt, self.surrogate,
                                                       self.detach_reset, params, state)
        else:
            out = self.impl.sequence(self.neuron, current, self.dt, self.surrogate,
                                     self.detach_reset, params)
        out = mark_binary(out) if self.spiking else out
        return (out, state) if chunked else out

    def forward_chunk(self, x: torch.Tensor, state: dict | None):
        """Steps ``x`` (a chunk of time) from ``state``; returns (output, state)."""
        return self.dynamics(self.synapses(x), state, chunked=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dynamics(self.synapses(x))

    def synapses(self, x: torch.Tensor) -> torch.Tensor:
        """The input current of every step of ``x``."""
        raise NotImplementedError


def _check_steps(x: torch.Tensor, dims: int, name: str) -> None:
    if x.dim() != dims:
        raise ValueError(
            f"{name} expects input of shape (T, batch, ...) with {dims} dimensions, got shape "
            f"{tuple(x.shape)}; encode static inputs over T steps first (snn.encoding.rate)"
        )


class Linear(SpikingLayer):
    """Dense synapses onto ``out_features`` neurons of ``neuron``."""

    def __init__(self, in_features: int, out_features: int, neuron: NeuronModel,
                 dt: float = DEFAULT_DT, surrogate: Surrogate | None = None, bias: bool = True,
                 detach_reset: bool = False) -> None:
        super().__init__(neuron, dt, surrogate, detach_reset,
                         (check_int("out_features", out_features, minimum=1),))
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.out_features = check_int("out_features", out_features, minimum=1)
        neuron.check_size(out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's ``nn.Linear`` initialisation."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    def synapses(self, x: torch.Tensor) -> torch.Tensor:
        _check_steps(x, 3, "Linear")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear expects {self.in_features} input features, got {x.shape[-1]}")
        return _SpikeLinear.apply(x, self.weight, self.bias)


class Conv2d(SpikingLayer):
    """Convolutional synapses onto a (channels, height, width) grid of ``neuron``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, neuron: NeuronModel,
                 stride: int = 1, padding: int = 0, dt: float = DEFAULT_DT,
                 surrogate: Surrogate | None = None, bias: bool = True,
                 detach_reset: bool = False) -> None:
        super().__init__(neuron, dt, surrogate, detach_reset,
                         (check_int("out_channels", out_channels, minimum=1), 1, 1))
        conv = nn.Conv2d(check_int("in_channels", in_channels, minimum=1),
                         check_int("out_channels", out_channels, minimum=1),
                         check_int("kernel_size", kernel_size, minimum=1),
                         stride=check_int("stride", stride, minimum=1),
                         padding=check_int("padding", padding, minimum=0), bias=bias)
        self.weight, self.bias = conv.weight, conv.bias
        self.stride, self.padding = (stride, stride), (padding, padding)

    def synapses(self, x: torch.Tensor) -> torch.Tensor:
        _check_steps(x, 5, "Conv2d")
        steps, batch = x.shape[:2]
        flat = x.reshape(steps * batch, *x.shape[2:])
        if _is_binary(x):
            mark_binary(flat)
        out = _SpikeConv2d.apply(flat, self.weight, self.bias, self.stride, self.padding)
        return out.reshape(steps, batch, *out.shape[1:])


class RecurrentLinear(Linear):
    """``Linear`` plus recurrent weights from the layer's own spikes of the previous step."""

    def __init__(self, in_features: int, out_features: int, neuron: NeuronModel, **kwargs) -> None:
        super().__init__(in_features, out_features, neuron, **kwargs)
        self.recurrent = nn.Parameter(torch.zeros(out_features, out_features))
        nn.init.orthogonal_(self.recurrent, gain=0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_chunk(x, None)[0]

    def forward_chunk(self, x: torch.Tensor, state: dict | None):
        feed = self.synapses(x)
        consts = self.impl.constants(self.neuron, self.dt, x.device, x.dtype)
        if state is None:
            state = {"neuron": self.impl.initial_state(self.neuron, feed[0]),
                     "out": feed[0].new_zeros(feed[0].shape)}
        inner, out = state["neuron"], state["out"]
        outputs = []
        for k in range(x.shape[0]):
            out, inner = self.impl.step(self.neuron, consts, feed[k] + out @ self.recurrent.t(),
                                        inner, self.surrogate, self.detach_reset,
                                        dict(self.neuron_params))
            outputs.append(out)
        out_all = torch.stack(outputs)
        out_all = mark_binary(out_all) if self.spiking else out_all
        return out_all, {"neuron": inner, "out": out}


class _PerStep(nn.Module):
    """Applies a stateless module to every step (merging T and batch)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[:2]
        out = self.module(x.reshape(steps * batch, *x.shape[2:]))
        out = out.reshape(steps, batch, *out.shape[1:])
        # Max pooling of spikes is still spikes; averaging is not.
        return mark_binary(out) if _is_binary(x) and isinstance(self.module, nn.MaxPool2d) else out


class AvgPool2d(_PerStep):
    """Average pooling of each step's (channels, height, width) maps."""

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__(nn.AvgPool2d(kernel_size, stride))


class MaxPool2d(_PerStep):
    """Max pooling of each step's maps (of spikes: an OR over the window)."""

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__(nn.MaxPool2d(kernel_size, stride))


class Flatten(nn.Module):
    """``(T, batch, ...)`` to ``(T, batch, features)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.reshape(x.shape[0], x.shape[1], -1)
        return mark_binary(out) if _is_binary(x) else out


class Dense(nn.Module):
    """A non-spiking fully connected layer, ``activation(x @ W.T + b)`` at every step: the
    artificial-network baseline that local rules and BPTT are also compared on.

    ``activation``: ``"relu"`` or ``None`` (linear, e.g. for scores).
    """

    def __init__(self, in_features: int, out_features: int, activation: str | None = "relu",
                 bias: bool = True) -> None:
        super().__init__()
        if activation not in ("relu", None):
            raise ValueError(f"activation must be 'relu' or None, got {activation!r}")
        self.linear = nn.Linear(check_int("in_features", in_features, minimum=1),
                                check_int("out_features", out_features, minimum=1), bias=bias)
        self.activation = activation

    @property
    def weight(self) -> nn.Parameter:
        return self.linear.weight

    @property
    def bias(self) -> nn.Parameter | None:
        return self.linear.bias

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_steps(x, 3, "Dense")
        out = self.linear(x)
        return torch.relu(out) if self.activation == "relu" else out


def relu_mlp(sizes: list[int]) -> Sequential:
    """``Dense`` ReLU layers ``sizes[0] - ... - sizes[-1]`` with a linear last layer."""
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"sizes must list at least two positive layer sizes, got {sizes}")
    last = len(sizes) - 2
    return Sequential(*(Dense(a, b, activation=None if i == last else "relu")
                        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))))


class Sequential(nn.Sequential):
    """Layers applied in order to a ``(T, batch, ...)`` tensor.

    ``chunk_steps`` (default None: all steps at once) runs every layer on chunks of that many
    time steps in turn, carrying each layer's state from chunk to chunk; results and
    gradients are the same, and long sequences stay in the processor's cache.
    """

    def __init__(self, *layers: nn.Module, chunk_steps: int | None = None) -> None:
        super().__init__(*layers)
        self.chunk_steps = None if chunk_steps is None else check_int("chunk_steps", chunk_steps,
                                                                      minimum=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.chunk_steps is None or x.shape[0] <= self.chunk_steps:
            return super().forward(x)
        states: list[dict | None] = [None] * len(self)
        outputs = []
        for start in range(0, x.shape[0], self.chunk_steps):
            h = x[start:start + self.chunk_steps]
            if _is_binary(x):
                mark_binary(h)
            for n, layer in enumerate(self):
                if isinstance(layer, SpikingLayer):
                    h, states[n] = layer.forward_chunk(h, states[n])
                else:
                    h = layer(h)
            outputs.append(h)
        out = torch.cat(outputs)
        return mark_binary(out) if _is_binary(outputs[0]) else out

    @property
    def output_is_membrane(self) -> bool:
        """True when the last synaptic layer is a non-spiking read-out."""
        layers = [m for m in self if isinstance(m, (SpikingLayer, Dense))]
        return bool(layers) and (isinstance(layers[-1], Dense) or not layers[-1].spiking)


__all__ = [
    "AvgPool2d", "Conv2d", "Dense", "Flatten", "Linear", "MaxPool2d", "RecurrentLinear", "Sequential",
    "SpikingLayer", "mark_binary", "relu_mlp",
]
