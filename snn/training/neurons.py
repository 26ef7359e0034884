"""How neuron models run in PyTorch for data-set training: batched, many steps at once.

Each model's training implementation (a :class:`TrainingNeuron` registered with
``@implements(Model, "training")``; the training layers look it up under that key) turns the
model's parameters into per-step constants with the formulas every backend uses
(:mod:`snn.backends.constants`) and provides:

* ``sequence(model, current, dt, surrogate, detach_reset)``: all ``T`` steps of a layer whose
  input currents ``(T, batch, ...)`` are known in advance (feed-forward layers). It runs as one
  autograd node with a hand-written backward pass that keeps only the membrane potential of
  each step (spikes are recomputed from it), so training memory is one float per neuron and
  step.
* ``step(model, consts, current, state, surrogate, detach_reset)``: one step in plain torch
  operations (autograd records it), for recurrent layers whose input depends on the
  previous step's spikes.

Conventions (those of the engine): the input of step ``k`` is added to the synaptic current,
``v_k = u_k-1 exp(-dt/tau_m) + c0 + i_k ke``, a spike is ``v_k > v_thresh`` (surrogate gradient
in the backward pass), and ``u_k`` is ``v_k`` after the reset. With ``tau_syn = 0`` (see
:meth:`snn.models.LIF.from_beta`) this is snnTorch's ``Leaky`` with ``reset_delay=False``.
``detach_reset=True`` stops the gradient through the reset term.

This module holds the LIF family (LIF, the LI read-out, adaptive LIF, conductance-based LIF
with and without an adaptive threshold, the parametric LIF of Fang et al.);
:mod:`snn.training.probabilistic` the meta-neuron and :mod:`snn.training.ultra` the
ultradiscretized neurons. A step's input current is what the
simulation backends accumulate from the spikes arriving in that step, so stepping the same
inputs gives the same membrane trajectory there and here. The simulation steps of the same
models are in :mod:`snn.backends.torch.neurons`.
"""

from __future__ import annotations

import numpy as np
import torch

from snn.backends import constants as step_constants
from snn.backends import implements
from snn.backends.torch.neurons import conductance_membrane
from snn.models import (
    LI,
    LIF,
    PLIF,
    AdaptiveConductanceLIF,
    AdaptiveLIF,
    ConductanceLIF,
    DSpikeLIF,
)
from snn.training import fused_gpu
from snn.training.surrogate import Surrogate


def reject_refractory(model) -> None:
    """Training layers have no refractory period: say so if the model asks for one."""
    if np.any(np.asarray(model.tau_ref) > 0):
        name = type(model).__name__
        raise ValueError(
            f"{name}.tau_ref > 0 is not supported in training layers; use tau_ref=0 "
            "(refractoriness runs on the simulation backends)"
        )


