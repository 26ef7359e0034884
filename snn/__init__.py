"""Synaptica's engine: neuron models, the network graph, monitors and backends."""

from snn.connect import AllToAll, FixedInDegree, FixedProbability, FromList, FromMatrix, OneToOne
from snn.distributions import Normal, Uniform, UniformInt
from snn.models import (
    IF,
    LI,
    LIF,
    AdaptiveConductanceLIF,
    AdaptiveLIF,
    ConductanceLIF,
    MetaNeuron,
    NeuronModel,
    PoissonSource,
    SettablePoissonSource,
    SpikeSource,
    StateVar,
    UltraDLIF,
    UltraLIF,
    set_rates,
)
from snn.network import Network, Population, PopulationView
from snn.results import Results, SpikeRecord, StateRecord
from snn.snapshot import Simulation

__version__ = "0.1.0"

# Submodules that import torch or matplotlib load on first use, so `import snn` stays light.
_LAZY = ("datasets", "encoding", "layers", "plot", "surrogate")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"snn.{name}")
    raise AttributeError(f"module 'snn' has no attribute {name!r}")

__all__ = [
    "IF", "LI", "LIF", "AdaptiveConductanceLIF", "AdaptiveLIF", "AllToAll", "ConductanceLIF",
    "FixedInDegree", "FixedProbability", "FromList", "FromMatrix", "MetaNeuron", "Network",
    "NeuronModel", "Normal", "OneToOne", "PoissonSource", "Population", "PopulationView",
    "Results", "SettablePoissonSource", "Simulation", "SpikeRecord", "SpikeSource", "StateRecord", "StateVar",
    "UltraDLIF", "UltraLIF", "Uniform", "UniformInt", "__version__", "set_rates",
]
