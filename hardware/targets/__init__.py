"""Chip targets built offline through the vendors' own formats: Loihi 2 (lava-dl netx) and
SynSense Xylo (rockpool specification), each with our own model of the chip's arithmetic."""