class TrainingNeuron:
    """Base class of a model's training implementation.

    A new model needs ``constants``, ``initial_state`` and ``step``; the default ``sequence``
    loops over ``step`` (autograd records every step). Learnable per-neuron parameters (a
    meta-neuron's intrinsics, an adaptive threshold's gain) are declared by ``parameters``:
    the layer registers them as ``nn.Parameter`` and passes them to ``step`` and
    ``sequence`` as ``params``.
    """

    spiking = True

    def constants(self, model, dt: float, device=None, dtype=torch.float32) -> dict[str, object]:
        """Per-step constants as floats or per-neuron tensors."""
        raise NotImplementedError

    def parameters(self, model, shape: tuple[int, ...], dt: float) -> dict[str, torch.Tensor]:
        """Initial values of the learnable parameters, broadcastable to ``shape`` (the
        neurons of one sample: ``(n,)`` for dense layers, ``(channels, 1, 1)`` for conv)."""
        return {}

    def sequence(self, model, current: torch.Tensor, dt: float, surrogate: Surrogate,
                 detach_reset: bool = False, params: dict | None = None) -> torch.Tensor:
        """Outputs (spikes, or the membrane of a non-spiking model) for all steps."""
        consts = self.constants(model, dt, current.device, current.dtype)
        state = self.initial_state(model, current[0])
        outputs = []
        for k in range(current.shape[0]):
            out, state = self.step(model, consts, current[k], state, surrogate, detach_reset,
                                   params)
            outputs.append(out)
        return torch.stack(outputs)

    def sequence_with_state(self, model, current: torch.Tensor, dt: float, surrogate: Surrogate,
                            detach_reset: bool = False, params: dict | None = None,
                            state: dict | None = None):
        """Like ``sequence`` but starting from ``state`` (``None``: the initial state) and
        also returning the state after the last step, so time can be processed in chunks."""
        consts = self.constants(model, dt, current.device, current.dtype)
        state = state if state is not None else self.initial_state(model, current[0])
        outputs = []
        for k in range(current.shape[0]):
            out, state = self.step(model, consts, current[k], state, surrogate, detach_reset,
                                   params)
            outputs.append(out)
        return torch.stack(outputs), state

    def initial_state(self, model, like: torch.Tensor) -> dict[str, torch.Tensor]:
        """Zero state shaped like one step's input."""
        raise NotImplementedError

    def step(self, model, consts: dict, current: torch.Tensor, state: dict,
             surrogate: Surrogate, detach_reset: bool = False, params: dict | None = None):
        """One step; returns (output, new state)."""
        raise NotImplementedError


def _param(value, device, dtype):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr)
    return torch.as_tensor(arr, device=device, dtype=dtype)


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


@implements(LIF, "training")
class TrainingLIF(TrainingNeuron):
    """LIF for training layers: exact integration, the constants of the simulation backends;
    all steps of a feed-forward layer run as one autograd node (the fused CPU loops of
    :mod:`snn.training.fused_cpu` or, on CUDA, the Triton kernels of
    :mod:`snn.training.fused_triton` where they apply)."""

    def constants(self, model, dt, device=None, dtype=torch.float32):
        reject_refractory(model)
        c = step_constants.lif_constants(model, 1, dt)
        return {
            "em": _param(c["em"], device, dtype), "c0": _param(c["c0"], device, dtype),
            "ke": _param(c["ke"], device, dtype), "de": _param(c["de"], device, dtype),
            "v_thresh": _param(model.v_thresh, device, dtype),
            "v_reset": _param(model.v_reset, device, dtype),
            "v_rest": _param(model.v_rest, device, dtype),  # the initial membrane potential
            "subtract": model.reset == "subtract",
        }

    def sequence(self, model, current, dt, surrogate, detach_reset=False, params=None):
        return self.sequence_with_state(model, current, dt, surrogate, detach_reset, params)[0]

    def sequence_with_state(self, model, current, dt, surrogate, detach_reset=False, params=None,
                            state=None):
        c = self.constants(model, dt, current.device, current.dtype)
        state = state if state is not None else self.initial_state(model, current[0])
        node = fused_gpu.LIFSequence if fused_gpu.runs(current, surrogate) else _LIFSequence
        spikes, u, i = node.apply(current, state["u"], state["i"], c, surrogate, detach_reset)
        return spikes, {"u": u, "i": i}

    def initial_state(self, model, like):
        zero = torch.zeros_like(like)
        return {"u": zero + _param(model.v_rest, like.device, like.dtype), "i": zero.clone()}

    def step(self, model, consts, current, state, surrogate, detach_reset=False, params=None):
        c = consts
        i = state["i"] + current
        v = state["u"] * c["em"] + c["c0"] + i * c["ke"]
        s = surrogate(v - c["v_thresh"])
        r = s.detach() if detach_reset else s
        u = v - r * (c["v_thresh"] - c["v_reset"]) if c["subtract"] else v - r * (v - c["v_reset"])
        return s, {"u": u, "i": i * c["de"]}


