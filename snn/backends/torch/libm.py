"""The transcendental functions of the numba kernels (``exp``, ``log``, ``log1p``) on tensors.

The generated numba kernels call the C library's functions one element at a time. torch's CPU
kernels use their own vectorised approximations (SLEEF or MKL), accurate to about an ulp but
different from the C library in the last bit for a few per cent of float64 inputs; in a
model's state such a difference does not stay put, so the torch simulation backend could not
reproduce the numba backend bit for bit. For float64 tensors on the CPU these functions
therefore run numba-compiled element loops, which make the same C library calls as the
kernels; for other dtypes and devices (float32, CUDA) they are torch's own, and agree to
rounding only (as everything else there does).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import vectorize


@vectorize(["float64(float64)"], cache=True)
def _exp(x):
    return np.exp(x)


@vectorize(["float64(float64)"], cache=True)
def _log(x):
    return np.log(x)


@vectorize(["float64(float64)"], cache=True)
def _log1p(x):
    return np.log1p(x)


def _apply(kernel, fallback, x: torch.Tensor) -> torch.Tensor:
    if x.device.type == "cpu" and x.dtype == torch.float64 and not x.requires_grad:
        return torch.from_numpy(np.asarray(kernel(x.contiguous().numpy())))
    return fallback(x)


def exp(x: torch.Tensor) -> torch.Tensor:
    """``exp`` elementwise; equal to the numba kernels' for float64 on the CPU."""
    return _apply(_exp, torch.exp, x)


def log(x: torch.Tensor) -> torch.Tensor:
    """``log`` elementwise; equal to the numba kernels' for float64 on the CPU."""
    return _apply(_log, torch.log, x)


def log1p(x: torch.Tensor) -> torch.Tensor:
    """``log1p`` elementwise; equal to the numba kernels' for float64 on the CPU."""
    return _apply(_log1p, torch.log1p, x)


__all__ = ["exp", "log", "log1p"]
