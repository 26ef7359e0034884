"""Alias of :mod:`snn.training.layers`, where the code lives."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("snn.training.layers")
