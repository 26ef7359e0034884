"""When the Triton kernels of :mod:`snn.training.fused_triton` run a training layer, and the
autograd nodes around them.

A feed-forward LIF layer (and the LI read-out) runs through the Triton kernels when
:func:`runs` says so: its tensors are on a CUDA device, float32 or float64, its surrogate is
one of the built-in kinds (:attr:`~snn.training.surrogate.Surrogate.compiled_kind`), and
Triton is installed (it ships with CUDA builds of torch). Otherwise the layer runs as before:
the numba loops of :mod:`snn.training.fused_cpu` for CPU tensors, the torch loop for the
rest, with the same results to float round-off.

:func:`dispatch` changes the choice inside a block: ``"off"`` runs CUDA layers on the torch
path (what ``synaptica bench bptt`` compares the kernels with), ``"cpu"`` runs CPU layers
through the kernels in Triton's interpreter (how the tests check the kernels where no GPU is
present; ``TRITON_INTERPRET=1`` must be set before triton is first imported).

The nodes keep what :mod:`snn.training.neurons`' CPU nodes keep: the LIF node saves the
membrane of each step (one float per neuron and step), the LI node nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.util
import os
from collections.abc import Iterator

import numpy as np
import torch

MODES = ("auto", "off", "cpu")
_MODE: contextvars.ContextVar[str] = contextvars.ContextVar("synaptica_triton_dispatch",
                                                            default="auto")
_LIF_PARAMS = ("em", "c0", "ke", "de", "v_thresh", "v_reset")


@functools.cache
def installed() -> bool:
    """Whether triton can be imported."""
    return importlib.util.find_spec("triton") is not None


@contextlib.contextmanager
def dispatch(mode: str) -> Iterator[None]:
    """Within the block, ``"auto"``: the kernels run CUDA layers (the default); ``"off"``: they
    run nothing; ``"cpu"``: they also run CPU layers, in Triton's interpreter."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if mode == "cpu":
        if not installed():
            raise RuntimeError("dispatch('cpu') needs triton: pip install triton")
        if os.environ.get("TRITON_INTERPRET") != "1":
            raise RuntimeError("dispatch('cpu') runs the kernels in Triton's interpreter: set "
                               "TRITON_INTERPRET=1 before triton is first imported")
    token = _MODE.set(mode)
    try:
        yield
    finally:
        _MODE.reset(token)


def runs(current: torch.Tensor, surrogate=None) -> bool:
    """Whether the Triton kernels run a layer whose input currents are ``current`` and whose
    surrogate is ``surrogate`` (None for the LI read-out)."""
    mode, device = _MODE.get(), current.device.type
    if mode == "off" or not (device == "cuda" or (device == "cpu" and mode == "cpu")):
        return False
    if current.dtype not in (torch.float32, torch.float64) or not installed():
        return False
    if surrogate is None:
        return True
    from snn.training import fused_triton

    return surrogate.compiled_kind in fused_triton.KINDS


def _on(device: torch.device):
    """Kernels launch on the current CUDA device: make it the tensors' device."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def _steps(t: torch.Tensor) -> torch.Tensor:
    """``(T, ...)`` as ``(T, P)`` with each step contiguous; the time stride may be anything
    (0 for a gradient broadcast over time), so no copy is made when steps are contiguous."""
    flat = t.reshape(t.shape[0], -1)
    return flat if flat.shape[1] <= 1 or flat.stride(1) == 1 else flat.contiguous()


def _state(t: torch.Tensor) -> torch.Tensor:
    """A contiguous private copy of one step's state, flattened."""
    return t.detach().reshape(-1).clone(memory_format=torch.contiguous_format)


