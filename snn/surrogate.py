"""Alias of :mod:`snn.training.surrogate`, where the code lives."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("snn.training.surrogate")