def _compiled_constants(c: dict, shape, dtype) -> tuple[dict[str, np.ndarray], int]:
    """Constants for the compiled loops: one-element arrays (stride 0) when all are scalars,
    else arrays over the flattened neurons of one step (stride 1)."""
    names = ("em", "c0", "ke", "de", "v_thresh", "v_reset")
    if not any(isinstance(c[k], torch.Tensor) for k in names):
        return {k: np.array([c[k]], dtype=dtype) for k in names}, 0
    out = {}
    for k in names:
        v = c[k].detach().cpu().numpy() if isinstance(c[k], torch.Tensor) else np.asarray(c[k])
        out[k] = np.ascontiguousarray(np.broadcast_to(v.astype(dtype), shape).reshape(-1))
    return out, 1


def _compiled(current: torch.Tensor, surrogate: Surrogate) -> bool:
    """Whether the compiled CPU loops can run this layer."""
    return (current.device.type == "cpu" and current.dtype in (torch.float32, torch.float64)
            and surrogate.compiled_kind is not None)


class _LIFSequence(torch.autograd.Function):
    """All steps of an LIF layer (or a chunk of them) as one node.

    Inputs: currents ``(T, ...)``, the state before the first step (``u0``, the membrane after
    reset, and ``i0``, the decayed synaptic current), the constants, the surrogate. Outputs:
    spikes and the state after the last step, so chunks of time chain through autograd. Saves
    the membrane of each step only.
    """

    @staticmethod
    def forward(ctx, current, u0, i0, c, surrogate, detach_reset):
        ctx.c, ctx.surrogate, ctx.detach_reset = c, surrogate, detach_reset
        ctx.delta = c["ke"] == 1.0 and c["de"] == 0.0 if isinstance(c["ke"], float) and \
            isinstance(c["de"], float) else False
        u = u0.detach().clone().contiguous()
        i = i0.detach().clone().contiguous()
        if _compiled(current, surrogate):
            from snn.training import fused_cpu

            steps, shape = current.shape[0], current.shape[1:]
            dt = np.float32 if current.dtype == torch.float32 else np.float64
            consts, stride = _compiled_constants(c, shape, dt)
            flat = current.detach().contiguous().reshape(steps, -1)
            membrane = torch.empty_like(flat)
            spikes = torch.empty_like(flat)
            names = ("em", "c0", "ke", "de", "v_thresh", "v_reset")
            uf, iff = u.reshape(-1), i.reshape(-1)
            if stride == 0:
                kernel = fused_cpu.shared_forward(ctx.delta, c["subtract"], np.dtype(dt).name)
                kernel(flat.numpy(), *(consts[k][0] for k in names), uf.numpy(), iff.numpy(),
                       membrane.numpy(), spikes.numpy())
            else:
                fused_cpu.lif_forward(flat.numpy(), *(consts[k] for k in names), stride,
                                      c["subtract"], uf.numpy(), iff.numpy(), membrane.numpy(),
                                      spikes.numpy())
            ctx.consts, ctx.stride = consts, stride
            ctx.save_for_backward(membrane.reshape(current.shape))
            return spikes.reshape(current.shape), u, i
        ctx.consts = None
        return _LIFSequence._forward_torch(ctx, current, u, i, c)

    @staticmethod
    def _forward_torch(ctx, current, u, i, c):
        em, c0, ke, de, thr, vr = (c[k] for k in ("em", "c0", "ke", "de", "v_thresh", "v_reset"))
        steps = current.shape[0]
        membrane = torch.empty_like(current)
        spikes = torch.empty_like(current)
        fired = torch.empty(current.shape[1:], dtype=torch.bool, device=current.device)
        jump = thr - vr
        plain = isinstance(em, float) and isinstance(c0, float) and c0 == 0.0
        for k in range(steps):
            v = membrane[k]  # written in place: no temporaries per step
            if ctx.delta and plain:
                torch.add(current[k], u, alpha=em, out=v)
            elif ctx.delta:
                torch.add(current[k], u * em + c0, out=v)
            else:
                i = i + current[k]
                torch.add(u * em + c0, i * ke, out=v)
                i = i * de
            torch.gt(v, thr, out=fired)
            s = spikes[k]
            s.copy_(fired)
            if c["subtract"] and isinstance(jump, float):
                u = torch.sub(v, s, alpha=jump)
            elif c["subtract"]:
                u = v - s * jump
            else:
                u = torch.where(fired, vr, v)
        ctx.save_for_backward(membrane)
        return spikes, u, i

    @staticmethod
    def backward(ctx, grad_spikes, grad_u, grad_i):
        (membrane,) = ctx.saved_tensors
        c, sg, detach = ctx.c, ctx.surrogate, ctx.detach_reset
        # Gradients with respect to the final state (zero unless a later chunk used it).
        g_u = (grad_u if grad_u is not None else torch.zeros_like(membrane[0])).clone().contiguous()
        g_i = (grad_i if grad_i is not None else torch.zeros_like(membrane[0])).clone().contiguous()
        if ctx.consts is not None:
            from snn.training import fused_cpu

            k = ctx.consts
            steps = membrane.shape[0]
            flat_m = membrane.reshape(steps, -1)
            flat_g = grad_spikes.contiguous().reshape(steps, -1)
            grad = torch.empty_like(flat_m)
            gu, gi = g_u.reshape(-1), g_i.reshape(-1)
            if ctx.stride == 0:
                kernel = fused_cpu.shared_backward(ctx.delta, c["subtract"], detach,
                                                   sg.compiled_kind, flat_m.numpy().dtype.name)
                kernel(flat_g.numpy(), flat_m.numpy(), k["em"][0], k["ke"][0], k["de"][0],
                       k["v_thresh"][0], k["v_reset"][0], k["em"].dtype.type(sg.slope),
                       gu.numpy(), gi.numpy(), grad.numpy())
            else:
                fused_cpu.lif_backward(flat_g.numpy(), flat_m.numpy(), k["em"], k["ke"], k["de"],
                                       k["v_thresh"], k["v_reset"], ctx.stride, c["subtract"],
                                       detach, sg.compiled_kind, float(sg.slope), gu.numpy(),
                                       gi.numpy(), grad.numpy())
            return grad.reshape(membrane.shape), g_u, g_i, None, None, None
        em, ke, de, thr, vr = (c[k] for k in ("em", "ke", "de", "v_thresh", "v_reset"))
        grad_current = torch.empty_like(membrane)
        for k in range(membrane.shape[0] - 1, -1, -1):
            v = membrane[k]
            x = v - thr
            g = sg.derivative(x)
            if c["subtract"]:
                du_dv = 1.0 if detach else 1.0 - (thr - vr) * g
            else:
                kept = (x <= 0).to(v.dtype)  # 1 - spike
                du_dv = kept if detach else kept + (vr - v) * g
            g_v = grad_spikes[k] * g + g_u * du_dv
            if ctx.delta:
                grad_current[k] = g_v
            else:
                g_in = g_v * ke + g_i * de
                grad_current[k] = g_in
                g_i = g_in
            g_u = g_v * em
        return grad_current, g_u, g_i, None, None, None


