"""A model added from outside the engine runs on the numba backend without editing it."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import snn
from snn.backends import implementation_for, implements
from snn.backends.numba_models import NumbaNeuron
from snn.models import NeuronModel, StateVar


@dataclass(frozen=True, eq=False)
class Resonator(NeuronModel):
    """A toy two-variable model defined in a test: v' = -w, w' = v (a rotation)."""

    omega: float = 100.0
    state_vars: ClassVar[tuple[StateVar, ...]] = (StateVar("x", np.float64, 1.0),
                                                  StateVar("y", np.float64, 0.0))
    ports: ClassVar[dict[str, str]] = {"exc": "x"}


@implements(Resonator, "numba")
class NumbaResonator(NumbaNeuron):
    def constants(self, model, n, dt):
        return {"c": float(np.cos(model.omega * dt)), "s": float(np.sin(model.omega * dt))}

    def body(self, model):
        return """
x = $x
y = $y
$x = x * $c - y * $s
$y = x * $s + y * $c
spiked = (y < 0.0) & (x * $s + y * $c >= 0.0)
"""


def test_user_model_runs_exactly():
    net = snn.Network()
    pop = net.population(1, Resonator(omega=100.0), name="r")
    net.state_monitor(pop, ["x"], name="x")
    res = net.run(0.1, dt=1e-4, seed=0)
    t = res["x"].times
    np.testing.assert_allclose(res["x"]["x"][:, 0], np.cos(100.0 * t), atol=1e-9)


def test_missing_implementation_is_reported():
    @dataclass(frozen=True, eq=False)
    class Orphan(NeuronModel):
        pass

    with pytest.raises(NotImplementedError, match="Orphan has no implementation for backend"):
        implementation_for(Orphan(), "numba")
