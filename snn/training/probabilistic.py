"""Training step of the meta-neuron (:class:`~snn.models.MetaNeuron`): a Bernoulli spike with
probability ``p = sigmoid((v - v_thresh) / kappa)``.

The backward pass is straight-through (``ds/dp := 1``), so the layer's surrogate is unused and
the intrinsics named in ``model.learn`` get gradients through ``p``. Uniform numbers come from
``torch.rand`` with ``consts["generator"]`` (None: torch's default generator, so
``torch.manual_seed`` makes runs reproducible) or from ``consts["noise"]``, a callable
``noise(like) -> uniform numbers shaped like like`` (to replay the numba backend's numbers).
The torch simulation step is :class:`snn.backends.torch.neurons.TorchMetaNeuron`.
"""

from __future__ import annotations

import numpy as np
import torch

from snn.backends import constants as step_constants
from snn.backends import implements
from snn.models import MetaNeuron
from snn.training.neurons import TrainingNeuron, _learnable, _like, _param


class _BernoulliST(torch.autograd.Function):
    """``s = 1[u < p]`` exactly 0 or 1 forward; straight-through ``ds/dp = 1`` backward."""

    @staticmethod
    def forward(ctx, p, uniform):
        return (uniform < p).to(p.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


@implements(MetaNeuron, "training")
class TrainingMetaNeuron(TrainingNeuron):
    """The meta-neuron's step::

        v_k = u_k-1 beta + v_rest (1 - beta) + input_k
        p_k = sigmoid((v_k - v_thresh) / kappa)     s_k = 1[uniform_k < p_k]   (ds/dp := 1)
        u_k = v_reset at a spike (or v_k - (v_thresh - v_reset) for reset="subtract")

    Learnable intrinsics (``model.learn``) are per-neuron parameters: ``beta_logit``
    (``beta = sigmoid(beta_logit)``, for ``tau_m``), ``v_thresh``, ``v_reset`` and
    ``log_kappa`` (``kappa = exp(log_kappa)``). ``detach_reset`` stops the gradient through
    the reset term.
    """

    _PARAM = {"tau_m": "beta_logit", "v_thresh": "v_thresh", "v_reset": "v_reset",
              "kappa": "log_kappa"}

    def constants(self, model, dt, device=None, dtype=torch.float32):
        c = step_constants.meta_neuron_constants(model, 1, dt)
        out = {k: _param(c[k], device, dtype) for k in ("em", "v_thresh", "v_reset", "kappa")}
        out["v_rest"] = _param(model.v_rest, device, dtype)
        out["subtract"] = model.reset == "subtract"
        out["generator"] = None
        out["noise"] = None
        return out

    def parameters(self, model, shape, dt):
        out = {}
        for name in model.learn:
            value = getattr(model, name)
            if name == "tau_m":
                beta = np.exp(-dt / np.asarray(value, np.float64))
                value = np.log(beta) - np.log1p(-beta)  # logit
            elif name == "kappa":
                value = np.log(np.asarray(value, np.float64))
            out[self._PARAM[name]] = _learnable(value, shape, f"MetaNeuron.{name}")
        return out

    def initial_state(self, model, like):
        return {"u": _like(_param(model.v_rest, like.device, like.dtype), like)}

    def intrinsics(self, consts: dict, params: dict | None) -> tuple:
        """``(beta, v_thresh, v_reset, kappa)`` from the learned parameters where given."""
        params = params or {}
        beta = torch.sigmoid(params["beta_logit"]) if "beta_logit" in params else consts["em"]
        thr = params.get("v_thresh", consts["v_thresh"])
        reset = params.get("v_reset", consts["v_reset"])
        kappa = torch.exp(params["log_kappa"]) if "log_kappa" in params else consts["kappa"]
        return beta, thr, reset, kappa

    def probability(self, model, consts, v, params=None) -> torch.Tensor:
        """The firing probability at membrane potential ``v``."""
        _, thr, _, kappa = self.intrinsics(consts, params)
        return torch.sigmoid((v - thr) / kappa)

    def step(self, model, consts, current, state, surrogate=None, detach_reset=False, params=None):
        beta, thr, v_reset, kappa = self.intrinsics(consts, params)
        v_rest = consts["v_rest"]
        v = state["u"] * beta + v_rest * (1.0 - beta) + current
        p = torch.sigmoid((v - thr) / kappa)
        if consts.get("noise") is not None:
            uniform = consts["noise"](p)
        else:
            uniform = torch.rand(p.shape, generator=consts.get("generator"), device=p.device,
                                 dtype=p.dtype)
        s = _BernoulliST.apply(p, uniform)
        r = s.detach() if detach_reset else s
        u = v - r * (thr - v_reset) if consts["subtract"] else v - r * (v - v_reset)
        return s, {"u": u, "v": v, "p": p}



__all__ = ["TrainingMetaNeuron"]