@implements(LI, "training")
class TrainingLI(TrainingNeuron):
    """Leaky read-out: ``v_k = em v_k-1 + input_k``; outputs the membrane (one autograd node
    over all steps; on CUDA the Triton kernels of :mod:`snn.training.fused_triton`)."""

    spiking = False

    def constants(self, model, dt, device=None, dtype=torch.float32):
        return {"em": _param(step_constants.li_constants(model, 1, dt)["em"], device, dtype)}

    def sequence(self, model, current, dt, surrogate=None, detach_reset=False, params=None):
        return self.sequence_with_state(model, current, dt, surrogate, detach_reset, params)[0]

    def sequence_with_state(self, model, current, dt, surrogate=None, detach_reset=False,
                            params=None, state=None):
        em = self.constants(model, dt, current.device, current.dtype)["em"]
        v0 = state["v"] if state is not None else torch.zeros_like(current[0])
        node = fused_gpu.LISequence if fused_gpu.runs(current) else _LISequence
        out = node.apply(current, v0, em)
        return out, {"v": out[-1]}

    def initial_state(self, model, like):
        return {"v": torch.zeros_like(like)}

    def step(self, model, consts, current, state, surrogate=None, detach_reset=False, params=None):
        v = state["v"] * consts["em"] + current
        return v, {"v": v}


