"""Alias of :mod:`rules.stdp.pattern`, where the code lives."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("rules.stdp.pattern")
