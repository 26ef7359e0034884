"""What every backend's implementation of the trace rules shares (numba, torch, fixed point).

Traces are stored scaled to an epoch step (see :mod:`plasticity.traces`); these helpers give
the epoch bookkeeping and which traces an expression reads, so no backend's implementation
needs another's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from plasticity.stdp import TraceRule

RESCALE = 500.0  # largest (k - epoch) dt / tau before the stored traces are rescaled


def epoch_arrays(rule: TraceRule, dt: float) -> dict[str, object]:
    """The epoch step and the number of steps after which traces are rescaled."""
    c = rule.compiled()
    taus = [c["pre_traces"][t].tau for t in c["pre_uses"]] + \
        [c["post_traces"][t].tau for t in c["post_uses"]]
    renorm = max(1, int(RESCALE * min(taus) / dt)) if taus else 1 << 62
    return {"epoch": np.zeros(1, np.int64), "renorm": renorm}


def used_in(rule: TraceRule, key: str, side: str) -> list[str]:
    """Traces of ``side`` that the expression ``key`` reads."""
    c = rule.compiled()
    return c[f"{key}_{side}"]


__all__ = ["RESCALE", "epoch_arrays", "used_in"]
