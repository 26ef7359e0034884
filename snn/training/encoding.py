"""Turning static inputs into spike trains over ``T`` steps, and network outputs into classes.

Encoders take ``x`` with values in [0, 1] and shape ``(batch, ...)`` and return
``(T, batch, ...)``; decoders take ``(T, batch, classes)`` and return ``(batch, classes)``
scores (higher is more likely) for ``argmax``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch

from snn.validate import check_int


def rate(x: torch.Tensor, steps: int, gain: float = 1.0,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """Bernoulli spikes with probability ``clamp(gain * x, 0, 1)`` per step."""
    steps = check_int("steps", steps, minimum=1)
    return _binary(_rate_steps(torch.clamp(x * gain, 0.0, 1.0), steps, generator))


def _draws(shape: tuple[int, ...], steps: int, generator: torch.Generator | None, device,
           dtype) -> torch.Tensor:
    """``steps`` uniform draws of ``shape`` each, in the order one ``torch.rand((steps, *shape))``
    draws them on the CPU (whose generator fills elements one after another, so any split into
    chunks of steps gives the same numbers). A CUDA generator advances per call, not per
    element, so there every step is its own call: the encoding is the same whether it is drawn
    whole or chunk by chunk (:class:`SpikeStream`)."""
    if torch.device(device).type == "cpu":
        return torch.rand((steps, *shape), generator=generator, device=device, dtype=dtype)
    return torch.stack([torch.rand(shape, generator=generator, device=device, dtype=dtype)
                        for _ in range(steps)])


def _rate_steps(p: torch.Tensor, steps: int, generator: torch.Generator | None) -> torch.Tensor:
    return (_draws(tuple(p.shape), steps, generator, p.device, p.dtype) < p).to(p.dtype)


def latency(x: torch.Tensor, steps: int, threshold: float = 0.01) -> torch.Tensor:
    """One spike per input at step ``round((1 - x) * (T - 1))``: stronger inputs fire earlier;
    inputs at or below ``threshold`` never fire."""
    steps = check_int("steps", steps, minimum=1)
    return _binary(_latency_steps(x, steps, 0, steps, threshold))


def _latency_steps(x: torch.Tensor, steps: int, start: int, k: int, threshold: float = 0.01) -> torch.Tensor:
    """Steps ``start`` to ``start + k`` of :func:`latency` over ``steps`` steps."""
    when = torch.round((1.0 - torch.clamp(x, 0.0, 1.0)) * (steps - 1)).long()
    t = torch.arange(start, start + k, device=x.device).view(k, *([1] * x.dim()))
    return ((t == when) & (x > threshold)).to(x.dtype)


def direct(x: torch.Tensor, steps: int) -> torch.Tensor:
    """The input itself as a constant current at every step."""
    steps = check_int("steps", steps, minimum=1)
    return x.unsqueeze(0).expand(steps, *x.shape).contiguous()


def _binary(x: torch.Tensor) -> torch.Tensor:
    from snn.training.layers import mark_binary

    return mark_binary(x)


ENCODERS = {"rate": rate, "latency": latency, "direct": direct}
DEFAULT_CHUNK_STEPS = 5


class SpikeStream:
    """The encoded batch ``ENCODERS[encoder](x, steps, ...)`` ``(T, batch, ...)``, generated a
    chunk of time steps at a time, so a consumer that steps through time holds one chunk of its
    input (``chunk_steps`` x batch x features) whatever ``T``.

    The chunks are bit for bit those of the whole encoding: a ``"rate"`` stream draws from the
    same generator stream in the same order (:func:`rate`). Creating the stream advances
    ``generator`` past the whole encoding (drawing and discarding a chunk at a time), exactly as
    encoding the batch whole would, so the draws that follow (the next batch, a rule's own
    noise) are the same either way; :meth:`chunks` replays the encoding from the generator's
    state at creation, as many times as a consumer asks. ``dtype``: that of the spikes
    (default ``x.dtype``).

    It stands in for the tensor where a rule reads its input step by step: ``shape``,
    ``dtype``, ``device``, ``dim()``, ``len()``, batch selection ``stream[:, idx]`` and
    :meth:`dense` (the whole tensor).
    """

    def __init__(self, x: torch.Tensor, steps: int, encoder: str = "rate", *, gain: float = 1.0,
                 generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
                 chunk_steps: int = DEFAULT_CHUNK_STEPS) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of values in [0, 1], got {type(x).__name__}")
        if encoder not in ENCODERS:
            raise ValueError(f"encoder {encoder!r} is unknown; choose from {', '.join(ENCODERS)}")
        self.steps = check_int("steps", steps, minimum=1)
        self.chunk_steps = check_int("chunk_steps", chunk_steps, minimum=1)
        self.encoder, self.x, self.gain = encoder, x, float(gain)
        self.dtype = x.dtype if dtype is None else dtype
        self.device = x.device
        self.shape = torch.Size((self.steps, *x.shape))
        self._select: torch.Tensor | slice = slice(None)
        if encoder == "rate":
            if generator is None:
                index = x.device.index if x.device.index is not None else torch.cuda.current_device()
                generator = (torch.default_generator if x.device.type == "cpu"
                             else torch.cuda.default_generators[index])
            self._p = torch.clamp(x * gain, 0.0, 1.0)
            self._generator_device = generator.device
            self._state = generator.get_state()
            for start in range(0, self.steps, self.chunk_steps):  # advance past the whole encoding
                k = min(self.chunk_steps, self.steps - start)
                _draws(tuple(x.shape), k, generator, x.device, x.dtype)

    def dim(self) -> int:
        """Number of dimensions of the encoded batch (T, batch, ...)."""
        return len(self.shape)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index) -> SpikeStream:
        """``stream[:, idx]``: the same encoding of the samples ``idx`` of the batch (the whole
        batch is drawn, so the noise is that of the whole batch)."""
        if not (isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None)):
            raise TypeError("a SpikeStream selects samples only, as stream[:, idx]; read its steps "
                            "with chunks() or the whole tensor with dense()")
        out = copy.copy(self)
        rows = torch.arange(self.x.shape[0], device=self.device)[self._select][index[1]]
        out._select = rows
        out.shape = torch.Size((self.steps, len(rows), *self.shape[2:]))
        return out

    def chunks(self, chunk_steps: int | None = None) -> Iterator[torch.Tensor]:
        """The encoded steps in order, ``chunk_steps`` (default: the stream's) at a time, each
        ``(k, batch, ...)``."""
        size = self.chunk_steps if chunk_steps is None else check_int("chunk_steps", chunk_steps, minimum=1)
        generator = None
        if self.encoder == "rate":
            generator = torch.Generator(device=self._generator_device)
            generator.set_state(self._state)
        for start in range(0, self.steps, size):
            k = min(size, self.steps - start)
            if self.encoder == "rate":
                chunk = _rate_steps(self._p, k, generator)  # any split gives the same draws
            elif self.encoder == "latency":
                chunk = _latency_steps(self.x, self.steps, start, k)
            else:
                chunk = self.x.unsqueeze(0).expand(k, *self.x.shape)
            chunk = chunk[:, self._select].to(self.dtype)
            yield chunk if self.encoder == "direct" else _binary(chunk)

    def dense(self) -> torch.Tensor:
        """The whole encoded batch ``(T, batch, ...)`` (equal to the encoder's output)."""
        out = torch.cat(list(self.chunks(self.steps)))
        return out if self.encoder == "direct" else _binary(out)


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

__all__ = ["DECODERS", "DEFAULT_CHUNK_STEPS", "ENCODERS", "SpikeStream", "direct", "first_spike", "latency",
           "max_membrane", "mean_membrane", "rate", "spike_count"]
