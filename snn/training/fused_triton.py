"""Triton kernels for the training layers' neuron recurrences: the CUDA counterpart of
:mod:`snn.training.fused_cpu`.

One kernel runs a layer's forward pass over all ``T`` steps and one its backward pass over
``T`` in reverse; each program owns a block of neurons (the flattened ``(batch, ...)`` of one
step) and keeps their state in registers, so a layer costs two launches per pass instead of
a handful of small tensor operations per step. The arithmetic is that of
:mod:`snn.training.neurons` and :mod:`snn.training.fused_cpu` operation for operation;
the forward pass saves the membrane of each step only (spikes are recomputed from it).

Tensors are time-major: ``(T, P)`` with each step's ``P`` neurons contiguous; a time stride
of 0 is allowed for inputs (the gradient of a sum over time arrives that way and is read
without being expanded). Parameters come as a ``(rows, P)`` tensor of per-neuron values or a
``(rows, 1)`` tensor of shared ones (``SHARED``), in the tensors' float type.

The kernels run on CUDA tensors, and on CPU tensors in Triton's interpreter
(``TRITON_INTERPRET=1`` set before triton is imported), which is how they are tested where no
GPU is present. Choosing when they run, and the autograd nodes around them, is
:mod:`snn.training.fused_gpu`'s job.
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

from snn.training.fused_cpu import ARCTAN, FAST_SIGMOID, SIGMOID, STRAIGHT_THROUGH, TRIANGLE

# Surrogate kinds the backward kernel knows (the numbering of fused_cpu).
KINDS = (FAST_SIGMOID, ARCTAN, SIGMOID, STRAIGHT_THROUGH, TRIANGLE)

# Neurons per program: one per thread of 4 warps. The recurrence over T is serial, so the
# kernels are latency-bound; one neuron per thread gives the most threads to hide it.
BLOCK = 128
NUM_WARPS = 4
# No fused multiply-adds: each operation rounds as in fused_cpu and the torch loop, so a
# membrane on the threshold fires on the GPU exactly when it fires on the CPU.
_LAUNCH = {"num_warps": NUM_WARPS, "enable_fp_fusion": False}


@triton.jit
def _param(ptr, row, offs, mask, size, SHARED: tl.constexpr):
    """Row ``row`` of the parameter tensor: a scalar when SHARED, else the block's values."""
    if SHARED:
        value = tl.load(ptr + row)
    else:
        value = tl.load(ptr + row * size + offs, mask=mask, other=0.0)
    return value


