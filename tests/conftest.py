"""Shared fixtures. Without a GPU, Triton kernels run in Triton's CPU interpreter."""

import os

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # must be set before triton.jit runs


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def _selects_slow(config) -> bool:
    """Whether ``-m`` asks for the slow checks (``-m slow``, not the default ``-m 'not slow'``)."""
    expr = config.option.markexpr or ""
    return "slow" in expr and "not slow" not in expr


def pytest_configure(config):
    # `-m slow` runs the fuzz properties with the slow profile (10x the examples, tests/fuzzing.py);
    # set before the test modules are imported, since their settings are made at import.
    if _selects_slow(config):
        os.environ.setdefault("SYNAPTICA_FUZZ", "slow")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # ... and selects them: they carry the slow mark too under `-m slow`.
    if _selects_slow(config):
        for item in items:
            if item.fspath.basename.startswith("test_fuzz_"):
                item.add_marker(pytest.mark.slow)
