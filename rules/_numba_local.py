"""Compiled CPU kernels of the rules that learn without autograd (``backend="numba"``).

Each kernel mirrors the torch arithmetic of its rule operation for operation (up to the order
of summation), working in place on the NumPy views of the rule's CPU tensors, so the two
backends agree to float round-off (the rules' tests compare them in float64).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

BACKENDS = ("torch", "numba")


def check_backend(backend: str, device) -> None:
    """Validate a rule's ``backend`` option against its ``device``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'torch' or 'numba', got {backend!r}")
    if backend == "numba" and not str(device).startswith("cpu"):
        raise ValueError(f"backend='numba' runs on the CPU, got device={str(device)!r}; use "
                         "backend='torch' on a GPU")


# -- Tempotron ---------------------------------------------------------------------------------
@njit(cache=True, nogil=True, error_model="numpy")
def _tempotron_kernels(steps, log_tau, dt, ratio, v0, kern, dkern):
    """``K`` and ``dK/dlog tau`` of each neuron at lags ``0 .. steps - 1`` (0 at lag 0):
    ``kern``, ``dkern`` ``(n_out, steps)``."""
    for o in range(log_tau.shape[0]):
        tau = math.exp(log_tau[o])
        kern[o, 0] = 0.0
        dkern[o, 0] = 0.0
        for lag in range(1, steps):
            u = lag * dt / tau
            slow = math.exp(-u)
            fast = math.exp(-u / ratio)
            kern[o, lag] = v0 * (slow - fast)
            dkern[o, lag] = v0 * (u * slow - (u / ratio) * fast)


@njit(cache=True, nogil=True, error_model="numpy")
def tempotron_potentials(x, w, log_tau, dt, ratio, v0, current, vmax, tmax, kern, dkern):
    """Fill ``current`` ``(T, B, n_out)`` (= ``x @ w.T``), ``vmax`` and ``tmax`` ``(B, n_out)``
    (the maximum of ``V`` over steps ``1 ..`` and its first step; ``V(0)`` for one step) and the
    kernels ``kern``, ``dkern`` ``(n_out, T)`` from the input spikes ``x`` ``(T, B, n_in)``."""
    steps, batch, n_in = x.shape
    n_out = w.shape[0]
    _tempotron_kernels(steps, log_tau, dt, ratio, v0, kern, dkern)
    current[:] = 0.0
    for t in range(steps):
        for b in range(batch):
            for i in range(n_in):
                s = x[t, b, i]
                if s != 0.0:
                    for o in range(n_out):
                        current[t, b, o] += s * w[o, i]
    for b in range(batch):
        for o in range(n_out):
            best, arg = 0.0, 0
            for k in range(min(steps, 2) - 1, steps):
                v = 0.0
                for j in range(k):
                    v += kern[o, k - j] * current[j, b, o]
                if k == min(steps, 2) - 1 or v > best:
                    best, arg = v, k
            vmax[b, o] = best
            tmax[b, o] = arg


@njit(cache=True, nogil=True, error_model="numpy")
def _softplus(z):
    # torch.nn.functional.softplus with beta 1, threshold 20
    return z if z > 20.0 else math.log1p(math.exp(z))


