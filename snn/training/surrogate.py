"""Surrogate gradients for hard-threshold spikes.

A spike is ``s = H(x)`` with ``x = v - v_thresh`` (``H(0) = 0``, as snnTorch); its derivative is
replaced in the backward pass by a smooth ``g(x)`` chosen here. Each surrogate is a small
immutable record with a ``slope`` (per unit of ``x``); calling it on a tensor returns spikes::

    spikes = FastSigmoid(slope=25.0)(v - v_thresh)

``FastSigmoid``, ``ArcTan`` and ``Sigmoid`` have the same form and default slope as snnTorch's
``fast_sigmoid``, ``atan`` and ``sigmoid`` (a test checks the gradients agree).
``StraightThrough`` is the windowed identity (box) and ``Triangle`` the triangle of
Bengio et al. (2013); both have unit area, as has ``DSpike`` (Li et al. 2021, a tanh-shaped
window with temperature ``slope``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from snn.training import fused_cpu
from snn.validate import as_param


@dataclass(frozen=True)
class Surrogate:
    """Base class: Heaviside forward, ``derivative(x)`` backward.

    ``compiled_kind`` names the built-in formula for the compiled CPU loops
    (:mod:`snn.training.fused_cpu`); a user-defined surrogate leaves it None and runs through torch.
    """

    slope: float = 1.0
    compiled_kind: ClassVar[int | None] = None

    def __post_init__(self) -> None:
        as_param(f"{type(self).__name__}.slope", self.slope, positive=True)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """The surrogate ``g(x)`` used in place of ``dH/dx``."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _Spike.apply(x, self)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """``g(x) = 1 / (1 + slope |x|)^2`` (Zenke & Ganguli's SuperSpike; snnTorch default 25)."""

    compiled_kind: ClassVar[int | None] = fused_cpu.FAST_SIGMOID
    slope: float = 25.0

    def derivative(self, x):
        return 1.0 / (self.slope * x.abs() + 1.0) ** 2


@dataclass(frozen=True)
class ArcTan(Surrogate):
    """``g(x) = (slope / 2) / (1 + (pi slope x / 2)^2)``, the derivative of
    ``atan(pi slope x / 2) / pi`` (snnTorch's ``atan`` with ``alpha = slope``, default 2)."""

    compiled_kind: ClassVar[int | None] = fused_cpu.ARCTAN
    slope: float = 2.0

    def derivative(self, x):
        return (self.slope / 2) / (1 + (math.pi / 2 * self.slope * x) ** 2)


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """``g(x) = slope * sigma(slope x) * (1 - sigma(slope x))`` (snnTorch default slope 25)."""

    compiled_kind: ClassVar[int | None] = fused_cpu.SIGMOID
    slope: float = 25.0

    def derivative(self, x):
        s = torch.sigmoid(self.slope * x)
        return self.slope * s * (1 - s)


@dataclass(frozen=True)
class StraightThrough(Surrogate):
    """Windowed straight-through estimator: ``g(x) = slope`` for ``|x| < 1 / (2 slope)``, else
    0 (unit area; ``slope = 1`` passes the gradient unchanged within ``|x| < 0.5``)."""

    compiled_kind: ClassVar[int | None] = fused_cpu.STRAIGHT_THROUGH
    slope: float = 1.0

    def derivative(self, x):
        return (x.abs() < 0.5 / self.slope).to(x.dtype) * self.slope


@dataclass(frozen=True)
class Triangle(Surrogate):
    """``g(x) = slope * max(0, 1 - slope |x|)``: a triangle of half-width ``1 / slope`` and
    unit area."""

    compiled_kind: ClassVar[int | None] = fused_cpu.TRIANGLE
    slope: float = 1.0

    def derivative(self, x):
        return self.slope * torch.clamp(1 - self.slope * x.abs(), min=0)


@dataclass(frozen=True)
class DSpike(Surrogate):
    """The Differentiable Spike of Li et al. (2021) as a surrogate: with temperature
    ``b = slope``, ``g(x) = b / (2 tanh(b / 2)) / cosh(b x)^2`` for ``|x| <= 1/2``, else 0.

    ``g`` is the derivative of the DSpike function ``tanh(b x) / (2 tanh(b / 2)) + 1/2``, which
    runs from 0 to 1 across the window ``|x| <= 1/2`` (Li et al.'s membrane window [0, 1] with
    the threshold at its centre), so the area is 1 for every ``b``; ``b -> 0`` is the
    straight-through box of width 1, large ``b`` approaches the Heaviside step. Li et al. learn
    ``b``; here it is fixed (default 4, the initial temperature of the UltraLIF paper's DSpike
    baselines).
    """

    slope: float = 4.0

    def derivative(self, x):
        b = self.slope
        inside = (x.abs() <= 0.5).to(x.dtype)
        return inside * (b / (2.0 * math.tanh(b / 2.0))) / torch.cosh(b * x) ** 2


SURROGATES: dict[str, type[Surrogate]] = {
    "fast_sigmoid": FastSigmoid, "arctan": ArcTan, "sigmoid": Sigmoid,
    "straight_through": StraightThrough, "triangle": Triangle, "dspike": DSpike,
}


def surrogate(name: str, slope: float | None = None) -> Surrogate:
    """A surrogate by name (``fast_sigmoid``, ``arctan``, ``sigmoid``, ``straight_through``,
    ``triangle``, ``dspike``), with its default slope unless ``slope`` is given."""
    if name not in SURROGATES:
        raise ValueError(f"surrogate {name!r} is unknown; choose from {', '.join(SURROGATES)}")
    cls = SURROGATES[name]
    return cls() if slope is None else cls(slope=slope)


__all__ = ["ArcTan", "DSpike", "FastSigmoid", "Sigmoid", "StraightThrough", "Surrogate", "Triangle",
           "surrogate", "SURROGATES"]
