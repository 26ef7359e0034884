"""Network-training algorithms, registered by name, and the benchmark harness.

This package holds the rules that train layer stacks on a data set (torch, batched): the
local rules ``ff`` (forward-forward), ``ccl`` (counter-current), ``tess``, ``softhebb`` and
``tempotron``, and the BPTT reference ``bptt`` (surrogate gradients); their shared pieces
(:mod:`rules.base`) and the harness that compares them (:mod:`rules.bench`, ``synaptica bench
rules``). A rule is a class registered with :func:`register`; third parties can also expose
rules in the ``synaptica.rules`` entry-point group, which is also how ``tess-spinnaker``
(TESS on the emulated SpiNNaker cores, :mod:`hardware.spinnaker.tess`) joins without
``rules`` importing ``hardware``.

The engine-based STDP learners, spiking networks simulated on the engine's backends with
synaptic plasticity doing the learning (Diehl & Cook, symmetric STDP, the pattern detector),
live in :mod:`rules.stdp`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

_RULES: dict[str, str | type] = {
    "bptt": "rules.bptt:BPTT",
    "ff": "rules.ff:ForwardForward",
    "ccl": "rules.ccl:CounterCurrent",
    "tess": "rules.tess:TESS",
    "softhebb": "rules.softhebb:SoftHebb",
    "tempotron": "rules.tempotron:Tempotron",
}


def register(name: str):
    """Class decorator: make the decorated rule available as ``name``."""

    def add(cls):
        _RULES[name] = cls
        return cls

    return add


def available() -> list[str]:
    """Names of all registered rules."""
    for ep in entry_points(group="synaptica.rules"):
        _RULES.setdefault(ep.name, ep.value)
    return sorted(_RULES)


def get(name: str) -> type:
    """The rule class registered as ``name``."""
    if name not in available():
        raise ValueError(f"rule {name!r} is unknown; known rules: {', '.join(available())}")
    target = _RULES[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
        _RULES[name] = target
    return target


__all__ = ["available", "get", "register"]