@njit(cache=True, nogil=True, error_model="numpy")
def tempotron_train(x, target, w, log_tau, threshold_raw, velocity, dt, ratio, v0, lr, momentum,
                    learn_intrinsics, intrinsic_lr, vmax, tmax):
    """One Tempotron batch update in place on ``w``, ``velocity`` (and, when learning
    intrinsics, ``log_tau`` and ``threshold_raw``); ``target`` ``(B, n_out)`` is 1 where a
    neuron should fire. Fills ``vmax``, ``tmax`` (before the update) and returns the cost."""
    steps, batch, n_in = x.shape
    n_out = w.shape[0]
    current = np.empty((steps, batch, n_out), dtype=x.dtype)
    kern = np.empty((n_out, steps), dtype=x.dtype)
    dkern = np.empty((n_out, steps), dtype=x.dtype)
    tempotron_potentials(x, w, log_tau, dt, ratio, v0, current, vmax, tmax, kern, dkern)
    theta = np.empty(n_out, dtype=x.dtype)
    for o in range(n_out):
        theta[o] = _softplus(threshold_raw[o])
    err = np.empty((batch, n_out), dtype=x.dtype)
    loss = 0.0
    for b in range(batch):
        row = 0.0
        for o in range(n_out):
            fired = 1.0 if vmax[b, o] >= theta[o] else 0.0
            e = target[b, o] - fired
            err[b, o] = e
            row += (theta[o] - vmax[b, o]) * e
        loss += row
    loss /= batch
    acc = np.zeros((n_out, n_in), dtype=x.dtype)
    for b in range(batch):
        for o in range(n_out):
            e = err[b, o]
            if e == 0.0:
                continue
            m = tmax[b, o]
            for j in range(m):
                c = kern[o, m - j] * e
                for i in range(n_in):
                    s = x[j, b, i]
                    if s != 0.0:
                        acc[o, i] += c * s
    for o in range(n_out):
        for i in range(n_in):
            velocity[o, i] = velocity[o, i] * momentum + lr * acc[o, i]
            w[o, i] += velocity[o, i]
    if learn_intrinsics:
        for o in range(n_out):
            dtau, derr = 0.0, 0.0
            for b in range(batch):
                e = err[b, o]
                m = tmax[b, o]
                dv = 0.0
                for j in range(m):
                    dv += dkern[o, m - j] * current[j, b, o]
                dtau += e * dv
                derr += e
            log_tau[o] += intrinsic_lr * dtau
            sig = 1.0 / (1.0 + math.exp(-threshold_raw[o]))
            threshold_raw[o] -= intrinsic_lr * derr * sig
    return loss


# -- TESS --------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, error_model="numpy")
def _softmax_ce(logits, onehot, scale, delta):
    """``delta = (softmax(logits) - onehot) / scale`` row by row; returns the mean over the batch
    of the cross-entropy ``-sum onehot log_softmax(logits)``."""
    batch, classes = logits.shape
    ce = 0.0
    for b in range(batch):
        top = logits[b, 0]
        for c in range(1, classes):
            top = max(top, logits[b, c])
        total = 0.0
        for c in range(classes):
            total += math.exp(logits[b, c] - top)
        log_total = math.log(total)
        row = 0.0
        for c in range(classes):
            shifted = logits[b, c] - top
            row += (shifted - log_total) * onehot[b, c]
            delta[b, c] = (math.exp(shifted) / total - onehot[b, c]) / scale
        ce -= row
    return ce / batch


@njit(cache=True, nogil=True, error_model="numpy")
def _affine(h, w, bias, has_bias, out):
    batch, n_in = h.shape
    n = w.shape[0]
    for b in range(batch):
        for i in range(n):
            out[b, i] = 0.0
        for j in range(n_in):
            s = h[b, j]
            if s != 0.0:
                for i in range(n):
                    out[b, i] += s * w[i, j]
        if has_bias:
            for i in range(n):
                out[b, i] += bias[i]


