"""Three-factor learning: an STDP rule feeds a per-synapse eligibility trace, and the weight
follows the eligibility times a broadcast neuromodulator.

``de/dt = -e / tau_e`` plus the rule's ``on_pre``/``on_post`` terms as jumps of ``e`` (not of
``w``), and ``dw/dt = lr * M(t) * e(t)``. The modulator ``M`` is a scalar per mechanism: set
it between runs (``sim.set_modulator(name, value)``), and/or let a population drive it
(``source="DA"``: every spike of that population adds ``increment`` to ``M``, which decays
with ``tau_modulator``; ``inf`` keeps it constant between changes).

Event-driven and exact: between changes of ``M`` both ``e`` and ``M`` decay exponentially, so
a synapse is brought up to date only when one of its neurons fires, with
``w += lr M(t0) e(t0) tau_c (1 - exp(-(t - t0)/tau_c))``, ``1/tau_c = 1/tau_e + 1/tau_modulator``.
When ``M`` changes (a spike of the source, ``set_modulator``) and at the end of every run,
all synapses are brought up to date first (a pass over the projection), so the weights read
after a run are current. The weight is clipped to the rule's bounds at each update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from plasticity.stdp import Plasticity, TraceRule, _real
from snn.validate import check_positive_time


@dataclass(frozen=True, eq=False)
class ThreeFactor(Plasticity):
    """Neuromodulated STDP (eligibility trace x modulator).

    Args:
        rule: the STDP rule whose weight changes feed the eligibility trace.
        modulator: name of the modulator (for ``sim.set_modulator``).
        tau_e: eligibility time constant (s).
        lr: learning rate: weight change per unit modulator, unit eligibility and second (1/s).
        tau_modulator: decay time constant of the modulator (s; ``inf``: constant).
        source: name of a population whose spikes add ``increment`` to the modulator, or None.
        increment: modulator jump per source spike.
        initial: modulator value at the start.
    """

    rule: TraceRule
    modulator: str = "dopamine"
    tau_e: float = 0.5
    lr: float = 1.0
    tau_modulator: float = math.inf
    source: str | None = None
    increment: float = 1.0
    initial: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.rule, TraceRule):
            raise TypeError(f"ThreeFactor.rule must be an STDP rule such as PairSTDP(), got {self.rule!r}")
        if not isinstance(self.modulator, str) or not self.modulator:
            raise TypeError(f"ThreeFactor.modulator must be a non-empty name, got {self.modulator!r}")
        object.__setattr__(self, "tau_e", check_positive_time("ThreeFactor.tau_e", self.tau_e))
        object.__setattr__(self, "lr", _real("ThreeFactor.lr", self.lr))
        tm = _real("ThreeFactor.tau_modulator", self.tau_modulator, positive=True, allow_inf=True)
        object.__setattr__(self, "tau_modulator", tm)
        if self.source is not None and not isinstance(self.source, str):
            raise TypeError(f"ThreeFactor.source must be a population name or None, got {self.source!r}")
        object.__setattr__(self, "increment", _real("ThreeFactor.increment", self.increment))
        object.__setattr__(self, "initial", _real("ThreeFactor.initial", self.initial))

    @property
    def tau_c(self) -> float:
        """Time constant of the product ``M e`` (s)."""
        if math.isinf(self.tau_modulator):
            return self.tau_e
        return 1.0 / (1.0 / self.tau_e + 1.0 / self.tau_modulator)

    def tables(self, dt: float) -> dict[str, object]:
        """Lookup tables shared by the backends: eligibility decay ``exp(-n dt/tau_e)``, the
        integral ``tau_c (1 - exp(-n dt/tau_c))`` (s) and the modulator decay."""
        from plasticity.traces import decay_table

        tab_e = decay_table(self.tau_e, dt)
        n = np.arange(tab_e.size, dtype=np.float64)
        tab_g = self.tau_c * (1.0 - np.exp(-n * (dt / self.tau_c)))
        if math.isinf(self.tau_modulator):
            tab_m, rate_m = np.ones(1), 0.0
        else:
            tab_m, rate_m = decay_table(self.tau_modulator, dt), dt / self.tau_modulator
        return {"tab_e": tab_e, "rate_e": dt / self.tau_e, "tab_g": tab_g, "tau_c": self.tau_c,
                "rate_c": dt / self.tau_c, "tab_m": tab_m, "rate_m": rate_m}

    def hardware_spec(self, dt: float) -> dict[str, object]:
        """The rule's spec plus the eligibility and modulator time constants and tables."""
        spec = self.rule.hardware_spec(dt)
        spec.update({"three_factor": True, "modulator": self.modulator, "tau_e": self.tau_e,
                     "tau_modulator": self.tau_modulator, "lr": self.lr, "source": self.source,
                     "increment": self.increment})
        return spec


__all__ = ["ThreeFactor"]
