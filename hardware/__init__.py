"""Hardware targets and formats: SpiNNaker-style emulator, NIR and PyNN export.

Planned in the hardware issues; nothing is exported yet.
"""

__all__: list[str] = []
