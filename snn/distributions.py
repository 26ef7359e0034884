"""Random initial values for weights, delays and state variables, drawn at build time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn.validate import as_param


class Distribution:
    """A distribution that a backend samples with the network's seeded generator."""

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` values."""
        raise NotImplementedError


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on ``[low, high)``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        as_param("Uniform.low", self.low)
        as_param("Uniform.high", self.high)
        if self.high < self.low:
            raise ValueError(f"Uniform.high ({self.high}) must be >= Uniform.low ({self.low})")

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.low + (self.high - self.low) * rng.random(size)


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal with ``mean`` and ``std``, optionally clipped to ``[low, high]``."""

    mean: float
    std: float
    low: float = -np.inf
    high: float = np.inf

    def __post_init__(self) -> None:
        as_param("Normal.mean", self.mean)
        as_param("Normal.std", self.std, nonnegative=True)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.clip(rng.normal(self.mean, self.std, size), self.low, self.high)


@dataclass(frozen=True)
class UniformInt(Distribution):
    """Integers uniform on ``[low, high]`` (both included), e.g. for delays in steps."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if int(self.low) != self.low or int(self.high) != self.high or self.high < self.low:
            raise ValueError("UniformInt needs integers low <= high")

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.integers(self.low, self.high + 1, size)
