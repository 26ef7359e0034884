"""Alias of :mod:`rules.stdp.sym_stdp`, where the code lives."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("rules.stdp.sym_stdp")
