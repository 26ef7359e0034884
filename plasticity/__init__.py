"""Synapse-level plasticity mechanisms: traces, STDP windows, weight bounds, three-factor
(neuromodulated) learning and homeostasis.

Attach a mechanism to a projection with ``net.connect(pre, post, ..., plasticity=rule)``
(one mechanism or a tuple of them). Mechanisms are data; their numba and torch
implementations live in :mod:`plasticity._numba` and :mod:`plasticity._torch` and register
with the engine's backend registry on import, so the engine never names a mechanism.
See ``docs/plasticity.md``.
"""

from plasticity import _numba  # noqa: F401  (registers the numba implementations)
from plasticity.homeostasis import SynapticScaling, TargetRateScaling
from plasticity.modulation import ThreeFactor
from plasticity.monitor import WeightRecord, record_weights
from plasticity.stdp import (
    DiehlCookSTDP,
    PairSTDP,
    Plasticity,
    SymmetricSTDP,
    TraceRule,
    TripletSTDP,
)
from plasticity.traces import Trace, decay_table
from snn.backends import register_backend

# The torch implementations import torch: load them only when the torch backend is used.
register_backend("torch", "snn.backends.torch:TorchSimulation", ["plasticity._torch"])

# Rate-based Hebbian terms (plasticity.hebbian) import torch: resolved on first use.
_HEBBIAN = ("HebbTerm", "OjaTerm", "SoftHebbTerm", "hebb_update", "modulated_hebb_update",
            "oja_update", "radius_lr", "soft_wta", "softhebb_update")


def __getattr__(name: str):
    if name in _HEBBIAN:
        from plasticity import hebbian

        return getattr(hebbian, name)
    raise AttributeError(f"module 'plasticity' has no attribute {name!r}")


__all__ = [
    "DiehlCookSTDP", "PairSTDP", "Plasticity", "SymmetricSTDP", "SynapticScaling", "TargetRateScaling",
    "ThreeFactor", "Trace", "TraceRule", "TripletSTDP", "WeightRecord", "decay_table", "record_weights",
    *_HEBBIAN,
]