@functools.lru_cache(maxsize=64)
def _shared(values: tuple[float, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device).reshape(-1, 1)


def _params(c: dict, names: tuple[str, ...], like: torch.Tensor) -> torch.Tensor:
    """The constants ``names`` of ``c`` as the kernels' parameter rows: ``(rows, 1)`` when all
    are scalars, else ``(rows, P)`` over the flattened neurons of one step of ``like``."""
    values = [c[k] for k in names]
    if not any(isinstance(v, torch.Tensor) for v in values):
        return _shared(tuple(float(v) for v in values), like.device, like.dtype)
    shape = like.shape[1:]
    rows = [torch.broadcast_to(torch.as_tensor(v, dtype=like.dtype, device=like.device), shape)
            .reshape(-1) for v in values]
    return torch.stack(rows).contiguous()


@functools.lru_cache(maxsize=64)
def _surrogate(kind: int, slope: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    from snn.training import fused_triton

    return fused_triton.surrogate_constants(kind, slope, torch.empty(0, dtype=dtype, device=device))


class LIFSequence(torch.autograd.Function):
    """All steps of an LIF layer (or a chunk of them) as one node, in the Triton kernels;
    inputs and outputs those of :class:`snn.training.neurons._LIFSequence`."""

    @staticmethod
    def forward(ctx, current, u0, i0, c, surrogate, detach_reset):
        from snn.training import fused_triton

        steps, shape = current.shape[0], current.shape[1:]
        delta = (isinstance(c["ke"], float) and isinstance(c["de"], float) and c["ke"] == 1.0
                 and c["de"] == 0.0)
        params = _params(c, _LIF_PARAMS, current)
        u, i = _state(u0), _state(i0)
        membrane = torch.empty((steps, u.numel()), dtype=current.dtype, device=current.device)
        spikes = torch.empty_like(membrane)
        with _on(current.device):
            fused_triton.lif_forward(_steps(current.detach()), params, delta, c["subtract"], u, i,
                                     membrane, spikes)
        ctx.save_for_backward(membrane)
        ctx.params, ctx.delta, ctx.subtract = params, delta, c["subtract"]
        ctx.surrogate, ctx.detach_reset, ctx.shape = surrogate, detach_reset, current.shape
        return spikes.reshape(current.shape), u.reshape(shape), i.reshape(shape)

    @staticmethod
    def backward(ctx, grad_spikes, grad_u, grad_i):
        from snn.training import fused_triton

        (membrane,) = ctx.saved_tensors
        shape, sg = ctx.shape[1:], ctx.surrogate
        g_u = _state(grad_u) if grad_u is not None else membrane.new_zeros(membrane.shape[1])
        g_i = _state(grad_i) if grad_i is not None else membrane.new_zeros(membrane.shape[1])
        grad = torch.empty_like(membrane)
        if grad_spikes is None:
            grad_spikes = torch.zeros_like(membrane)
        consts = _surrogate(sg.compiled_kind, float(sg.slope), membrane.device, membrane.dtype)
        with _on(membrane.device):
            fused_triton.lif_backward(_steps(grad_spikes), membrane, ctx.params, consts, ctx.delta,
                                      ctx.subtract, ctx.detach_reset, sg.compiled_kind, g_u, g_i,
                                      grad)
        return grad.reshape(ctx.shape), g_u.reshape(shape), g_i.reshape(shape), None, None, None


class LISequence(torch.autograd.Function):
    """The leaky read-out over all steps from ``v0`` in the Triton kernels; inputs and outputs
    those of :class:`snn.training.neurons._LISequence`. Saves nothing."""

    @staticmethod
    def forward(ctx, current, v0, em):
        from snn.training import fused_triton

        params = _params({"em": em}, ("em",), current)
        flat = _steps(current.detach())
        out = torch.empty((flat.shape[0], v0.numel()), dtype=current.dtype, device=current.device)
        with _on(current.device):
            fused_triton.li_forward(flat, params, _state(v0), out)
        ctx.params, ctx.shape = params, current.shape
        return out.reshape(current.shape)

    @staticmethod
    def backward(ctx, grad_out):
        from snn.training import fused_triton

        size = int(np.prod(ctx.shape[1:], dtype=np.int64))
        grad = torch.empty((ctx.shape[0], size), dtype=grad_out.dtype, device=grad_out.device)
        g = grad_out.new_zeros(size)
        with _on(grad_out.device):
            fused_triton.li_backward(_steps(grad_out), ctx.params, g, grad)
        return grad.reshape(ctx.shape), (g * ctx.params[0]).reshape(ctx.shape[1:]), None


__all__ = ["LIFSequence", "LISequence", "MODES", "dispatch", "installed", "runs"]
