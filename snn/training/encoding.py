"""Turning static inputs into spike trains over ``T`` steps, and network outputs into classes.

Encoders take ``x`` with values in [0, 1] and shape ``(batch, ...)`` and return
``(T, batch, ...)``; decoders take ``(T, batch, classes)`` and return ``(batch, classes)``
scores (higher is more likely) for ``argmax``.
"""

from __future__ import annotations

import torch

from snn.validate import check_int


def rate(x: torch.Tensor, steps: int, gain: float = 1.0,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """Bernoulli spikes with probability ``clamp(gain * x, 0, 1)`` per step."""
    steps = check_int("steps", steps, minimum=1)
    p = torch.clamp(x * gain, 0.0, 1.0)
    draws = torch.rand((steps, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
    return _binary((draws < p).to(x.dtype))


def latency(x: torch.Tensor, steps: int, threshold: float = 0.01) -> torch.Tensor:
    """One spike per input at step ``round((1 - x) * (T - 1))``: stronger inputs fire earlier;
    inputs at or below ``threshold`` never fire."""
    steps = check_int("steps", steps, minimum=1)
    when = torch.round((1.0 - torch.clamp(x, 0.0, 1.0)) * (steps - 1)).long()
    t = torch.arange(steps, device=x.device).view(steps, *([1] * x.dim()))
    return _binary(((t == when) & (x > threshold)).to(x.dtype))


def direct(x: torch.Tensor, steps: int) -> torch.Tensor:
    """The input itself as a constant current at every step."""
    steps = check_int("steps", steps, minimum=1)
    return x.unsqueeze(0).expand(steps, *x.shape).contiguous()


def _binary(x: torch.Tensor) -> torch.Tensor:
    from snn.training.layers import mark_binary

    return mark_binary(x)


ENCODERS = {"rate": rate, "latency": latency, "direct": direct}


def spike_count(out: torch.Tensor) -> torch.Tensor:
    """Number of spikes per output neuron."""
    return out.sum(0)


def max_membrane(out: torch.Tensor) -> torch.Tensor:
    """Largest membrane potential of each read-out neuron over time."""
    return out.max(0).values


def mean_membrane(out: torch.Tensor) -> torch.Tensor:
    """Mean membrane potential of each read-out neuron over time."""
    return out.mean(0)


def first_spike(out: torch.Tensor) -> torch.Tensor:
    """Minus the step of each neuron's first spike (``-T`` if it never fires), so that the
    earliest neuron has the highest score."""
    steps = out.shape[0]
    t = torch.arange(steps, device=out.device, dtype=out.dtype).view(steps, *([1] * (out.dim() - 1)))
    first = torch.where(out > 0, t, torch.full_like(out, steps)).min(0).values
    return -first


DECODERS = {"count": spike_count, "max_membrane": max_membrane, "mean_membrane": mean_membrane,
            "first_spike": first_spike}

__all__ = ["DECODERS", "ENCODERS", "direct", "first_spike", "latency", "max_membrane",
           "mean_membrane", "rate", "spike_count"]
