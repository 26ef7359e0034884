"""Rate-based Hebbian weight-update terms: plain Hebb (optionally decayed and neuromodulated),
Oja's rule and SoftHebb's soft winner-take-all rule.

Each term is a frozen dataclass of parameters plus a pure function returning the weight
change ``dw`` for a weight matrix ``w`` of shape ``(post, pre)`` from presynaptic rates ``x``
``(batch, pre)`` and postsynaptic rates ``y`` ``(batch, post)`` (a single sample may be given
as 1-D vectors). Contributions of the samples of a batch are summed. Rates and weights are
dimensionless; learning rates are per update (per call).

Every function runs on torch tensors (CPU or CUDA, any float type, never recording an
autograd graph) with ``backend="torch"``, or on CPU tensors through compiled numba kernels
with ``backend="numba"`` (in place on the tensors' memory); both give the same result to
float round-off (tests compare them in float64).

SoftHebb (Journé et al., ICLR 2023; Moraitis et al. 2022), as in the official code:

- pre-activation ``u = x w^T``; soft WTA ``y = softmax(t_invert * u)`` over the neurons;
- anti-Hebbian losers (the paper's deep layers): ``ỹ_k = y_k`` for the neuron with the largest
  ``u``, ``ỹ_k = -y_k`` for the others (``anti_hebbian=False`` keeps ``ỹ = y``, the official
  MLP layer);
- ``Δw_k = Σ_n ỹ_nk (x_n - u_nk w_k)``, divided by ``max |Δw|`` over the whole matrix;
- ``dw_k = η_k Δw_k`` with the radius-dependent rate ``η_k = lr (|‖w_k‖ - 1| + 1e-10)^power_lr``,
  which vanishes as every weight vector reaches the unit sphere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numba import njit

from snn.validate import as_param

BACKENDS = ("torch", "numba")


# -- parameters ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HebbTerm:
    """Plain Hebb: ``dw = lr (Σ_n y_n x_n^T - decay w)``; ``decay`` >= 0 is a passive
    weight decay per update (dimensionless)."""

    lr: float = 0.01
    decay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", as_param("lr", self.lr, nonnegative=True))
        object.__setattr__(self, "decay", as_param("decay", self.decay, nonnegative=True))
        _check_scalar("lr", self.lr)
        _check_scalar("decay", self.decay)


@dataclass(frozen=True)
class OjaTerm:
    """Oja's rule for each postsynaptic neuron: ``dw_k = lr Σ_n y_nk (x_n - y_nk w_k)``, with
    ``y = x w^T`` (linear neurons) unless given; each ``w_k`` tends to the unit-norm first
    principal component of zero-mean ``x``."""

    lr: float = 0.01

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", as_param("lr", self.lr, nonnegative=True))
        _check_scalar("lr", self.lr)


@dataclass(frozen=True)
class SoftHebbTerm:
    """SoftHebb's soft-WTA Hebbian / anti-Hebbian rule (see the module docstring).

    ``lr``: base rate ``η0`` (0.045 in the official MNIST MLP); ``t_invert``: inverse softmax
    temperature ``1/τ`` (12 there); ``power_lr``: exponent of the radius-dependent rate (0.2 in
    the official MLP presets, 0.5 in the CNN demo); ``anti_hebbian``: negate the losers'
    activity; ``normalize``: divide ``Δw`` by its largest magnitude before the rate.
    """

    lr: float = 0.045
    t_invert: float = 12.0
    power_lr: float = 0.2
    anti_hebbian: bool = True
    normalize: bool = True

    def __post_init__(self) -> None:
        for name in ("lr", "t_invert", "power_lr"):
            value = as_param(name, getattr(self, name), nonnegative=name == "lr",
                             positive=name != "lr")
            _check_scalar(name, value)
            object.__setattr__(self, name, value)
        for name in ("anti_hebbian", "normalize"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")


def _check_scalar(name: str, value) -> None:
    if not isinstance(value, float):
        raise ValueError(f"{name} must be one number shared by all synapses, got an array")


# -- numba kernels (any float type; float64 is what the tests compare) -------------------------
@njit(cache=True, nogil=True)
def _outer_sum(y, x, out):
    """out = y^T x, i.e. Σ_n y_n x_n^T; the innermost loop runs along contiguous rows (SIMD)."""
    out[:, :] = 0.0
    for n in range(x.shape[0]):
        for k in range(y.shape[1]):
            a = y[n, k]
            if a != 0.0:
                for i in range(x.shape[1]):
                    out[k, i] += a * x[n, i]


@njit(cache=True, nogil=True)
def _hebb_kernel(w, x, y, lr, decay, out):
    """out = lr (y^T x - decay w); x (B, N), y (B, K), w and out (K, N)."""
    _outer_sum(y, x, out)
    for k in range(w.shape[0]):
        for i in range(w.shape[1]):
            out[k, i] = lr * (out[k, i] - decay * w[k, i])


@njit(cache=True, nogil=True)
def _oja_kernel(w, x, y, lr, out):
    """out = lr (y^T x - diag(Σ_n y_n^2) w)."""
    _outer_sum(y, x, out)
    batch, post = y.shape
    for k in range(post):
        yy = 0.0
        for n in range(batch):
            yy += y[n, k] * y[n, k]
        for i in range(w.shape[1]):
            out[k, i] = lr * (out[k, i] - yy * w[k, i])


@njit(cache=True, nogil=True)
def _soft_wta_kernel(u, t_invert, out):
    """out = softmax(t_invert * u) along each row (numerically stable)."""
    batch, post = u.shape
    for n in range(batch):
        top = u[n, 0]
        for k in range(1, post):
            top = max(top, u[n, k])
        total = 0.0
        for k in range(post):
            e = np.exp(t_invert * (u[n, k] - top))
            out[n, k] = e
            total += e
        for k in range(post):
            out[n, k] = out[n, k] / total


@njit(cache=True, nogil=True)
def _softhebb_sum_kernel(w, x, u, y, anti_hebbian, out):
    """SoftHebb's summed ``Δw`` (before normalisation and rate) from pre-activations ``u``
    (B, K) and soft-WTA activity ``y`` (B, K)."""
    batch, post = u.shape
    signed = y.copy()
    yu = np.zeros(post, dtype=u.dtype)
    for n in range(batch):
        if anti_hebbian:
            win = 0
            for k in range(1, post):
                if u[n, k] > u[n, win]:
                    win = k
            for k in range(post):
                if k != win:
                    signed[n, k] = -signed[n, k]
        for k in range(post):
            yu[k] += signed[n, k] * u[n, k]
    _outer_sum(signed, x, out)
    for k in range(post):
        for i in range(w.shape[1]):
            out[k, i] = out[k, i] - yu[k] * w[k, i]


@njit(cache=True, nogil=True)
def _softhebb_scale_kernel(w, lr, power_lr, normalize, out):
    """``out`` (the summed ``Δw``) divided by ``max |Δw|`` (with ``normalize``) and scaled by
    each neuron's radius-dependent rate, in place."""
    post = w.shape[0]
    biggest = 0.0
    for k in range(post):
        for i in range(w.shape[1]):
            biggest = max(biggest, abs(out[k, i]))
    scale = 1.0 / (biggest + 1e-30) if normalize else 1.0
    for k in range(post):
        sq = 0.0
        for i in range(w.shape[1]):
            sq += w[k, i] * w[k, i]
        eta = lr * (abs(np.sqrt(sq) - 1.0) + 1e-10) ** power_lr
        for i in range(w.shape[1]):
            out[k, i] = out[k, i] * scale * eta


