"""Compiled CPU loops for the training layers' neuron recurrences.

On the CPU a layer's time loop in PyTorch costs a handful of small tensor operations per
step; here each recurrence (forward and backward) is one numba loop over time with the
neurons innermost (vectorised), working in place on the tensors' memory. The arithmetic is
that of :mod:`snn.training.neurons` operation for operation, so results agree with the
torch path to float round-off (a test compares them).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

# Surrogate kinds understood by the compiled backward pass.
FAST_SIGMOID, ARCTAN, SIGMOID, STRAIGHT_THROUGH, TRIANGLE = range(5)


@njit(cache=True, inline="always")
def _surrogate(kind, slope, x):
    if kind == FAST_SIGMOID:
        d = slope * abs(x) + 1.0
        return 1.0 / (d * d)
    if kind == ARCTAN:
        y = np.pi / 2 * slope * x
        return (slope / 2) / (1 + y * y)
    if kind == SIGMOID:
        s = 1.0 / (1.0 + np.exp(-slope * x))
        return slope * s * (1 - s)
    if kind == STRAIGHT_THROUGH:
        return slope if abs(x) < 0.5 / slope else 0.0
    return slope * max(0.0, 1 - slope * abs(x))


# Parameters arrive as arrays with a stride: 1 for per-neuron values, 0 for one shared value
# (a one-element array), so the common scalar case reads from L1 and the loops vectorise.


@njit(cache=True, nogil=True, error_model="numpy")
def lif_forward(current, em, c0, ke, de, thr, vr, stride, subtract, u, i, membrane, spikes):
    """current, membrane, spikes: (T, P); parameters: (P,) or (1,); ``u`` (membrane after
    reset) and ``i`` (decayed synaptic current) hold the state before the first step and are
    left holding the state after the last. Fills membrane and spikes."""
    steps, size = current.shape
    for k in range(steps):
        for p in range(size):
            q = p * stride
            syn = i[p] + current[k, p]
            v = u[p] * em[q] + c0[q] + syn * ke[q]
            i[p] = syn * de[q]
            membrane[k, p] = v
            fired = v > thr[q]
            spikes[k, p] = 1.0 if fired else 0.0
            after = v - (thr[q] - vr[q]) if subtract else vr[q]
            u[p] = after if fired else v


@njit(cache=True, nogil=True, error_model="numpy")
def lif_backward(grad_spikes, membrane, em, ke, de, thr, vr, stride, subtract, detach, kind,
                 slope, g_u, g_i, grad_current):
    """Reverse-time pass of :func:`lif_forward`; fills grad_current (T, P). ``g_u`` and
    ``g_i`` hold the gradients with respect to the final state and are left holding those
    with respect to the initial state."""
    steps, size = membrane.shape
    for k in range(steps - 1, -1, -1):
        for p in range(size):
            q = p * stride
            v = membrane[k, p]
            x = v - thr[q]
            g = _surrogate(kind, slope, x)
            kept = 1.0 if x <= 0 else 0.0
            if subtract:
                du_dv = 1.0 if detach else 1.0 - (thr[q] - vr[q]) * g
            else:
                du_dv = kept if detach else kept + (vr[q] - v) * g
            g_v = grad_spikes[k, p] * g + g_u[p] * du_dv
            g_in = g_v * ke[q] + g_i[p] * de[q]
            grad_current[k, p] = g_in
            g_i[p] = g_in
            g_u[p] = g_v * em[q]


# Specialised kernels for the common case of one shared value per parameter: the synapse
# kind, reset mode, surrogate and float type are compile-time constants of a closure, so the
# inner loops have no run-time branches and vectorise (10x faster than the strided kernels).


@functools.cache
def shared_forward(delta: bool, subtract: bool, dtype: str):
    """Forward kernel ``(current, em, c0, ke, de, thr, vr, u, i, membrane, spikes)`` with
    scalar parameters of type ``dtype``; ``u`` and ``i`` carry the state in and out."""
    f = np.dtype(dtype).type
    one, zero = f(1.0), f(0.0)

    @njit(nogil=True, error_model="numpy")
    def kernel(current, em, c0, ke, de, thr, vr, u, i, membrane, spikes):
        steps, size = current.shape
        jump = thr - vr
        for k in range(steps):
            for p in range(size):
                if delta:
                    v = u[p] * em + c0 + current[k, p]
                else:
                    syn = i[p] + current[k, p]
                    v = u[p] * em + c0 + syn * ke
                    i[p] = syn * de
                membrane[k, p] = v
                fired = v > thr
                spikes[k, p] = one if fired else zero
                if subtract:
                    u[p] = v - jump if fired else v
                else:
                    u[p] = vr if fired else v

    return kernel


@functools.cache
def shared_backward(delta: bool, subtract: bool, detach: bool, kind: int, dtype: str):
    """Backward kernel ``(grad_spikes, membrane, em, ke, de, thr, vr, slope, g_u, g_i,
    grad_current)``; ``g_u``, ``g_i`` carry the state gradients from the end to the start."""
    f = np.dtype(dtype).type
    one, zero, half, half_pi = f(1.0), f(0.0), f(0.5), f(np.pi / 2)

    @njit(nogil=True, error_model="numpy")
    def kernel(grad_spikes, membrane, em, ke, de, thr, vr, slope, g_u, g_i, grad_current):
        steps, size = membrane.shape
        jump = thr - vr
        for k in range(steps - 1, -1, -1):
            for p in range(size):
                v = membrane[k, p]
                x = v - thr
                # The surrogate in the array's own float type (same formulas as _surrogate).
                if kind == FAST_SIGMOID:
                    d = slope * abs(x) + one
                    g = one / (d * d)
                elif kind == ARCTAN:
                    y = half_pi * slope * x
                    g = (slope * half) / (one + y * y)
                elif kind == SIGMOID:
                    e = one / (one + np.exp(-slope * x))
                    g = slope * e * (one - e)
                elif kind == STRAIGHT_THROUGH:
                    g = slope if abs(x) < half / slope else zero
                else:
                    g = slope * max(zero, one - slope * abs(x))
                if subtract:
                    du_dv = one if detach else one - jump * g
                else:
                    kept = one if x <= 0 else zero
                    du_dv = kept if detach else kept + (vr - v) * g
                g_v = grad_spikes[k, p] * g + g_u[p] * du_dv
                if delta:
                    grad_current[k, p] = g_v
                else:
                    g_in = g_v * ke + g_i[p] * de
                    grad_current[k, p] = g_in
                    g_i[p] = g_in
                g_u[p] = g_v * em

    return kernel
