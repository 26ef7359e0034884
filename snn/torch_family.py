"""Torch implementations of the extended neuron family (adaptive LIF, meta-neuron, UltraLIF,
UltraDLIF) for training layers."""