# -- shape handling -----------------------------------------------------------------------------
def _as_batch(name: str, v: torch.Tensor, size: int, what: str) -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
    if v.dim() == 1:
        v = v.unsqueeze(0)
    if v.dim() != 2 or v.shape[1] != size:
        raise ValueError(f"{name} must have shape (batch, {size}) or ({size},) ({what}), "
                         f"got {tuple(v.shape)}")
    return v


def _check(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None, backend: str):
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        raise ValueError("w must be a 2-D torch.Tensor of shape (post, pre)")
    x = _as_batch("x", x, w.shape[1], "presynaptic rates")
    if y is not None:
        y = _as_batch("y", y, w.shape[0], "postsynaptic rates")
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"x and y must hold the same number of samples, got {x.shape[0]} and "
                             f"{y.shape[0]}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    tensors = [t for t in (w, x, y) if t is not None]
    if any(t.dtype != w.dtype or t.device != w.device for t in tensors):
        raise ValueError("w, x and y must share one dtype and device; convert them with .to(w)")
    if backend == "numba" and w.device.type != "cpu":
        raise ValueError("backend='numba' runs on CPU tensors; use backend='torch' on CUDA")
    return x, y


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


# -- update functions ---------------------------------------------------------------------------
@torch.no_grad()
def hebb_update(term: HebbTerm, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                backend: str = "torch") -> torch.Tensor:
    """``lr (Σ_n y_n x_n^T - decay w)``, shape of ``w``."""
    x, y = _check(w, x, y, backend)
    if backend == "numba":
        out = torch.empty_like(w)
        _hebb_kernel(_np(w), _np(x), _np(y), term.lr, term.decay, out.numpy())
        return out
    return term.lr * (y.t() @ x - term.decay * w)


