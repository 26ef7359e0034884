"""Synapse-level plasticity mechanisms (STDP family, Hebbian, homeostasis, neuromodulation).

Planned in the plasticity issue; nothing is exported yet.
"""

__all__: list[str] = []
