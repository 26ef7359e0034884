"""Torch implementations of the extended neuron family (adaptive LIF, meta-neuron, UltraLIF,
UltraDLIF, conductance-based LIF with and without an adaptive threshold) for training layers.

Each follows the :class:`~snn.torch_neurons.TorchNeuron` interface: ``constants`` uses the
same formulas as the numba backend (:mod:`snn.backends.numba_models`), ``step`` is one step in
plain torch operations, and the default ``sequence`` loops over ``step`` with autograd.
A step's input current is what the numba backend accumulates from the spikes arriving in
that step, so stepping the same inputs gives the same membrane trajectory on both.

* ``AdaptiveLIF``: LIF plus the threshold ``theta``; the surrogate gradient flows through the
  threshold too (``theta`` depends on earlier spikes).
* ``MetaNeuron``: a Bernoulli spike with probability ``p = sigmoid((v - v_thresh) / kappa)``;
  the backward pass is straight-through (``ds/dp := 1``), so the layer's surrogate is unused
  and the intrinsics named in ``model.learn`` get gradients through ``p``. Uniform numbers
  come from ``torch.rand`` with ``consts["generator"]`` (None: torch's default generator, so
  ``torch.manual_seed`` makes runs reproducible) or from ``consts["noise"]``, a callable
  ``noise(like) -> uniform numbers shaped like like`` (to replay the numba backend's numbers).
* ``UltraLIF`` / ``UltraDLIF``: smooth everywhere, trained with their exact gradients
  (autograd through the forward function; the layer's surrogate is ignored). Their output is
  real-valued in (0, 1), so they declare ``spiking = False``: a layer must not mark it binary
  (a synaptic layer would store a binary input as bool for the weight gradient). As a last
  layer this means :class:`~snn.layers.Sequential` reports ``output_is_membrane``; pass
  ``decoder="count"`` to BPTT to sum the outputs instead of taking their maximum.
* ``ConductanceLIF``: a signed input is split into excitatory (positive part) and inhibitory
  (negative part) conductance increments.
* ``AdaptiveConductanceLIF``: ``ConductanceLIF`` with the adaptive threshold ``theta`` as in
  ``AdaptiveLIF`` (the surrogate gradient flows through it), tested against
  ``v_thresh + theta - theta_offset``.

All six also run on the torch *simulation* backend (:class:`~snn.torch_neurons.TorchSimulated`):
``sim_constants`` / ``sim_step`` follow the numba fragments operation for operation (the
meta-neuron draws ``torch_rng.uniform01(seed, stream, step, neuron)`` as numba does; ``exp``,
``log`` and ``log1p`` come from :mod:`snn.backends.torch_libm`, the C library's on the CPU),
so float64 runs on the CPU equal the numba backend's bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from snn.backends import implements
from snn.models import (
    _LOG_TAU_RANGE,
    AdaptiveConductanceLIF,
    AdaptiveLIF,
    ConductanceLIF,
    MetaNeuron,
    UltraDLIF,
    UltraLIF,
)
from snn.torch_neurons import (
    TorchNeuron,
    TorchSimulated,
    _fire,
    _numba_constants,
    _param,
    reject_refractory,
)


def _like(value, like: torch.Tensor) -> torch.Tensor:
    """``value`` (float or per-neuron tensor) broadcast to the shape of ``like``."""
    return torch.zeros_like(like) + value


def _learnable(value, shape: tuple[int, ...], name: str) -> torch.Tensor:
    """A per-neuron parameter of ``shape`` from a scalar or a per-neuron array."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(shape, float(arr))
    elif arr.size == int(np.prod(shape)):
        arr = arr.reshape(shape)
    else:
        raise ValueError(f"{name} has {arr.size} values but the layer has neurons of shape {shape}")
    return torch.tensor(arr, dtype=torch.get_default_dtype())


def _fire_adaptive(model, c, state, k, v0, v, r, theta, base):
    """Simulation tail of an adaptive-threshold neuron (numba_models._adaptive_fire_code), in
    place: fire at ``v > base + theta`` (``theta`` already decayed this step), then raise
    ``theta`` by ``theta_plus`` where a spike happened."""
    spiked = _fire(model, c, state, k, v0, v, r, threshold=base + theta)
    state["theta"].copy_(torch.where(spiked, theta + c["theta_plus"], theta))
    return spiked


def _spike_adaptive(c, v, theta, base, surrogate, detach_reset):
    """Training-step tail of an adaptive-threshold neuron: the spike ``s = H(v - base -
    theta)`` (surrogate gradient), the reset membrane and the raised threshold."""
    threshold = base + theta
    s = surrogate(v - threshold)
    r = s.detach() if detach_reset else s
    if c["subtract"]:
        u = v - r * (threshold - c["v_reset"])
    else:
        u = v - r * (v - c["v_reset"])
    return s, u, theta + r * c["theta_plus"]