@njit(cache=True, nogil=True, error_model="numpy")
def tess_lif_step(h, w, bias, has_bias, u, q, p, gw, gb, signal, onehot, em, c0, thr, v_reset,
                  subtract, lam_pre, lam_post, a_post, a_pre, psi_slope, temperature, learning, out):
    """One training step of a LIF layer (hidden, or the spiking read-out with the identity
    ``signal``): updates the membrane ``u`` and traces ``q`` ``(B, n_in)``, ``p`` ``(B, n)``
    in place, writes the spikes in ``out`` and, when ``learning``, adds the layer's local
    update to ``gw``, ``gb``; returns the learning-signal cross-entropy (0 when not learning)."""
    batch, n_in = h.shape
    n = w.shape[0]
    for b in range(batch):
        for j in range(n_in):
            q[b, j] = q[b, j] * lam_pre + h[b, j]
    current = np.empty((batch, n), dtype=u.dtype)
    _affine(h, w, bias, has_bias, current)
    psi = np.empty((batch, n), dtype=u.dtype)
    for b in range(batch):
        for i in range(n):
            v = u[b, i] * em[i] + c0[i] + current[b, i]
            fired = v > thr[i]
            o = 1.0 if fired else 0.0
            d = psi_slope * abs(v - thr[i]) + 1.0
            psi[b, i] = 1.0 / (d * d)
            if subtract:
                u[b, i] = v - o * (thr[i] - v_reset[i])
            else:
                u[b, i] = v_reset[i] if fired else v
            out[b, i] = o
    ce = 0.0
    if learning:
        classes = signal.shape[0]
        logits = np.zeros((batch, classes), dtype=u.dtype)
        for b in range(batch):
            for c in range(classes):
                s = 0.0
                for i in range(n):
                    s += out[b, i] * signal[c, i]
                logits[b, c] = s / temperature
        delta = np.empty((batch, classes), dtype=u.dtype)
        ce = _softmax_ce(logits, onehot, batch * temperature, delta)
        m = np.zeros((batch, n), dtype=u.dtype)
        for b in range(batch):
            for c in range(classes):
                dc = delta[b, c]
                for i in range(n):
                    m[b, i] += dc * signal[c, i]
        acc = np.zeros((n, n_in), dtype=u.dtype)
        if a_pre != 0.0:
            for b in range(batch):
                for i in range(n):
                    mp = m[b, i] * psi[b, i]
                    for j in range(n_in):
                        acc[i, j] += mp * q[b, j]
            for i in range(n):
                for j in range(n_in):
                    gw[i, j] += a_pre * acc[i, j]
        if a_post != 0.0:
            acc[:] = 0.0
            for b in range(batch):
                for i in range(n):
                    mp = m[b, i] * p[b, i]
                    for j in range(n_in):
                        acc[i, j] += mp * h[b, j]
            for i in range(n):
                for j in range(n_in):
                    gw[i, j] += a_post * acc[i, j]
        if has_bias:
            for i in range(n):
                s = 0.0
                for b in range(batch):
                    s += m[b, i] * psi[b, i]
                gb[i] += s
    for b in range(batch):
        for i in range(n):
            p[b, i] = p[b, i] * lam_post + psi[b, i]
    return ce


@njit(cache=True, nogil=True, error_model="numpy")
def tess_li_step(h, w, bias, has_bias, v, q, r, gw, gb, onehot, em, learning):
    """One training step of the LI read-out (leak ``em``): updates ``v`` ``(B, n)``, the input
    trace ``q`` ``(B, n_in)`` and the bias trace ``r`` ``(1,)`` in place and, when
    ``learning``, adds the exact gradient of the step's cross-entropy to ``gw``, ``gb``;
    returns that cross-entropy (0 when not learning)."""
    batch, n_in = h.shape
    n = w.shape[0]
    for b in range(batch):
        for j in range(n_in):
            q[b, j] = q[b, j] * em + h[b, j]
    current = np.empty((batch, n), dtype=v.dtype)
    _affine(h, w, bias, has_bias, current)
    for b in range(batch):
        for i in range(n):
            v[b, i] = v[b, i] * em + current[b, i]
    if not learning:
        return 0.0
    r[0] = r[0] * em + 1.0
    delta = np.empty((batch, n), dtype=v.dtype)
    ce = _softmax_ce(v, onehot, batch, delta)
    for b in range(batch):
        for i in range(n):
            d = delta[b, i]
            for j in range(n_in):
                gw[i, j] += d * q[b, j]
    if has_bias:
        for i in range(n):
            s = 0.0
            for b in range(batch):
                s += delta[b, i]
            gb[i] += s * r[0]
    return ce
