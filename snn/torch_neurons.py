"""How neuron models run in PyTorch for data-set training: batched, many steps at once.

Each model's torch implementation (registered with ``@implements(Model, "torch")``) turns the
model's parameters into per-step constants with the same formulas as the numba backend and
provides:

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
"""

from __future__ import annotations

import numpy as np
import torch

from snn.backends import implements
from snn.models import IF, LI, LIF, PoissonSource, SettablePoissonSource, SpikeSource
from snn.surrogate import Surrogate


class TorchSimulated:
    """What the torch *simulation* backend (:mod:`snn.backends.torch`) needs of a model.

    ``sim_constants`` returns the per-step constants (the numba fragment's constants, as
    tensors); ``sim_step`` advances the population's state dict (one tensor per declared
    state variable, shape ``(n,)``) through step ``k`` in place and returns the boolean
    spikes. The arithmetic follows the numba fragment operation for operation, so float64
    runs agree bit for bit.
    """

    def sim_constants(self, model, n: int, dt: float, device, dtype) -> dict[str, object]:
        raise NotImplementedError

    def sim_step(self, model, c: dict, state: dict[str, torch.Tensor], k: int, seed: int,
                 stream: int) -> torch.Tensor:
        raise NotImplementedError


def reject_refractory(model) -> None:
    """Training layers have no refractory period: say so if the model asks for one."""
    if np.any(np.asarray(model.tau_ref) > 0):
        name = type(model).__name__
        raise ValueError(
            f"{name}.tau_ref > 0 is not supported in training layers; use tau_ref=0 "
            "(refractoriness runs on the simulation backends)"
        )


def _numba_constants(impl_cls, model, n, dt, device, dtype) -> dict[str, object]:
    """A numba fragment's constants as floats, ints or tensors on ``device``."""
    out = {}
    for key, value in impl_cls().constants(model, n, dt).items():
        if isinstance(value, np.ndarray):
            as_int = np.issubdtype(value.dtype, np.integer)
            # A copy: model parameter arrays are read-only, which torch cannot share.
            out[key] = torch.tensor(value, device=device, dtype=torch.int64 if as_int else dtype)
        else:
            out[key] = value
    return out


def _fire(model, c, state, k, v0, v, r, threshold=None):
    """The shared integrate-and-fire tail (numba_models._fire_code), in place; ``threshold``
    (default ``c["v_thresh"]``) is an adaptive neuron's current threshold."""
    threshold = c["v_thresh"] if threshold is None else threshold
    active = k >= r
    v = torch.where(active, v, v0)
    spiked = active & (v > threshold)
    if model.reset == "value":
        after = torch.zeros_like(v) + c["v_reset"]
    else:
        after = v - (threshold - c["v_reset"])
    state["v"].copy_(torch.where(spiked, after, v))
    state["refractory_until"].copy_(torch.where(spiked, k + c["n_ref"] + 1, r))
    return spiked


