"""Synaptica's engine: neuron models, the network graph, monitors and backends."""

from snn.connect import AllToAll, FixedInDegree, FixedProbability, FromList, FromMatrix, OneToOne
from snn.distributions import Normal, Uniform, UniformInt
from snn.models import IF, LI, LIF, NeuronModel, PoissonSource, SpikeSource, StateVar
from snn.network import Network, Population, PopulationView
from snn.results import Results, SpikeRecord, StateRecord

__version__ = "0.1.0"

__all__ = [
    "IF", "LI", "LIF", "AllToAll", "FixedInDegree", "FixedProbability", "FromList", "FromMatrix",
    "Network", "NeuronModel", "Normal", "OneToOne", "PoissonSource", "Population",
    "PopulationView", "Results", "SpikeRecord", "SpikeSource", "StateRecord", "StateVar",
    "Uniform", "UniformInt", "__version__",
]
