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