@triton.jit(do_not_specialize=["steps"])
def _lif_forward(current, current_tstride, params, u, i, membrane, spikes, steps, size,
                 SHARED: tl.constexpr, DELTA: tl.constexpr, SUBTRACT: tl.constexpr,
                 BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < size
    em = _param(params, 0, offs, mask, size, SHARED)
    c0 = _param(params, 1, offs, mask, size, SHARED)
    ke = _param(params, 2, offs, mask, size, SHARED)
    de = _param(params, 3, offs, mask, size, SHARED)
    thr = _param(params, 4, offs, mask, size, SHARED)
    vr = _param(params, 5, offs, mask, size, SHARED)
    jump = thr - vr
    u_k = tl.load(u + offs, mask=mask, other=0.0)
    i_k = tl.load(i + offs, mask=mask, other=0.0)
    x_ptr = current + offs
    m_ptr = membrane + offs
    s_ptr = spikes + offs
    # The next step's input is loaded one step ahead, so its latency overlaps this step
    # (the launchers never start a kernel with no steps).
    x_next = tl.load(x_ptr, mask=mask, other=0.0)
    for k in range(steps):
        x = x_next
        if k + 1 < steps:
            x_ptr += current_tstride
            x_next = tl.load(x_ptr, mask=mask, other=0.0)
        if DELTA:
            v = u_k * em + c0 + x
        else:
            syn = i_k + x
            v = u_k * em + c0 + syn * ke
            i_k = syn * de
        tl.store(m_ptr, v, mask=mask)
        fired = v > thr
        tl.store(s_ptr, tl.where(fired, 1.0, 0.0).to(v.dtype), mask=mask)
        if SUBTRACT:
            u_k = tl.where(fired, v - jump, v)
        else:
            u_k = tl.where(fired, vr, v)
        m_ptr += size
        s_ptr += size
    tl.store(u + offs, u_k, mask=mask)
    tl.store(i + offs, i_k, mask=mask)


@triton.jit
def _surrogate(x, slope, arctan_scale, box_half_width, KIND: tl.constexpr):
    """The surrogate ``g(x)`` of :mod:`snn.training.surrogate` (kinds of fused_cpu)."""
    if KIND == 0:  # FAST_SIGMOID
        d = slope * tl.abs(x) + 1.0
        g = 1.0 / (d * d)
    elif KIND == 1:  # ARCTAN: arctan_scale = pi / 2 * slope
        y = arctan_scale * x
        g = (slope * 0.5) / (1.0 + y * y)
    elif KIND == 2:  # SIGMOID
        e = 1.0 / (1.0 + tl.exp(-slope * x))
        g = slope * e * (1.0 - e)
    elif KIND == 3:  # STRAIGHT_THROUGH: box_half_width = 0.5 / slope
        g = tl.where(tl.abs(x) < box_half_width, slope, 0.0 * slope)
    else:  # TRIANGLE
        g = slope * tl.maximum(0.0 * x, 1.0 - slope * tl.abs(x))
    return g


@triton.jit(do_not_specialize=["steps"])
def _lif_backward(grad_spikes, grad_tstride, membrane, params, surrogate, g_u, g_i, grad_current,
                  steps, size, SHARED: tl.constexpr, DELTA: tl.constexpr,
                  SUBTRACT: tl.constexpr, DETACH: tl.constexpr, KIND: tl.constexpr,
                  BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < size
    em = _param(params, 0, offs, mask, size, SHARED)
    ke = _param(params, 2, offs, mask, size, SHARED)
    de = _param(params, 3, offs, mask, size, SHARED)
    thr = _param(params, 4, offs, mask, size, SHARED)
    vr = _param(params, 5, offs, mask, size, SHARED)
    jump = thr - vr
    slope = tl.load(surrogate)
    arctan_scale = tl.load(surrogate + 1)
    box_half_width = tl.load(surrogate + 2)
    gu = tl.load(g_u + offs, mask=mask, other=0.0)
    gi = tl.load(g_i + offs, mask=mask, other=0.0)
    last = (steps - 1).to(tl.int64)
    m_ptr = membrane + last * size + offs
    s_ptr = grad_spikes + last * grad_tstride + offs
    out = grad_current + last * size + offs
    v_next = tl.load(m_ptr, mask=mask, other=0.0)
    gs_next = tl.load(s_ptr, mask=mask, other=0.0)
    for j in range(steps):
        v = v_next
        gs = gs_next
        if j + 1 < steps:
            m_ptr -= size
            s_ptr -= grad_tstride
            v_next = tl.load(m_ptr, mask=mask, other=0.0)
            gs_next = tl.load(s_ptr, mask=mask, other=0.0)
        x = v - thr
        g = _surrogate(x, slope, arctan_scale, box_half_width, KIND)
        if SUBTRACT:
            if DETACH:
                du_dv = 1.0
            else:
                du_dv = 1.0 - jump * g
        else:
            kept = tl.where(x <= 0, 1.0, 0.0).to(v.dtype)
            if DETACH:
                du_dv = kept
            else:
                du_dv = kept + (vr - v) * g
        g_v = gs * g + gu * du_dv
        if DELTA:
            tl.store(out, g_v, mask=mask)
        else:
            g_in = g_v * ke + gi * de
            tl.store(out, g_in, mask=mask)
            gi = g_in
        gu = g_v * em
        out -= size
    tl.store(g_u + offs, gu, mask=mask)
    tl.store(g_i + offs, gi, mask=mask)


@triton.jit(do_not_specialize=["steps"])
def _li_forward(current, current_tstride, params, v0, out, steps, size, SHARED: tl.constexpr,
                BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < size
    em = _param(params, 0, offs, mask, size, SHARED)
    v = tl.load(v0 + offs, mask=mask, other=0.0)
    x_ptr = current + offs
    o_ptr = out + offs
    x_next = tl.load(x_ptr, mask=mask, other=0.0)
    for k in range(steps):
        x = x_next
        if k + 1 < steps:
            x_ptr += current_tstride
            x_next = tl.load(x_ptr, mask=mask, other=0.0)
        v = v * em + x
        tl.store(o_ptr, v, mask=mask)
        o_ptr += size


@triton.jit(do_not_specialize=["steps"])
def _li_backward(grad_out, grad_tstride, params, g_v, grad_current, steps, size,
                 SHARED: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < size
    em = _param(params, 0, offs, mask, size, SHARED)
    g = tl.zeros([BLOCK], dtype=grad_current.dtype.element_ty)
    last = (steps - 1).to(tl.int64)
    s_ptr = grad_out + last * grad_tstride + offs
    out = grad_current + last * size + offs
    gs_next = tl.load(s_ptr, mask=mask, other=0.0)
    for j in range(steps):
        gs = gs_next
        if j + 1 < steps:
            s_ptr -= grad_tstride
            gs_next = tl.load(s_ptr, mask=mask, other=0.0)
        g = gs + g * em
        tl.store(out, g, mask=mask)
        out -= size
    tl.store(g_v + offs, g, mask=mask)


# -- launchers: torch tensors in, kernels launched on the tensors' device --------------------


def _grid(size: int) -> tuple[int]:
    return (triton.cdiv(size, BLOCK),)


def surrogate_constants(kind: int, slope: float, like: torch.Tensor) -> torch.Tensor:
    """``(slope, pi/2 slope, 0.5/slope)`` in the float type of ``like`` (products rounded as
    fused_cpu rounds them), on its device: what the backward kernel reads."""
    if kind not in KINDS:
        raise ValueError(f"surrogate kind {kind} has no Triton kernel; kinds: {KINDS}")
    f = np.dtype(str(like.dtype).removeprefix("torch.")).type
    s = f(slope)
    values = np.array([s, f(np.pi / 2) * s, f(0.5) / s], dtype=f)
    return torch.as_tensor(values, device=like.device)


def lif_forward(current: torch.Tensor, params: torch.Tensor, delta: bool, subtract: bool,
                u: torch.Tensor, i: torch.Tensor, membrane: torch.Tensor,
                spikes: torch.Tensor) -> None:
    """All steps of an LIF layer. ``current``: ``(T, P)``, each step contiguous (time stride
    free); ``params``: ``(6, P)`` or ``(6, 1)`` rows em, c0, ke, de, v_thresh, v_reset;
    ``u``, ``i``: ``(P,)`` state before the first step, left holding the state after the last;
    fills ``membrane`` and ``spikes`` ``(T, P)`` (contiguous)."""
    steps, size = membrane.shape
    if steps == 0 or size == 0:
        return
    _lif_forward[_grid(size)](current, current.stride(0), params, u, i, membrane, spikes, steps,
                              size, SHARED=params.shape[1] == 1, DELTA=delta, SUBTRACT=subtract,
                              BLOCK=BLOCK, **_LAUNCH)


def lif_backward(grad_spikes: torch.Tensor, membrane: torch.Tensor, params: torch.Tensor,
                 surrogate: torch.Tensor, delta: bool, subtract: bool, detach: bool, kind: int,
                 g_u: torch.Tensor, g_i: torch.Tensor, grad_current: torch.Tensor) -> None:
    """Reverse-time pass of :func:`lif_forward`: fills ``grad_current`` ``(T, P)``; ``g_u``,
    ``g_i`` ``(P,)`` hold the gradients with respect to the final state and are left holding
    those with respect to the initial state. ``surrogate``: :func:`surrogate_constants`."""
    steps, size = membrane.shape
    if steps == 0 or size == 0:
        return
    _lif_backward[_grid(size)](grad_spikes, grad_spikes.stride(0), membrane, params, surrogate,
                               g_u, g_i, grad_current, steps, size,
                               SHARED=params.shape[1] == 1, DELTA=delta, SUBTRACT=subtract,
                               DETACH=detach, KIND=kind, BLOCK=BLOCK, **_LAUNCH)


def li_forward(current: torch.Tensor, params: torch.Tensor, v0: torch.Tensor,
               out: torch.Tensor) -> None:
    """The leaky read-out ``v_k = em v_k-1 + current_k`` from ``v0`` ``(P,)``; ``params``:
    ``(1, P)`` or ``(1, 1)``; fills ``out`` ``(T, P)``."""
    steps, size = out.shape
    if steps == 0 or size == 0:
        return
    _li_forward[_grid(size)](current, current.stride(0), params, v0, out, steps, size,
                             SHARED=params.shape[1] == 1, BLOCK=BLOCK, **_LAUNCH)


def li_backward(grad_out: torch.Tensor, params: torch.Tensor, g_v: torch.Tensor,
                grad_current: torch.Tensor) -> None:
    """Reverse-time pass of :func:`li_forward`: fills ``grad_current`` ``(T, P)`` and ``g_v``
    ``(P,)`` with the gradient with respect to the first step's membrane (the gradient with
    respect to ``v0`` is ``em`` times it)."""
    steps, size = grad_current.shape
    if steps == 0 or size == 0:
        return
    _li_backward[_grid(size)](grad_out, grad_out.stride(0), params, g_v, grad_current, steps, size,
                              SHARED=params.shape[1] == 1, BLOCK=BLOCK, **_LAUNCH)
