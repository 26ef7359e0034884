"""How the built-in neuron models run on the torch simulation backend.

Each implementation (registered with ``@implements(Model, "torch")``, a subclass of
:class:`TorchNeuron`) follows the model's numba fragment (:mod:`snn.backends.numba_models`)
operation for operation, with the same per-step constants (:mod:`snn.backends.constants`):
``exp``, ``log`` and ``log1p`` come from :mod:`snn.backends.torch.libm` (the C library's on
the CPU) and random numbers from :mod:`snn.backends.torch.rng` (numba's counter-based
generator), so float64 runs on the CPU equal the numba backend's bit for bit.

The data-set training steps of the same models (batched, with surrogate gradients) are in
:mod:`snn.training.neurons`.
"""

from __future__ import annotations

import numpy as np
import torch

from snn.backends import constants as step_constants
from snn.backends import implements
from snn.backends.torch import libm, rng
from snn.models import (
    IF,
    LI,
    LIF,
    AdaptiveConductanceLIF,
    AdaptiveLIF,
    ConductanceLIF,
    MetaNeuron,
    PoissonSource,
    SettablePoissonSource,
    SpikeSource,
    UltraDLIF,
    UltraLIF,
)


class TorchNeuron:
    """Base class of a model's torch simulation implementation.

    ``sim_constants`` returns the per-step constants (the numba fragment's constants, as
    tensors); ``sim_step`` advances the population's state dict (one tensor per declared
    state variable) through step ``k`` in place and returns the boolean spikes.

    Both engines of :class:`snn.backends.torch.TorchSimulation` call ``sim_step``. The loop
    engine passes ``k`` and ``stream`` as Python integers and state of shape ``(n,)`` (one
    call per sample). The chunked engine (:mod:`snn.backends.torch.chunked`) passes ``k`` as a
    0-d int64 device tensor, the state of the whole batch (``(batch, n)`` when batched), the
    constants of :meth:`batch_constants` and ``stream`` as a ``(batch, 1)`` int64 tensor when
    batched; with a tensor ``k`` a step must not synchronise with the host (no ``bool()``,
    ``item()`` or data-dependent shapes), so that a CUDA graph can capture it.
    """

    def sim_constants(self, model, n: int, dt: float, device, dtype) -> dict[str, object]:
        """Per-step constants: floats, ints or tensors on ``device``."""
        raise NotImplementedError

    def sim_step(self, model, c: dict, state: dict[str, torch.Tensor], k, seed: int,
                 stream) -> torch.Tensor:
        """Advance ``state`` through step ``k`` in place; returns the spikes (bool, the
        state's shape)."""
        raise NotImplementedError

    def batch_constants(self, consts: list[dict], n: int, device, dtype) -> dict | None:
        """The constants of every sample of a batch as one dict for a ``(batch, n)`` state, or
        None when they cannot be stacked (then each sample steps on its own).

        Values equal in every sample are kept as they are; differing numbers become
        ``(batch, 1)`` tensors and differing per-neuron tensors (shape ``(n,)``)
        ``(batch, n)`` tensors; anything else that differs cannot be stacked.
        """
        out = {}
        for key, first in consts[0].items():
            values = [c[key] for c in consts]
            if all(_same(first, v) for v in values[1:]):
                out[key] = first
            elif all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
                integral = all(isinstance(v, (int, np.integer)) for v in values)
                out[key] = torch.tensor(values, device=device,
                                        dtype=torch.int64 if integral else dtype).view(-1, 1)
            elif all(isinstance(v, torch.Tensor) and v.shape == (n,) for v in values):
                out[key] = torch.stack(values)
            else:
                return None
        return out