class TorchNeuron:
    """Base class of a model's torch implementation.

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


@implements(LIF, "torch")
class TorchLIF(TorchNeuron, TorchSimulated):
    """LIF for training layers (exact integration constants, as the numba backend) and for
    the torch simulation backend."""

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaLIF

        return _numba_constants(NumbaLIF, model, n, dt, device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        ie, ii, v0, r = state["i_exc"], state["i_inh"], state["v"], state["refractory_until"]
        v = v0 * c["em"] + c["c0"] + ie * c["ke"] + ii * c["ki"]
        ie.mul_(c["de"])
        ii.mul_(c["di"])
        return _fire(model, c, state, k, v0.clone(), v, r.clone())

    def constants(self, model, dt, device=None, dtype=torch.float32):
        reject_refractory(model)
        from snn.backends.numba_models import NumbaLIF

        c = NumbaLIF().constants(model, 1, dt)
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
        spikes, u, i = _LIFSequence.apply(current, state["u"], state["i"], c, surrogate,
                                          detach_reset)
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
            from snn import fused_cpu

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
            from snn import fused_cpu

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


@implements(LI, "torch")
class TorchLI(TorchNeuron, TorchSimulated):
    """Leaky read-out: ``v_k = em v_k-1 + input_k``; outputs the membrane."""

    spiking = False

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaLI

        return _numba_constants(NumbaLI, model, n, dt, device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        state["v"].copy_(state["v"] * c["em"] + state["i_in"])
        state["i_in"].zero_()
        return torch.zeros_like(state["v"], dtype=torch.bool)

    def constants(self, model, dt, device=None, dtype=torch.float32):
        return {"em": _param(np.exp(-dt / np.asarray(model.tau_m)), device, dtype)}

    def sequence(self, model, current, dt, surrogate=None, detach_reset=False, params=None):
        return self.sequence_with_state(model, current, dt, surrogate, detach_reset, params)[0]

    def sequence_with_state(self, model, current, dt, surrogate=None, detach_reset=False,
                            params=None, state=None):
        em = self.constants(model, dt, current.device, current.dtype)["em"]
        v0 = state["v"] if state is not None else torch.zeros_like(current[0])
        out = _LISequence.apply(current, v0, em)
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


__all__ = ["TorchLI", "TorchLIF", "TorchNeuron"]


@implements(IF, "torch")
class TorchIF(TorchSimulated):
    """Non-leaky integrate-and-fire with delta synapses (simulation backend)."""

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaIF

        return _numba_constants(NumbaIF, model, n, dt, device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        v0, r = state["v"].clone(), state["refractory_until"].clone()
        v = v0 + state["i_syn"] + c["drive"]
        state["i_syn"].zero_()
        return _fire(model, c, state, k, v0, v, r)


@implements(PoissonSource, "torch")
class TorchPoisson(TorchSimulated):
    """Poisson spikes from the counter-based generator, equal to the numba backend's."""

    def sim_constants(self, model, n, dt, device, dtype):
        from snn.backends.numba_models import NumbaPoisson

        c = _numba_constants(NumbaPoisson, model, n, dt, device, torch.float64)
        c["index"] = torch.arange(n, device=device, dtype=torch.int64)
        return c

    def sim_step(self, model, c, state, k, seed, stream):
        from snn.backends import torch_rng

        j = c["index"]
        if model.time_varying:
            row = min(k // c["steps_per_row"], c["p_table"].shape[0] - 1)
            return torch_rng.uniform01(seed, stream, k, j, j.device) < c["p_table"][row]
        nxt, count = state["next_spike"], state["count"]
        first = nxt < 0
        if bool(first.any()):
            u = torch_rng.uniform01(seed, stream, j, count, j.device)
            nxt.copy_(torch.where(first, k + torch_rng.geometric_steps(u, c["p"]) - 1, nxt))
        spiked = nxt == k
        if bool(spiked.any()):
            count.add_(spiked.to(torch.int64))
            u = torch_rng.uniform01(seed, stream, j, count, j.device)
            nxt.copy_(torch.where(spiked, k + torch_rng.geometric_steps(u, c["p"]), nxt))
        return spiked


@implements(SettablePoissonSource, "torch")
class TorchSettablePoisson(TorchSimulated):
    """Geometric inter-spike steps with the per-step probability ``rate * dt`` (``rate`` is
    state), from the counter-based generator: equal to the numba backend's spikes."""

    def sim_constants(self, model, n, dt, device, dtype):
        return {"dt": float(dt), "index": torch.arange(n, device=device, dtype=torch.int64)}

    def sim_step(self, model, c, state, k, seed, stream):
        from snn.backends import torch_rng

        j = c["index"]
        nxt, count = state["next_spike"], state["count"]
        p = state["rate"].to(torch.float64) * c["dt"]
        first = nxt < 0
        if bool(first.any()):
            u = torch_rng.uniform01(seed, stream, j, count, j.device)
            nxt.copy_(torch.where(first, k + torch_rng.geometric_steps(u, p) - 1, nxt))
            count.add_(first.to(torch.int64))
        spiked = nxt == k
        if bool(spiked.any()):
            u = torch_rng.uniform01(seed, stream, j, count, j.device)
            nxt.copy_(torch.where(spiked, k + torch_rng.geometric_steps(u, p), nxt))
            count.add_(spiked.to(torch.int64))
        return spiked


@implements(SpikeSource, "torch")
class TorchSpikeSource(TorchSimulated):
    """Given spike times; the events of each step are looked up, not scanned."""

    def sim_constants(self, model, n, dt, device, dtype):
        steps, idx = model.events(dt)
        return {"steps": steps, "idx": torch.as_tensor(idx, dtype=torch.int64, device=device),
                "n": n}

    def sim_step(self, model, c, state, k, seed, stream):
        lo, hi = np.searchsorted(c["steps"], [k, k + 1])
        spiked = torch.zeros(c["n"], dtype=torch.bool, device=c["idx"].device)
        spiked[c["idx"][lo:hi]] = True
        return spiked
