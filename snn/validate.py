"""Argument checks shared by every public constructor.

Each check raises ``ValueError`` or ``TypeError`` naming the argument and saying how to fix it.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_param(name: str, value, *, positive: bool = False, nonnegative: bool = False):
    """Return ``value`` as a float or a 1-D float64 array, checked finite (and signed)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or an array of numbers, got a bool")
    if isinstance(value, numbers.Real):
        arr = np.float64(value)
        scalar = True
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{name} must be a number or an array of numbers, got {type(value).__name__}"
            ) from err
        scalar = arr.ndim == 0
        if arr.ndim > 1:
            raise ValueError(f"{name} must be a scalar or a 1-D per-neuron array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got a NaN or inf value")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {_show(arr)}; pass a positive value")
    if nonnegative and np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {_show(arr)}")
    if scalar:
        return float(arr)
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _show(arr) -> str:
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return repr(float(arr))
    return f"an array with min {arr.min():g}"


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, rejecting floats and bools."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_probability(name: str, value) -> float:
    """Return ``value`` as a float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a probability (a float in [0, 1]), got {value!r}")
    value = float(value)
    if not np.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return value


def check_positive_time(name: str, value) -> float:
    """Return a finite, strictly positive duration in seconds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a duration in seconds (a float), got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite duration in seconds, got {value}")
    return value


def check_per_neuron(name: str, value, n: int) -> None:
    """Check a per-neuron array has length ``n``."""
    if isinstance(value, np.ndarray) and value.shape != (n,):
        raise ValueError(
            f"{name} has shape {value.shape} but the population has {n} neurons; "
            f"pass a scalar or an array of shape ({n},)"
        )