@implements(AdaptiveLIF, "torch")
class TorchAdaptiveLIF(TorchNeuron, TorchSimulated):
    """LIF (exact integration constants of the numba backend) with the adaptive threshold::

        i_k = i_k-1 de + input_k      v_k = u_k-1 em + c0 + i_k ke      theta = theta_k-1 eth
        s_k = H(v_k - v_thresh - theta)                       (surrogate gradient)
        u_k = v_reset or v_k - (v_thresh + theta - v_reset)   at a spike
        theta_k = theta + theta_plus s_k

    State starts at ``v_rest`` and ``theta_init`` (as on the numba backend).
    """

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaAdaptiveLIF

        return _numba_constants(NumbaAdaptiveLIF, model, n, dt, device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        ie, ii, v0, r = state["i_exc"], state["i_inh"], state["v"], state["refractory_until"]
        th = state["theta"] * c["eth"]
        v = v0 * c["em"] + c["c0"] + ie * c["ke"] + ii * c["ki"]
        ie.mul_(c["de"])
        ii.mul_(c["di"])
        return _fire_adaptive(model, c, state, k, v0, v, r, th, c["v_thresh"])

    def constants(self, model, dt, device=None, dtype=torch.float32):
        reject_refractory(model)
        from snn.backends.numba_models import NumbaAdaptiveLIF

        c = NumbaAdaptiveLIF().constants(model, 1, dt)
        out = {k: _param(c[k], device, dtype) for k in ("em", "c0", "ke", "de", "eth", "theta_plus")}
        for k in ("v_thresh", "v_reset", "v_rest", "theta_init"):
            out[k] = _param(getattr(model, k), device, dtype)
        out["subtract"] = model.reset == "subtract"
        return out

    def initial_state(self, model, like):
        v_rest = _param(model.v_rest, like.device, like.dtype)
        theta0 = _param(model.theta_init, like.device, like.dtype)
        return {"u": _like(v_rest, like), "i": torch.zeros_like(like), "theta": _like(theta0, like)}

    def step(self, model, consts, current, state, surrogate, detach_reset=False, params=None):
        c = consts
        i = state["i"] + current
        v = state["u"] * c["em"] + c["c0"] + i * c["ke"]
        s, u, theta = _spike_adaptive(c, v, state["theta"] * c["eth"], c["v_thresh"], surrogate,
                                      detach_reset)
        return s, {"u": u, "i": i * c["de"], "theta": theta}


@implements(ConductanceLIF, "torch")
class TorchConductanceLIF(TorchNeuron, TorchSimulated):
    """The conductance-based LIF (exponential Euler with step-mean conductances, the numba
    fragment's arithmetic, its rational ``exp`` included, so float64 agrees bit for bit)::

        g_e = g_e,k-1 + relu(input_k)      g_i = g_i,k-1 + relu(-input_k)
        a = a0 + g_e fe + g_i fi           v_inf = (b0 + g_e fe E_e + g_i fi E_i) / a
        v_k = v_inf + (u_k-1 - v_inf) exp(-a dt / tau_m)     s_k = H(v_k - v_thresh)
        u_k = v_reset (or v_k - (v_thresh - v_reset)) at a spike;   g_x decays by exp(-dt/tau_syn_x)

    In training layers one signed input drives both ports: its positive part is an excitatory
    and its negative part an inhibitory conductance increment (units of the leak), so a
    negative weight inhibits through ``e_rev_inh``. State starts at ``v_rest`` with no
    conductance; no refractory period (``tau_ref`` must be 0 there).
    """

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaConductanceLIF

        return _numba_constants(NumbaConductanceLIF, model, n, dt, device, dtype)

    @staticmethod
    def _membrane(c, v0, ge, gi):
        """``v`` after one step (numba_models.NumbaConductanceLIF and _EXP_NEG, op for op)."""
        gem = ge * c["fe"]
        gim = gi * c["fi"]
        gs = gem + gim
        a = c["a0"] + gs
        vinf = torch.div(c["b0"] + gem * c["e_exc"] + gim * c["e_inh"], a)
        y = torch.clamp(gs * c["dt_tau"], max=50.0) * 0.0625
        y2 = y * y
        p = 1.0 + y2 * 0.1
        q = y * (0.5 + y2 * (1.0 / 120.0))
        f = torch.div(p - q, p + q)
        for _ in range(4):
            f = f * f
        return vinf + (v0 - vinf) * (c["e0"] * f)

    def sim_step(self, model, c, state, k, seed, stream):
        ge, gi, v0, r = state["g_exc"], state["g_inh"], state["v"], state["refractory_until"]
        v = self._membrane(c, v0, ge, gi)
        ge.mul_(c["de"])
        gi.mul_(c["di"])
        return _fire(model, c, state, k, v0.clone(), v, r.clone())

    def constants(self, model, dt, device=None, dtype=torch.float32):
        reject_refractory(model)
        from snn.backends.numba_models import NumbaConductanceLIF

        c = NumbaConductanceLIF().constants(model, 1, dt)
        out = {k: _param(c[k], device, dtype)
               for k in ("dt_tau", "de", "fe", "di", "fi", "a0", "e0", "b0", "e_exc", "e_inh")}
        for k in ("v_thresh", "v_reset", "v_rest"):
            out[k] = _param(getattr(model, k), device, dtype)
        out["subtract"] = model.reset == "subtract"
        return out

    def initial_state(self, model, like):
        zero = torch.zeros_like(like)
        return {"u": zero + _param(model.v_rest, like.device, like.dtype), "g_exc": zero,
                "g_inh": zero.clone()}

    def step(self, model, consts, current, state, surrogate, detach_reset=False, params=None):
        c = consts
        ge = state["g_exc"] + torch.relu(current)
        gi = state["g_inh"] + torch.relu(-current)
        v = self._membrane(c, state["u"], ge, gi)
        s = surrogate(v - c["v_thresh"])
        r = s.detach() if detach_reset else s
        if c["subtract"]:
            u = v - r * (c["v_thresh"] - c["v_reset"])
        else:
            u = v - r * (v - c["v_reset"])
        return s, {"u": u, "g_exc": ge * c["de"], "g_inh": gi * c["di"]}


@implements(AdaptiveConductanceLIF, "torch")
class TorchAdaptiveConductanceLIF(TorchConductanceLIF):
    """:class:`TorchConductanceLIF` with Diehl & Cook's adaptive threshold (the numba
    fragment's arithmetic, so float64 agrees bit for bit)::

        theta = theta_k-1 exp(-dt / tau_theta)      thr = v_thresh - theta_offset + theta
        s_k = H(v_k - thr)                           (surrogate gradient)
        u_k = v_reset or v_k - (thr - v_reset)       at a spike
        theta_k = theta + theta_plus s_k

    with ``v_k`` from the conductances as in :class:`TorchConductanceLIF`. State starts at
    ``v_rest`` and ``theta_init`` with no conductance.
    """

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaAdaptiveConductanceLIF

        return _numba_constants(NumbaAdaptiveConductanceLIF, model, n, dt, device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        ge, gi, v0, r = state["g_exc"], state["g_inh"], state["v"], state["refractory_until"]
        th = state["theta"] * c["eth"]
        v = self._membrane(c, v0, ge, gi)
        ge.mul_(c["de"])
        gi.mul_(c["di"])
        return _fire_adaptive(model, c, state, k, v0, v, r, th, c["v_base"])

    def constants(self, model, dt, device=None, dtype=torch.float32):
        from snn.backends.numba_models import NumbaAdaptiveConductanceLIF

        out = super().constants(model, dt, device, dtype)
        c = NumbaAdaptiveConductanceLIF().constants(model, 1, dt)
        for k in ("v_base", "eth", "theta_plus"):
            out[k] = _param(c[k], device, dtype)
        return out

    def initial_state(self, model, like):
        state = super().initial_state(model, like)
        state["theta"] = _like(_param(model.theta_init, like.device, like.dtype), like)
        return state

    def step(self, model, consts, current, state, surrogate, detach_reset=False, params=None):
        c = consts
        ge = state["g_exc"] + torch.relu(current)
        gi = state["g_inh"] + torch.relu(-current)
        v = self._membrane(c, state["u"], ge, gi)
        s, u, theta = _spike_adaptive(c, v, state["theta"] * c["eth"], c["v_base"], surrogate,
                                      detach_reset)
        return s, {"u": u, "g_exc": ge * c["de"], "g_inh": gi * c["di"], "theta": theta}


class _BernoulliST(torch.autograd.Function):
    """``s = 1[u < p]`` exactly 0 or 1 forward; straight-through ``ds/dp = 1`` backward."""

    @staticmethod
    def forward(ctx, p, uniform):
        return (uniform < p).to(p.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


@implements(MetaNeuron, "torch")
class TorchMetaNeuron(TorchNeuron, TorchSimulated):
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

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaMetaNeuron

        c = _numba_constants(NumbaMetaNeuron, model, n, dt, device, dtype)
        c["index"] = torch.arange(n, device=device, dtype=torch.int64)
        return c

    def sim_step(self, model, c, state, k, seed, stream):
        from snn.backends import torch_libm, torch_rng

        v = state["v"] * c["em"] + c["c0"] + state["i_in"]
        state["i_in"].zero_()
        # 1.0 / (1.0 + exp((v_thresh - v) / kappa)); reciprocal() is 1.0 / x exactly
        p = (1.0 + torch_libm.exp(torch.div(c["v_thresh"] - v, c["kappa"]))).reciprocal()
        j = c["index"]
        spiked = torch_rng.uniform01(seed, stream, k, j, j.device) < p
        if model.reset == "value":
            after = torch.zeros_like(v) + c["v_reset"]
        else:
            after = v - (c["v_thresh"] - c["v_reset"])
        state["v"].copy_(torch.where(spiked, after, v))
        state["p"].copy_(p)
        return spiked

    def constants(self, model, dt, device=None, dtype=torch.float32):
        from snn.backends.numba_models import NumbaMetaNeuron

        c = NumbaMetaNeuron().constants(model, 1, dt)
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


def _lse2(a: torch.Tensor, b: torch.Tensor, eps) -> torch.Tensor:
    """``eps log(exp(a/eps) + exp(b/eps))`` without overflow (the numba formula)."""
    return torch.maximum(a, b) + eps * torch.log1p(torch.exp(-(a - b).abs() / eps))


def _lse3(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, eps) -> torch.Tensor:
    """Three-term LSE shifted by the (gradient-free) maximum; its value does not depend on
    the shift, so detaching it keeps the gradient exact."""
    m = torch.maximum(torch.maximum(a, b), c).detach()
    return m + eps * torch.log(torch.exp((a - m) / eps) + torch.exp((b - m) / eps)
                               + torch.exp((c - m) / eps))


class _TorchUltra(TorchNeuron):
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


def _ultra_spike(c, state, V) -> torch.Tensor:
    """numba_models._ULTRA_SPIKE and the spike event ``s > 0.5``, in place."""
    from snn.backends import torch_libm

    s = (1.0 + torch_libm.exp(torch.div(c["theta"] - V, c["eps"]))).reciprocal()
    state["s"].copy_(s)
    state["v"].copy_(V * (1.0 - s))
    return s > 0.5


@implements(UltraLIF, "torch")
class TorchUltraLIF(_TorchUltra, TorchSimulated):
    """``V = LSE_eps(u + log tau, I)``, ``s = sigmoid((V - theta) / eps)``, ``u = V (1 - s)``;
    a learned ``log tau`` is clamped to [-2.3, -0.01] (UltraPLIF)."""

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaUltraLIF

        return _numba_constants(NumbaUltraLIF, model, n, dt, device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        from snn.backends import torch_libm

        a = state["v"] + c["log_tau"]
        b = state["i_in"].clone()
        state["i_in"].zero_()
        eps = c["eps"]
        V = torch.maximum(a, b) + eps * torch_libm.log1p(torch_libm.exp(torch.div(-(a - b).abs(), eps)))
        return _ultra_spike(c, state, V)

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


@implements(UltraDLIF, "torch")
class TorchUltraDLIF(_TorchUltra, TorchSimulated):
    """``V_i = LSE_eps(u_i-1, tau u_i, u_i+1) + I_i`` (circular neighbours), spike and reset as
    UltraLIF; a learned ``tau`` is ``clamp(exp(log_tau), 0.1, 0.99)`` (UltraDPLIF)."""

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaUltraDLIF

        c = _numba_constants(NumbaUltraDLIF, model, n, dt, device, dtype)
        del c["u_prev"]  # numba's scratch copy of the previous potentials; a clone here
        return c

    def sim_step(self, model, c, state, k, seed, stream):
        from snn.backends import torch_libm

        u = state["v"].clone()
        left = torch.roll(u, 1)  # left[j] = u[j - 1], left[0] = u[n - 1]
        centre = u * c["tau_c"]
        right = torch.roll(u, -1)  # right[j] = u[j + 1], right[n - 1] = u[0]
        m = torch.maximum(torch.maximum(left, centre), right)
        eps = c["eps"]
        total = (torch_libm.exp(torch.div(left - m, eps)) + torch_libm.exp(torch.div(centre - m, eps))
                 + torch_libm.exp(torch.div(right - m, eps)))
        V = m + eps * torch_libm.log(total) + state["i_in"]
        state["i_in"].zero_()
        return _ultra_spike(c, state, V)

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


__all__ = [
    "TorchAdaptiveConductanceLIF", "TorchAdaptiveLIF", "TorchConductanceLIF", "TorchMetaNeuron",
    "TorchUltraDLIF", "TorchUltraLIF",
]
