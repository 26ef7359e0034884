"""Training steps of the ultradiscretized neurons (:class:`~snn.models.UltraLIF`,
:class:`~snn.models.UltraDLIF`).

They are smooth everywhere and trained with their exact gradients (autograd through the
forward function; the layer's surrogate is ignored). Their output is real-valued in (0, 1),
so they declare ``spiking = False``: a layer must not mark it binary (a synaptic layer would
store a binary input as bool for the weight gradient). As a last layer this means
:class:`~snn.training.layers.Sequential` reports ``output_is_membrane``; pass
``decoder="count"`` to BPTT to sum the outputs instead of taking their maximum. The torch
simulation steps are in :mod:`snn.backends.torch.neurons`.
"""

from __future__ import annotations

import numpy as np
import torch

from snn.backends import implements
from snn.models import _LOG_TAU_RANGE, UltraDLIF, UltraLIF
from snn.training.neurons import TrainingNeuron, _param


def _lse2(a: torch.Tensor, b: torch.Tensor, eps) -> torch.Tensor:
    """``eps log(exp(a/eps) + exp(b/eps))`` without overflow (the numba formula)."""
    return torch.maximum(a, b) + eps * torch.log1p(torch.exp(-(a - b).abs() / eps))


def _lse3(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, eps) -> torch.Tensor:
    """Three-term LSE shifted by the (gradient-free) maximum; its value does not depend on
    the shift, so detaching it keeps the gradient exact."""
    m = torch.maximum(torch.maximum(a, b), c).detach()
    return m + eps * torch.log(torch.exp((a - m) / eps) + torch.exp((b - m) / eps)
                               + torch.exp((c - m) / eps))


class _TrainingUltra(TrainingNeuron):
    """Shared by UltraLIF and UltraDLIF: temperature and tau, learned or fixed."""

    spiking = False  # real-valued outputs: never marked binary

    def constants(self, model, dt, device=None, dtype=torch.float32):
        return {"eps": float(model.eps), "tau": float(model.tau),
                "log_tau": float(np.log(model.tau)),
                "theta": _param(model.theta, device, dtype),
                "eps_min": float(model.eps_min), "eps_max": float(model.eps_max)}

    def parameters(self, model, shape, dt):
        """``log_eps`` (one per layer) when ``learn_eps``, ``log_tau`` when ``learn_tau``."""
        dtype = torch.get_default_dtype()
        out = {}
        if model.learn_eps:
            out["log_eps"] = torch.tensor(float(np.log(model.eps)), dtype=dtype)
        if model.learn_tau:
            out["log_tau"] = torch.tensor(float(np.log(model.tau)), dtype=dtype)
        return out

    def eps(self, consts: dict, params: dict | None):
        """The temperature in force: ``clamp(exp(log_eps), eps_min, eps_max)`` if learned."""
        if params and "log_eps" in params:
            return params["log_eps"].exp().clamp(consts["eps_min"], consts["eps_max"])
        return consts["eps"]

    def initial_state(self, model, like):
        return {"u": torch.zeros_like(like)}

    @staticmethod
    def _fire(V, consts, eps):
        s = torch.sigmoid((V - consts["theta"]) / eps)
        return s, {"u": V * (1.0 - s), "v": V}


@implements(UltraLIF, "training")
class TrainingUltraLIF(_TrainingUltra):
    """``V = LSE_eps(u + log tau, I)``, ``s = sigmoid((V - theta) / eps)``, ``u = V (1 - s)``;
    a learned ``log tau`` is clamped to [-2.3, -0.01] (UltraPLIF)."""

    def step(self, model, consts, current, state, surrogate=None, detach_reset=False, params=None):
        eps = self.eps(consts, params)
        if params and "log_tau" in params:
            log_tau = params["log_tau"].clamp(*_LOG_TAU_RANGE)
        else:
            log_tau = consts["log_tau"]
        V = _lse2(state["u"] + log_tau, current, eps)
        return self._fire(V, consts, eps)


def _neighbours(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left and right circular neighbours along the flattened neurons of each sample."""
    flat = u.reshape(u.shape[0], -1)
    left = torch.roll(flat, 1, dims=1).reshape(u.shape)
    right = torch.roll(flat, -1, dims=1).reshape(u.shape)
    return left, right


@implements(UltraDLIF, "training")
class TrainingUltraDLIF(_TrainingUltra):
    """``V_i = LSE_eps(u_i-1, tau u_i, u_i+1) + I_i`` (circular neighbours), spike and reset as
    UltraLIF; a learned ``tau`` is ``clamp(exp(log_tau), 0.1, 0.99)`` (UltraDPLIF)."""

    def step(self, model, consts, current, state, surrogate=None, detach_reset=False, params=None):
        eps = self.eps(consts, params)
        if params and "log_tau" in params:
            tau = params["log_tau"].exp().clamp(0.1, 0.99)
        else:
            tau = consts["tau"]
        u = state["u"]
        left, right = _neighbours(u)
        V = _lse3(left, u * tau, right, eps)
        return self._fire(V + current, consts, eps)



__all__ = ["TrainingUltraDLIF", "TrainingUltraLIF"]
