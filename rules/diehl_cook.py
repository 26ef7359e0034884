"""Alias of :mod:`rules.stdp.diehl_cook`, where the code lives."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("rules.stdp.diehl_cook")
