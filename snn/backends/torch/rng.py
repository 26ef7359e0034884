"""The counter-based random numbers of :mod:`snn.backends.numba_rng`, on int64 tensors.

uint64 arithmetic is done in int64: multiplication and addition wrap identically in two's
complement, and right shifts are made logical by masking, so the bits equal numba's.
"""

from __future__ import annotations

import torch

from snn.backends.torch.libm import log1p  # the C library's log1p, as the numba kernels


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


_M1 = _signed(0xBF58476D1CE4E5B9)
_M2 = _signed(0x94D049BB133111EB)
_GOLDEN = _signed(0x9E3779B97F4A7C15)


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    return (z >> s) & ((1 << (64 - s)) - 1)


def _mix(z: torch.Tensor) -> torch.Tensor:
    z = (z ^ _shr(z, 30)) * _M1
    z = (z ^ _shr(z, 27)) * _M2
    return z ^ _shr(z, 31)


def _wrap(x: int) -> int:
    x &= (1 << 64) - 1
    return _signed(x)


def uniform01(seed: int, stream: int, a: torch.Tensor | int, b: torch.Tensor | int,
              device=None) -> torch.Tensor:
    """Uniform floats in [0, 1), equal bit for bit to numba_rng.uniform01 for the same keys."""
    a = torch.as_tensor(a, dtype=torch.int64, device=device)
    b = torch.as_tensor(b, dtype=torch.int64, device=device)
    z = _mix(torch.tensor(_wrap(seed + _GOLDEN * (stream + 1)), dtype=torch.int64, device=device))
    z = _mix(z + (a + 1) * _GOLDEN)
    z = _mix(z + (b + 1) * _GOLDEN)
    return _shr(z, 11).to(torch.float64) * (1.0 / 9007199254740992.0)


def geometric_steps(u: torch.Tensor, p: torch.Tensor | float) -> torch.Tensor:
    """Steps to the next event of a Bernoulli(p) per-step process (>= 1), as numba_rng."""
    p = torch.as_tensor(p, dtype=torch.float64, device=u.device)
    steps = 1 + torch.floor(log1p(-u) / log1p(-p.clamp(max=1.0 - 1e-16)))
    steps = torch.where(p >= 1.0, torch.ones_like(steps), steps)
    never = torch.full_like(steps, float(1 << 62))
    return torch.where(p <= 0.0, never, steps).to(torch.int64)
