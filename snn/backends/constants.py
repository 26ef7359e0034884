"""Per-step constants of the built-in neuron models, shared by every backend.

The engine integrates linear sub-threshold dynamics exactly over one step ``dt`` (seconds):
these functions turn a model's parameters (scalars or per-neuron arrays, SI units) into the
decay factors and couplings that a step multiplies by. Each backend's implementation of a
model calls the function of that model, so the numba kernels, the torch simulation and the
training layers use one formula and agree bit for bit in float64. Values are floats (or
ints) where the parameter is a scalar and contiguous arrays where it is per neuron.
"""

from __future__ import annotations

import numpy as np


def scalar_or_array(value):
    """``value`` as a Python float/int if it is a scalar, else a contiguous array."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return int(arr) if np.issubdtype(arr.dtype, np.integer) else float(arr)
    return np.ascontiguousarray(arr)


def _finish(values: dict) -> dict[str, object]:
    return {k: scalar_or_array(v) for k, v in values.items()}


def fire_constants(model, dt: float) -> dict[str, object]:
    """Threshold, reset (volts) and refractory period (whole steps) of an integrate-and-fire model."""
    return {"v_thresh": model.v_thresh, "v_reset": model.v_reset,
            "n_ref": model.refractory_steps(dt)}


def lif_constants(model, n: int, dt: float) -> dict[str, object]:
    """LIF with current synapses, solved exactly over a step: ``v' = v em + c0 + i_exc ke +
    i_inh ki``, ``i_exc' = i_exc de``, ``i_inh' = i_inh di`` (dimensionless factors; ``c0`` in
    volts)."""
    tau_m = np.asarray(model.tau_m, dtype=np.float64)
    em = np.exp(-dt / tau_m)

    def coupling(tau_s):
        """Decay of the synaptic current over a step and its weight on v; a delta synapse
        (tau_s = 0) adds its whole input to v and keeps nothing."""
        tau_s = np.asarray(tau_s, dtype=np.float64)
        if np.all(tau_s == 0):
            return 0.0, 1.0
        ds = np.exp(-dt / tau_s)
        same = np.isclose(tau_s, tau_m, rtol=1e-9)
        denom = np.where(same, 1.0, tau_s - tau_m)
        k = np.where(same, dt / tau_m * em, tau_s / denom * (ds - em))
        return ds, k

    de, ke = coupling(model.tau_syn_exc)
    di, ki = coupling(model.tau_syn_inh)
    c0 = (np.asarray(model.v_rest) + np.asarray(model.i_bias)) * (1.0 - em)
    return _finish({"em": em, "de": de, "di": di, "ke": ke, "ki": ki, "c0": c0,
                    **fire_constants(model, dt)})


def if_constants(model, n: int, dt: float) -> dict[str, object]:
    """Non-leaky IF: the bias adds ``drive = i_bias dt`` volts a step."""
    return _finish({"drive": np.asarray(model.i_bias) * dt, **fire_constants(model, dt)})


def li_constants(model, n: int, dt: float) -> dict[str, object]:
    """Leaky integrator: ``v' = v em + input`` with ``em = exp(-dt / tau_m)``."""
    return _finish({"em": np.exp(-dt / np.asarray(model.tau_m))})


def poisson_constants(model, n: int, dt: float) -> dict[str, object]:
    """Poisson source: the per-step spike probability ``p = rate dt``; for time-varying rates
    a ``(rows, n)`` table and the steps each row lasts."""
    if not model.time_varying:
        return {"p": scalar_or_array(np.asarray(model.rate) * dt)}
    table = np.asarray(model.rate, dtype=np.float64) * dt
    table = np.ascontiguousarray(np.broadcast_to(table.reshape(len(table), -1), (len(table), n)))
    return {"p_table": table, "steps_per_row": int(round(model.rate_interval / dt))}


def _theta_constants(model, dt: float) -> dict[str, object]:
    """Adaptive threshold: its decay ``eth = exp(-dt / tau_theta)`` and jump (volts)."""
    return {"eth": scalar_or_array(np.exp(-dt / np.asarray(model.tau_theta, np.float64))),
            "theta_plus": scalar_or_array(np.asarray(model.theta_plus, np.float64))}