def _same(a, b) -> bool:
    """Whether two constants are equal (tensors by value)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
                and a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b)))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return type(a) is type(b) and a == b


def _may_any(mask: torch.Tensor, k) -> bool:
    """``mask.any()`` for the loop engine (a Python step ``k``), else True: with a device step
    the work is done unconditionally rather than synchronising to test for it."""
    return bool(mask.any()) if isinstance(k, int) else True


def as_tensors(values: dict[str, object], device, dtype) -> dict[str, object]:
    """Per-step constants with their arrays as tensors on ``device`` (integer arrays as
    int64, the others as ``dtype``); scalars stay Python numbers."""
    out = {}
    for key, value in values.items():
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
    # (v0 and r are read before the state is overwritten, so they may be the state itself)
    after = c["v_reset"] if model.reset == "value" else v - (threshold - c["v_reset"])
    state["v"].copy_(torch.where(spiked, after, v))
    state["refractory_until"].copy_(torch.where(spiked, k + (c["n_ref"] + 1), r))
    return spiked


def _fire_adaptive(model, c, state, k, v0, v, r, theta, base):
    """Tail of an adaptive-threshold neuron (numba_models._adaptive_fire_code), in place: fire
    at ``v > base + theta`` (``theta`` already decayed this step), then raise ``theta`` by
    ``theta_plus`` where a spike happened."""
    spiked = _fire(model, c, state, k, v0, v, r, threshold=base + theta)
    state["theta"].copy_(torch.where(spiked, theta + c["theta_plus"], theta))
    return spiked


def conductance_membrane(c: dict, v0: torch.Tensor, ge: torch.Tensor, gi: torch.Tensor
                         ) -> torch.Tensor:
    """A conductance-based membrane after one step (volts), from ``v0`` and the conductances
    ``ge``/``gi`` (units of the leak): numba_models.NumbaConductanceLIF and its rational
    ``exp`` (_EXP_NEG), operation for operation. ``c`` holds
    :func:`snn.backends.constants.conductance_lif_constants`."""
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


@implements(LIF, "torch")
class TorchLIF(TorchNeuron):
    """LIF with current synapses, exact integration."""

    def sim_constants(self, model, n, dt, device, dtype):
        return as_tensors(step_constants.lif_constants(model, n, dt), device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        ie, ii, v0, r = state["i_exc"], state["i_inh"], state["v"], state["refractory_until"]
        v = v0 * c["em"] + c["c0"] + ie * c["ke"] + ii * c["ki"]
        ie.mul_(c["de"])
        ii.mul_(c["di"])
        return _fire(model, c, state, k, v0, v, r)


@implements(LI, "torch")
class TorchLI(TorchNeuron):
    """Leaky read-out: ``v_k = em v_k-1 + input_k``; never spikes."""

    def sim_constants(self, model, n, dt, device, dtype):
        return as_tensors(step_constants.li_constants(model, n, dt), device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        state["v"].copy_(state["v"] * c["em"] + state["i_in"])
        state["i_in"].zero_()
        return torch.zeros_like(state["v"], dtype=torch.bool)


@implements(IF, "torch")
class TorchIF(TorchNeuron):
    """Non-leaky integrate-and-fire with delta synapses."""

    def sim_constants(self, model, n, dt, device, dtype):
        return as_tensors(step_constants.if_constants(model, n, dt), device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        v0, r = state["v"], state["refractory_until"]
        v = v0 + state["i_syn"] + c["drive"]
        state["i_syn"].zero_()
        return _fire(model, c, state, k, v0, v, r)


@implements(PoissonSource, "torch")
class TorchPoisson(TorchNeuron):
    """Poisson spikes from the counter-based generator, equal to the numba backend's."""

    def sim_constants(self, model, n, dt, device, dtype):
        c = as_tensors(step_constants.poisson_constants(model, n, dt), device, torch.float64)
        c["index"] = torch.arange(n, device=device, dtype=torch.int64)
        return c

    def sim_step(self, model, c, state, k, seed, stream):
        j = c["index"]
        if model.time_varying:
            last = c["p_table"].shape[0] - 1
            if isinstance(k, int):
                p = c["p_table"][min(k // c["steps_per_row"], last)]
            else:
                row = torch.div(k, c["steps_per_row"], rounding_mode="floor").clamp(max=last)
                p = c["p_table"].index_select(0, row.view(1))[0]
            return rng.uniform01(seed, stream, k, j, j.device) < p
        nxt, count = state["next_spike"], state["count"]
        first = nxt < 0
        if _may_any(first, k):
            u = rng.uniform01(seed, stream, j, count, j.device)
            nxt.copy_(torch.where(first, k + rng.geometric_steps(u, c["p"]) - 1, nxt))
        spiked = nxt == k
        if _may_any(spiked, k):
            count.add_(spiked.to(torch.int64))
            u = rng.uniform01(seed, stream, j, count, j.device)
            nxt.copy_(torch.where(spiked, k + rng.geometric_steps(u, c["p"]), nxt))
        return spiked


@implements(SettablePoissonSource, "torch")
class TorchSettablePoisson(TorchNeuron):
    """Geometric inter-spike steps with the per-step probability ``rate * dt`` (``rate`` is
    state), from the counter-based generator: equal to the numba backend's spikes."""

    def sim_constants(self, model, n, dt, device, dtype):
        return {"dt": float(dt), "index": torch.arange(n, device=device, dtype=torch.int64)}

    def sim_step(self, model, c, state, k, seed, stream):
        j = c["index"]
        nxt, count = state["next_spike"], state["count"]
        p = state["rate"].to(torch.float64) * c["dt"]
        first = nxt < 0
        if _may_any(first, k):
            u = rng.uniform01(seed, stream, j, count, j.device)
            nxt.copy_(torch.where(first, k + rng.geometric_steps(u, p) - 1, nxt))
            count.add_(first.to(torch.int64))
        spiked = nxt == k
        if _may_any(spiked, k):
            u = rng.uniform01(seed, stream, j, count, j.device)
            nxt.copy_(torch.where(spiked, k + rng.geometric_steps(u, p), nxt))
            count.add_(spiked.to(torch.int64))
        return spiked


@implements(SpikeSource, "torch")
class TorchSpikeSource(TorchNeuron):
    """Given spike times; the events of each step are looked up, not scanned. With a device
    step ``k`` the lookup is a device ``searchsorted`` and a fixed window (the most events of
    any one step), so it needs no host synchronisation."""

    def sim_constants(self, model, n, dt, device, dtype):
        steps, idx = model.events(dt)
        most = int(np.unique(steps, return_counts=True)[1].max(initial=0))
        return {"steps": steps, "idx": torch.as_tensor(idx, dtype=torch.int64, device=device),
                "n": n, "step_of": torch.as_tensor(steps, dtype=torch.int64, device=device),
                "window": torch.arange(most, device=device)}

    def sim_step(self, model, c, state, k, seed, stream):
        idx = c["idx"]
        if isinstance(k, int):
            lo, hi = np.searchsorted(c["steps"], [k, k + 1])
            spiked = torch.zeros(c["n"], dtype=torch.bool, device=idx.device)
            spiked[idx[lo:hi]] = True
            return spiked
        hits = torch.zeros(c["n"], dtype=torch.int32, device=idx.device)
        if idx.numel():
            pos = torch.searchsorted(c["step_of"], k.view(1)) + c["window"]
            valid = c["step_of"][pos.clamp(max=idx.numel() - 1)] == k
            hits.index_add_(0, idx[pos.clamp(max=idx.numel() - 1)], valid.to(torch.int32))
        return hits > 0

    def batch_constants(self, consts, n, device, dtype):
        same = all(_same(a, b) for c in consts[1:] for a, b in zip(consts[0].values(), c.values(),
                                                                   strict=True))
        return consts[0] if same else None


@implements(AdaptiveLIF, "torch")
class TorchAdaptiveLIF(TorchNeuron):
    """LIF with the adaptive threshold ``theta``: decayed each step, tested as ``v >
    v_thresh + theta``, raised by ``theta_plus`` at a spike."""

    def sim_constants(self, model, n, dt, device, dtype):
        return as_tensors(step_constants.adaptive_lif_constants(model, n, dt), device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        ie, ii, v0, r = state["i_exc"], state["i_inh"], state["v"], state["refractory_until"]
        th = state["theta"] * c["eth"]
        v = v0 * c["em"] + c["c0"] + ie * c["ke"] + ii * c["ki"]
        ie.mul_(c["de"])
        ii.mul_(c["di"])
        return _fire_adaptive(model, c, state, k, v0, v, r, th, c["v_thresh"])


@implements(ConductanceLIF, "torch")
class TorchConductanceLIF(TorchNeuron):
    """The conductance-based LIF (exponential Euler with step-mean conductances,
    :func:`conductance_membrane`)."""

    def sim_constants(self, model, n, dt, device, dtype):
        return as_tensors(step_constants.conductance_lif_constants(model, n, dt), device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        ge, gi, v0, r = state["g_exc"], state["g_inh"], state["v"], state["refractory_until"]
        v = conductance_membrane(c, v0, ge, gi)
        ge.mul_(c["de"])
        gi.mul_(c["di"])
        return _fire(model, c, state, k, v0, v, r)


@implements(AdaptiveConductanceLIF, "torch")
class TorchAdaptiveConductanceLIF(TorchNeuron):
    """:class:`TorchConductanceLIF` with the threshold ``v_thresh - theta_offset + theta``."""

    def sim_constants(self, model, n, dt, device, dtype):
        return as_tensors(step_constants.adaptive_conductance_lif_constants(model, n, dt),
                          device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        ge, gi, v0, r = state["g_exc"], state["g_inh"], state["v"], state["refractory_until"]
        th = state["theta"] * c["eth"]
        v = conductance_membrane(c, v0, ge, gi)
        ge.mul_(c["de"])
        gi.mul_(c["di"])
        return _fire_adaptive(model, c, state, k, v0, v, r, th, c["v_base"])


@implements(MetaNeuron, "torch")
class TorchMetaNeuron(TorchNeuron):
    """Leaky integration, then a Bernoulli spike with probability ``sigmoid((v - v_thresh) /
    kappa)`` drawn with ``rng.uniform01(seed, stream, step, neuron)``, as numba does."""

    def sim_constants(self, model, n, dt, device, dtype):
        c = as_tensors(step_constants.meta_neuron_constants(model, n, dt), device, dtype)
        c["index"] = torch.arange(n, device=device, dtype=torch.int64)
        return c

    def sim_step(self, model, c, state, k, seed, stream):
        v = state["v"] * c["em"] + c["c0"] + state["i_in"]
        state["i_in"].zero_()
        # 1.0 / (1.0 + exp((v_thresh - v) / kappa)); reciprocal() is 1.0 / x exactly
        p = (1.0 + libm.exp(torch.div(c["v_thresh"] - v, c["kappa"]))).reciprocal()
        j = c["index"]
        spiked = rng.uniform01(seed, stream, k, j, j.device) < p
        if model.reset == "value":
            after = torch.zeros_like(v) + c["v_reset"]
        else:
            after = v - (c["v_thresh"] - c["v_reset"])
        state["v"].copy_(torch.where(spiked, after, v))
        state["p"].copy_(p)
        return spiked


def _ultra_spike(c, state, V) -> torch.Tensor:
    """numba_models._ULTRA_SPIKE and the spike event ``s > 0.5``, in place."""
    s = (1.0 + libm.exp(torch.div(c["theta"] - V, c["eps"]))).reciprocal()
    state["s"].copy_(s)
    state["v"].copy_(V * (1.0 - s))
    return s > 0.5


@implements(UltraLIF, "torch")
class TorchUltraLIF(TorchNeuron):
    """``V = LSE_eps(u + log tau, I)`` as ``max + eps log1p(exp(-|a - b| / eps))``; spike
    event when ``s > 0.5``."""

    def sim_constants(self, model, n, dt, device, dtype):
        return as_tensors(step_constants.ultra_lif_constants(model, n, dt), device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        a = state["v"] + c["log_tau"]
        b = state["i_in"].clone()
        state["i_in"].zero_()
        eps = c["eps"]
        V = torch.maximum(a, b) + eps * libm.log1p(libm.exp(torch.div(-(a - b).abs(), eps)))
        return _ultra_spike(c, state, V)


@implements(UltraDLIF, "torch")
class TorchUltraDLIF(TorchNeuron):
    """``V_j = LSE_eps(u_j-1, tau u_j, u_j+1) + I_j`` over circular neighbours."""

    def sim_constants(self, model, n, dt, device, dtype):
        return as_tensors(step_constants.ultra_dlif_constants(model, n, dt), device, dtype)

    def sim_step(self, model, c, state, k, seed, stream):
        u = state["v"].clone()
        left = torch.roll(u, 1, -1)  # left[j] = u[j - 1], left[0] = u[n - 1]
        centre = u * c["tau_c"]
        right = torch.roll(u, -1, -1)  # right[j] = u[j + 1], right[n - 1] = u[0]
        m = torch.maximum(torch.maximum(left, centre), right)
        eps = c["eps"]
        total = (libm.exp(torch.div(left - m, eps)) + libm.exp(torch.div(centre - m, eps))
                 + libm.exp(torch.div(right - m, eps)))
        V = m + eps * libm.log(total) + state["i_in"]
        state["i_in"].zero_()
        return _ultra_spike(c, state, V)


__all__ = [
    "TorchAdaptiveConductanceLIF", "TorchAdaptiveLIF", "TorchConductanceLIF", "TorchIF", "TorchLI",
    "TorchLIF", "TorchMetaNeuron", "TorchNeuron", "TorchPoisson", "TorchSettablePoisson",
    "TorchSpikeSource", "TorchUltraDLIF", "TorchUltraLIF", "as_tensors", "conductance_membrane",
]
