"""Homeostasis: synaptic scaling of each postsynaptic neuron's input weights.

* :class:`SynapticScaling` (normalisation, Diehl & Cook 2015, Hao et al. 2020): every
  ``every`` steps, each post neuron's incoming weights are multiplied by one factor so that
  their sum equals ``target`` (neurons whose input sum is not positive are left alone).
* :class:`TargetRateScaling` (Turrigiano-style): every ``every`` steps, each post neuron's
  incoming weights are multiplied by ``max(0, 1 + gain (target_rate - rate) / target_rate)``
  where ``rate`` is the neuron's firing rate over those steps (Hz).

Both run at the end of the step ``k`` with ``(k + 1) % every == 0``, after that step's STDP
updates. For scaling "before each sample" (between runs) call
``sim.set_weights(name, ...)`` instead, or put ``every`` at the sample length.

Intrinsic plasticity (a neuron's excitability adapting to its activity) is the adaptive
threshold of :class:`snn.AdaptiveLIF`: ``theta`` jumps by ``theta_plus`` at each spike and
decays with ``tau_theta``, so a neuron that fires a lot needs more input to fire again. It is
part of the neuron model (state variable ``theta``), not of a projection.
"""

from __future__ import annotations

from dataclasses import dataclass

from plasticity.stdp import Plasticity, _real
from snn.validate import check_int


@dataclass(frozen=True, eq=False)
class SynapticScaling(Plasticity):
    """Multiplicative normalisation of each post neuron's input weights to sum ``target``
    (weight unit) every ``every`` steps."""

    target: float
    every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", _real("SynapticScaling.target", self.target, positive=True))
        object.__setattr__(self, "every", check_int("SynapticScaling.every", self.every, minimum=1))

    def hardware_spec(self, dt: float) -> dict[str, object]:
        """Target sum and period (steps): a per-row pass on the target, no lookup tables."""
        return {"rule": "SynapticScaling", "target": self.target, "every_steps": self.every}


@dataclass(frozen=True, eq=False)
class TargetRateScaling(Plasticity):
    """Every ``every`` steps, scale each post neuron's input weights by
    ``max(0, 1 + gain (target_rate - rate) / target_rate)``; ``rate`` (Hz) is measured over
    those steps."""

    target_rate: float
    every: int = 1000
    gain: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_rate",
                           _real("TargetRateScaling.target_rate", self.target_rate, positive=True))
        object.__setattr__(self, "every", check_int("TargetRateScaling.every", self.every, minimum=1))
        object.__setattr__(self, "gain", _real("TargetRateScaling.gain", self.gain, nonnegative=True))

    def hardware_spec(self, dt: float) -> dict[str, object]:
        """Target rate, gain and period (steps), and the spike count that equals the target."""
        return {"rule": "TargetRateScaling", "target_rate": self.target_rate, "gain": self.gain,
                "every_steps": self.every, "target_count": self.target_rate * self.every * dt}


__all__ = ["SynapticScaling", "TargetRateScaling"]
