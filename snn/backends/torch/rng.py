"""The counter-based random numbers of :mod:`snn.backends.numba_rng`, on int64 tensors.

uint64 arithmetic is done in int64: multiplication and addition wrap identically in two's
complement, and right shifts are made logical by masking, so the bits equal numba's.

Keys that are Python integers are mixed on the host and enter the tensor arithmetic as
scalars, so no host data is copied to the device: the functions can run inside a CUDA graph
capture when the step ``k`` is a device tensor. ``stream`` may be a tensor too (one stream
per sample of a batch, e.g. shape ``(batch, 1)``).
"""

from __future__ import annotations

import torch

from snn.backends.torch.libm import log1p  # the C library's log1p, as the numba kernels

_MASK = (1 << 64) - 1


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


def _mix_int(z: int) -> int:
    """:func:`_mix` on a Python integer (uint64 bits)."""
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _wrap(x: int) -> int:
    x &= (1 << 64) - 1
    return _signed(x)


def _add_key(z: torch.Tensor | int, key: torch.Tensor | int, device) -> torch.Tensor:
    """``mix(z + (key + 1) * GOLDEN)`` with Python integers folded on the host."""
    if isinstance(key, int) and isinstance(z, int):
        z = _wrap(_mix_int(z + (key + 1) * _GOLDEN))
        return torch.full((), z, dtype=torch.int64, device=device)
    if isinstance(key, int):
        return _mix(z + _wrap((key + 1) * _GOLDEN))
    key = torch.as_tensor(key, dtype=torch.int64, device=device)
    return _mix(z + (key + 1) * _GOLDEN)


def uniform01(seed: int, stream: torch.Tensor | int, a: torch.Tensor | int, b: torch.Tensor | int,
              device=None) -> torch.Tensor:
    """Uniform floats in [0, 1), equal bit for bit to numba_rng.uniform01 for the same keys."""
    if isinstance(stream, torch.Tensor):
        z = _mix(_wrap(seed) + (stream.to(torch.int64) + 1) * _GOLDEN)
    else:
        z = _wrap(_mix_int(seed + _GOLDEN * (stream + 1)))
    return _shr(_add_key(_add_key(z, a, device), b, device), 11).to(torch.float64) * (
        1.0 / 9007199254740992.0)


def geometric_steps(u: torch.Tensor, p: torch.Tensor | float) -> torch.Tensor:
    """Steps to the next event of a Bernoulli(p) per-step process (>= 1), as numba_rng."""
    if not isinstance(p, torch.Tensor):
        p = torch.full((), float(p), dtype=torch.float64, device=u.device)
    p = p.to(torch.float64)
    steps = 1 + torch.floor(log1p(-u) / log1p(-p.clamp(max=1.0 - 1e-16)))
    steps = torch.where(p >= 1.0, torch.ones_like(steps), steps)
    never = torch.full_like(steps, float(1 << 62))
    return torch.where(p <= 0.0, never, steps).to(torch.int64)