class _LISequence(torch.autograd.Function):
    """A leaky integrator over all steps from ``v0``; its backward needs nothing saved."""

    @staticmethod
    def forward(ctx, current, v0, em):
        out = torch.empty_like(current)
        v = v0.detach()
        for k in range(current.shape[0]):
            v = v * em + current[k]
            out[k] = v
        ctx.em = em
        return out

    @staticmethod
    def backward(ctx, grad_out):
        grad = torch.empty_like(grad_out)
        g = torch.zeros_like(grad_out[0])
        for k in range(grad_out.shape[0] - 1, -1, -1):
            g = grad_out[k] + g * ctx.em
            grad[k] = g
        return grad, g * ctx.em, None


@implements(AdaptiveLIF, "training")
class TrainingAdaptiveLIF(TrainingNeuron):
    """LIF (exact integration constants of the numba backend) with the adaptive threshold::

        i_k = i_k-1 de + input_k      v_k = u_k-1 em + c0 + i_k ke      theta = theta_k-1 eth
        s_k = H(v_k - v_thresh - theta)                       (surrogate gradient)
        u_k = v_reset or v_k - (v_thresh + theta - v_reset)   at a spike
        theta_k = theta + theta_plus s_k

    State starts at ``v_rest`` and ``theta_init`` (as on the numba backend).
    """

    def constants(self, model, dt, device=None, dtype=torch.float32):
        reject_refractory(model)
        c = step_constants.adaptive_lif_constants(model, 1, dt)
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


@implements(ConductanceLIF, "training")
class TrainingConductanceLIF(TrainingNeuron):
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

    def constants(self, model, dt, device=None, dtype=torch.float32):
        reject_refractory(model)
        c = step_constants.conductance_lif_constants(model, 1, dt)
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
        v = conductance_membrane(c, state["u"], ge, gi)
        s = surrogate(v - c["v_thresh"])
        r = s.detach() if detach_reset else s
        if c["subtract"]:
            u = v - r * (c["v_thresh"] - c["v_reset"])
        else:
            u = v - r * (v - c["v_reset"])
        return s, {"u": u, "g_exc": ge * c["de"], "g_inh": gi * c["di"]}


@implements(AdaptiveConductanceLIF, "training")
class TrainingAdaptiveConductanceLIF(TrainingConductanceLIF):
    """:class:`TrainingConductanceLIF` with Diehl & Cook's adaptive threshold (the numba
    fragment's arithmetic, so float64 agrees bit for bit)::

        theta = theta_k-1 exp(-dt / tau_theta)      thr = v_thresh - theta_offset + theta
        s_k = H(v_k - thr)                           (surrogate gradient)
        u_k = v_reset or v_k - (thr - v_reset)       at a spike
        theta_k = theta + theta_plus s_k

    with ``v_k`` from the conductances as in :class:`TrainingConductanceLIF`. State starts at
    ``v_rest`` and ``theta_init`` with no conductance.
    """

    def constants(self, model, dt, device=None, dtype=torch.float32):
        out = super().constants(model, dt, device, dtype)
        c = step_constants.adaptive_conductance_lif_constants(model, 1, dt)
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
        v = conductance_membrane(c, state["u"], ge, gi)
        s, u, theta = _spike_adaptive(c, v, state["theta"] * c["eth"], c["v_base"], surrogate,
                                      detach_reset)
        return s, {"u": u, "g_exc": ge * c["de"], "g_inh": gi * c["di"], "theta": theta}



