"""Network-training algorithms (forward-forward, counter-current, TESS, SoftHebb, BPTT) and
the benchmark harness.

Planned in the learning-rule issues; nothing is exported yet.
"""

__all__: list[str] = []