@torch.no_grad()
def modulated_hebb_update(term: HebbTerm, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                          m: torch.Tensor | float, backend: str = "torch") -> torch.Tensor:
    """Three-factor Hebb: ``lr (Σ_n (m_n ⊙ y_n) x_n^T - decay w)``, the Hebbian eligibility
    ``y x^T`` gated by a broadcast neuromodulator ``m``: a scalar, one value per sample
    ``(batch,)``, per postsynaptic neuron ``(post,)`` (this reading wins when batch == post), or
    ``(batch, post)``."""
    x, y = _check(w, x, y, backend)
    m = torch.as_tensor(m, dtype=w.dtype, device=w.device)
    if m.dim() == 1 and m.shape[0] == y.shape[0] and m.shape[0] != y.shape[1]:
        m = m.unsqueeze(1)
    try:
        gated = torch.broadcast_to(m, y.shape) * y
    except RuntimeError as err:
        raise ValueError(f"m must be a scalar or have shape (batch,), (post,) or (batch, post) = "
                         f"{tuple(y.shape)}, got {tuple(m.shape)}") from err
    return hebb_update(term, w, x, gated, backend)


@torch.no_grad()
def oja_update(term: OjaTerm, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None = None,
               backend: str = "torch") -> torch.Tensor:
    """``lr Σ_n y_nk (x_n - y_nk w_k)`` for every neuron ``k``; ``y = x w^T`` unless given."""
    x, y = _check(w, x, y, backend)
    if y is None:
        y = x @ w.t()
    if backend == "numba":
        out = torch.empty_like(w)
        _oja_kernel(_np(w), _np(x), _np(y), term.lr, out.numpy())
        return out
    return term.lr * (y.t() @ x - (y * y).sum(0).unsqueeze(1) * w)


@torch.no_grad()
def soft_wta(term: SoftHebbTerm, u: torch.Tensor, backend: str = "torch") -> torch.Tensor:
    """The soft winner-take-all activity ``softmax(t_invert * u)`` over the last axis."""
    if backend == "numba":
        flat = u.detach().reshape(-1, u.shape[-1]).contiguous()
        out = torch.empty_like(flat)
        _soft_wta_kernel(flat.numpy(), term.t_invert, out.numpy())
        return out.reshape(u.shape)
    return torch.softmax(term.t_invert * u, dim=-1)


def radius_lr(term: SoftHebbTerm, w: torch.Tensor) -> torch.Tensor:
    """Per-neuron rate ``lr (|‖w_k‖ - 1| + 1e-10)^power_lr``, shape ``(post,)``."""
    norm = torch.linalg.vector_norm(w.detach(), dim=1)
    return term.lr * ((norm - 1).abs() + 1e-10) ** term.power_lr


@torch.no_grad()
def softhebb_update(term: SoftHebbTerm, w: torch.Tensor, x: torch.Tensor,
                    y: torch.Tensor | None = None, backend: str = "torch",
                    reduce: Callable[[torch.Tensor], None] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """SoftHebb's weight change and the pre-activations: ``(dw, u)`` with ``u = x w^T``.

    ``y`` is the soft-WTA activity, ``soft_wta(term, u)`` unless given (a spiking layer passes
    its spike rates); losers are negated inside when ``term.anti_hebbian``. ``reduce``, if
    given, is called on the batch's summed ``Δw`` before the normalisation and may change it in
    place (data-parallel training adds the other processes' sums:
    :func:`rules.distributed.all_reduce_sum`)."""
    x, y = _check(w, x, y, backend)
    u = x @ w.t()
    if y is None:
        y = soft_wta(term, u, backend)
    if backend == "numba":
        out = torch.empty_like(w)
        _softhebb_sum_kernel(_np(w), _np(x), _np(u), _np(y), term.anti_hebbian, out.numpy())
        if reduce is not None:
            reduce(out)
        _softhebb_scale_kernel(_np(w), term.lr, term.power_lr, term.normalize, out.numpy())
        return out, u
    if term.anti_hebbian:
        sign = torch.full_like(y, -1.0).scatter_(1, u.argmax(1, keepdim=True), 1.0)
        y = y * sign
    dw = y.t() @ x - (y * u).sum(0).unsqueeze(1) * w
    if reduce is not None:
        reduce(dw)
    if term.normalize:
        dw = dw / (dw.abs().amax() + 1e-30)
    return radius_lr(term, w).unsqueeze(1) * dw, u


__all__ = ["BACKENDS", "HebbTerm", "OjaTerm", "SoftHebbTerm", "hebb_update", "modulated_hebb_update",
           "oja_update", "radius_lr", "soft_wta", "softhebb_update"]