@implements(PLIF, "training")
class TrainingPLIF(TrainingNeuron):
    """The parametric LIF of Fang et al. (2021), one step::

        k = sigmoid(w) (learned, one per layer) or 1 / tau
        v_k = u_k-1 + k (input_k - (u_k-1 - v_reset))   or, decay_input=False,
        v_k = u_k-1 - k (u_k-1 - v_reset) + input_k
        s_k = H(v_k - v_thresh)   (surrogate gradient)
        u_k = v_reset or v_k - (v_thresh - v_reset) at a spike

    The gradient reaches ``w`` through ``v`` (and through the reset unless ``detach_reset``).
    """

    def constants(self, model, dt, device=None, dtype=torch.float32):
        return {"k": 1.0 / model.tau, "v_thresh": _param(model.v_thresh, device, dtype),
                "v_reset": _param(model.v_reset, device, dtype),
                "subtract": model.reset == "subtract", "decay_input": model.decay_input}

    def parameters(self, model, shape, dt):
        """``w`` (a scalar, ``1/tau = sigmoid(w)``) when ``learn_tau``."""
        if not model.learn_tau:
            return {}
        return {"w": torch.tensor(-float(np.log(model.tau - 1.0)), dtype=torch.get_default_dtype())}

    def initial_state(self, model, like):
        return {"u": _like(_param(model.v_reset, like.device, like.dtype), like)}

    def step(self, model, consts, current, state, surrogate, detach_reset=False, params=None):
        c = consts
        k = torch.sigmoid(params["w"]) if params and "w" in params else c["k"]
        u = state["u"]
        if c["decay_input"]:
            v = u + k * (current - (u - c["v_reset"]))
        else:
            v = u - k * (u - c["v_reset"]) + current
        s = surrogate(v - c["v_thresh"])
        r = s.detach() if detach_reset else s
        u = v - r * (c["v_thresh"] - c["v_reset"]) if c["subtract"] else v - r * (v - c["v_reset"])
        return s, {"u": u}


@implements(DSpikeLIF, "training")
class TrainingDSpikeLIF(TrainingNeuron):
    """The smooth DSpike neuron, one step (exact gradient, the surrogate is unused)::

        v = tau u + input      x = v / (2 v_thresh)
        s = clamp((tanh(b (x - 1/2)) + tanh(b / 2)) / (2 tanh(b / 2)), 0, 1)      u = v (1 - s)

    with ``b = clamp(softplus(b_raw), 0.5, 50)`` and ``tau = sigmoid(tau_logit)`` where learned.
    """

    spiking = False  # real-valued outputs: never marked binary

    def constants(self, model, dt, device=None, dtype=torch.float32):
        return {"tau": float(model.tau), "v_thresh": float(model.v_thresh), "b": float(model.b)}

    def parameters(self, model, shape, dt):
        """``b_raw`` (softplus^-1 of ``b``) when ``learn_b``, ``tau_logit`` when ``learn_tau``."""
        dtype = torch.get_default_dtype()
        out = {}
        if model.learn_b:
            out["b_raw"] = torch.tensor(float(model.b + np.log(-np.expm1(-model.b))), dtype=dtype)
        if model.learn_tau:
            out["tau_logit"] = torch.tensor(float(np.log(model.tau / (1.0 - model.tau))), dtype=dtype)
        return out

    def initial_state(self, model, like):
        return {"u": torch.zeros_like(like)}

    def step(self, model, consts, current, state, surrogate=None, detach_reset=False, params=None):
        params = params or {}
        b = (torch.nn.functional.softplus(params["b_raw"]).clamp(0.5, 50.0) if "b_raw" in params
             else consts["b"])
        tau = torch.sigmoid(params["tau_logit"]) if "tau_logit" in params else consts["tau"]
        v = tau * state["u"] + current
        x = v / (2.0 * consts["v_thresh"])
        half = torch.tanh(torch.as_tensor(b, dtype=v.dtype) / 2.0)
        s = ((torch.tanh(b * (x - 0.5)) + half) / (2.0 * half)).clamp(0.0, 1.0)
        return s, {"u": v * (1.0 - s)}


__all__ = [
    "TrainingAdaptiveConductanceLIF", "TrainingAdaptiveLIF", "TrainingConductanceLIF", "TrainingDSpikeLIF",
    "TrainingLI", "TrainingLIF", "TrainingNeuron", "TrainingPLIF", "reject_refractory",
]