def adaptive_lif_constants(model, n: int, dt: float) -> dict[str, object]:
    """LIF's constants plus the adaptive threshold's ``eth`` and ``theta_plus``."""
    return {**lif_constants(model, n, dt), **_theta_constants(model, dt)}


def conductance_lif_constants(model, n: int, dt: float) -> dict[str, object]:
    """Conductance-based LIF (exponential Euler with step-mean conductances): conductance
    decays ``de``/``di`` and step means ``fe``/``fi``, ``dt_tau = dt / tau_m``, the leak and
    tonic conductance ``a0`` (units of the leak), its exact factor ``e0 = exp(-a0 dt_tau)``
    and the resting drive ``b0`` (volts)."""

    def mean_factor(tau_s):
        """Decay over a step and the step-mean of ``exp(-t / tau_s)`` over it."""
        tau_s = np.asarray(tau_s, dtype=np.float64)
        return np.exp(-dt / tau_s), -np.expm1(-dt / tau_s) * tau_s / dt

    de, fe = mean_factor(model.tau_syn_exc)
    di, fi = mean_factor(model.tau_syn_inh)
    gte, gti = np.asarray(model.g_exc_tonic), np.asarray(model.g_inh_tonic)
    e_exc, e_inh = np.asarray(model.e_rev_exc), np.asarray(model.e_rev_inh)
    dt_tau = dt / np.asarray(model.tau_m, dtype=np.float64)
    a0 = 1.0 + gte + gti
    return _finish({
        "dt_tau": dt_tau, "de": de, "fe": fe, "di": di, "fi": fi, "a0": a0,
        "e0": np.exp(-a0 * dt_tau), "e_exc": e_exc, "e_inh": e_inh,
        "b0": np.asarray(model.v_rest) + np.asarray(model.i_bias) + gte * e_exc + gti * e_inh,
        **fire_constants(model, dt)})


def adaptive_conductance_lif_constants(model, n: int, dt: float) -> dict[str, object]:
    """Conductance LIF's constants plus the threshold base ``v_base = v_thresh -
    theta_offset`` (volts), ``eth`` and ``theta_plus``."""
    values = conductance_lif_constants(model, n, dt)
    values["v_base"] = scalar_or_array(
        np.asarray(model.v_thresh, np.float64) - np.asarray(model.theta_offset, np.float64))
    return {**values, **_theta_constants(model, dt)}


def meta_neuron_constants(model, n: int, dt: float) -> dict[str, object]:
    """Meta-neuron: ``em = exp(-dt / tau_m)``, the rest drive ``c0 = v_rest (1 - em)``, the
    threshold, reset (volts) and temperature ``kappa`` (volts) of the firing probability."""
    em = np.exp(-dt / np.asarray(model.tau_m, np.float64))
    return _finish({"em": em, "c0": np.asarray(model.v_rest) * (1.0 - em),
                    "v_thresh": model.v_thresh, "v_reset": model.v_reset, "kappa": model.kappa})


def ultra_lif_constants(model, n: int, dt: float) -> dict[str, object]:
    """UltraLIF: temperature ``eps``, ``log_tau`` and threshold ``theta`` (per step, unitless)."""
    return {"eps": float(model.eps), "log_tau": float(np.log(model.tau)),
            "theta": scalar_or_array(model.theta)}


def ultra_dlif_constants(model, n: int, dt: float) -> dict[str, object]:
    """UltraDLIF: temperature ``eps``, the centre weight ``tau_c`` and threshold ``theta``."""
    return {"eps": float(model.eps), "tau_c": float(model.tau),
            "theta": scalar_or_array(model.theta)}


__all__ = [
    "adaptive_conductance_lif_constants", "adaptive_lif_constants", "conductance_lif_constants",
    "fire_constants", "if_constants", "li_constants", "lif_constants", "meta_neuron_constants",
    "poisson_constants", "scalar_or_array", "ultra_dlif_constants", "ultra_lif_constants",
]
