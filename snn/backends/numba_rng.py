"""Counter-based random numbers for generated kernels.

A uniform number is a hash (splitmix64 finaliser) of (seed, stream, a, b), so a simulation's
random stream depends only on its seed and the counters, never on call order or on other code
using a global generator; a vectorised backend can compute the same numbers.
"""

import numpy as np
from numba import njit

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0
NEVER = 1 << 62


@njit(inline="always", cache=True)
def _mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always", cache=True)
def uniform01(seed, stream, a, b):
    """A uniform float in [0, 1) determined by the four integer keys."""
    z = _mix(np.uint64(seed) + _GOLDEN * np.uint64(stream + 1))
    z = _mix(z + _GOLDEN * np.uint64(a + 1))
    z = _mix(z + _GOLDEN * np.uint64(b + 1))
    return np.float64(z >> _S11) * _INV53


@njit(inline="always", cache=True)
def geometric_steps(u, p):
    """Steps until the next event of a per-step Bernoulli(p) process (>= 1), from uniform u."""
    if p <= 0.0:
        return NEVER
    if p >= 1.0:
        return 1
    return 1 + np.int64(np.floor(np.log1p(-u) / np.log1p(-p)))
