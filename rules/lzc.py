"""The intrinsic-parameter experiment of the meta-neuron paper (Rudnicka, Szczepanski,
Pregowska 2025; brief in ``shared/papers/meta-neuron-lzc.md``): spike-train classes from
Poisson and two-state Markov sources, classified by LIF or meta-neuron networks with fixed or
learned intrinsics, trained by surrogate-gradient BPTT, supervised STDP or the Tempotron, and
the SNN-LZC read-out (:class:`snn.analysis.LZCDecision` on the output spike trains).

The paper's own equations for the meta-neuron, its STDP variant and its data (rates, lengths,
class definitions) could not be retrieved; what is used here is stated in each docstring:

* data (:func:`spike_train_task`): ``n_in`` afferents, ``steps`` bins of ``dt``.
  ``"poisson"``: each class has a rate profile over the afferents (drawn once, uniform in
  ``[rate/2, 3 rate/2]``), class 1's profile a permutation of class 0's on half of the
  afferents (same total rate); a sample is a Bernoulli(rate dt) train per afferent.
  ``"markov"``: class 0 is Poisson at ``rate`` on every afferent, class 1 a two-state Markov
  train with the same stationary rate and ``P(spike | spike) = burst`` (bursty): the classes
  differ in temporal structure only, not in rate.
* LIF with learnable intrinsics (:class:`IntrinsicLIFLinear`): ``v_t = beta v_t-1 + W x_t``,
  ``s_t = H(v_t - theta)`` (surrogate gradient), reset by subtraction; per neuron
  ``beta = sigmoid(rho)``, ``theta = softplus(phi)`` (the brief's reparameterisation).
* meta-neuron: :class:`snn.models.MetaNeuron` (escape noise ``p = sigmoid((v - theta)/kappa)``,
  Bernoulli spike, straight-through gradient; learned: ``tau_m``, ``v_thresh``, ``v_reset``,
  ``kappa``).
* supervised STDP (:func:`train_stdp`): one layer, the target class's output neuron gets a
  teacher current, pair-based trace STDP on the weights; learned intrinsics = a homeostatic
  threshold moving each output's rate toward ``target_rate`` (a local rule).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from snn.surrogate import FastSigmoid, Surrogate
from snn.validate import check_int


# -- data -----------------------------------------------------------------------------------
def markov_trains(rng: np.random.Generator, shape: tuple[int, ...], steps: int, rate_per_bin: float,
                  burst: float) -> np.ndarray:
    """Two-state Markov binary trains ``(steps, *shape)``: ``P(1 | 1) = burst`` and
    ``P(1 | 0) = a`` chosen so that the stationary spike probability is ``rate_per_bin``;
    the first bin is drawn from the stationary distribution. ``burst = rate_per_bin`` gives
    Bernoulli (Poisson) trains."""
    if not 0 < rate_per_bin < 1:
        raise ValueError(f"rate_per_bin must lie in (0, 1), got {rate_per_bin}")
    if not 0 <= burst < 1:
        raise ValueError(f"burst (P(spike | spike)) must lie in [0, 1), got {burst}")
    a = rate_per_bin * (1 - burst) / (1 - rate_per_bin)
    if a > 1:
        raise ValueError(f"no Markov chain has rate {rate_per_bin} with burst {burst}; lower the rate")
    u = rng.random((steps, *shape))
    out = np.empty((steps, *shape), dtype=np.uint8)
    out[0] = u[0] < rate_per_bin
    for t in range(1, steps):
        out[t] = u[t] < np.where(out[t - 1] == 1, burst, a)
    return out


def spike_train_task(kind: str, n_samples: int, *, n_in: int = 20, steps: int = 200, dt: float = 1e-3,
                     rate: float = 20.0, burst: float = 0.5, seed: int = 0, part: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Two balanced classes of input spike trains: ``(x, y)`` with ``x`` uint8
    ``(steps, n_samples, n_in)`` and ``y`` int64 ``(n_samples,)``; see the module docstring for
    ``kind`` (``"poisson"`` or ``"markov"``). ``rate`` in Hz, ``dt`` in s. The class profiles
    depend on ``seed`` only, the samples also on ``part`` (e.g. 0 for training, 1 for test
    samples of the same classes)."""
    check_int("n_samples", n_samples, minimum=2)
    check_int("n_in", n_in, minimum=1)
    check_int("steps", steps, minimum=2)
    if kind not in ("poisson", "markov"):
        raise ValueError(f"kind must be 'poisson' or 'markov', got {kind!r}")
    p = rate * dt
    if not 0 < p < 0.5:
        raise ValueError(f"rate * dt must lie in (0, 0.5), got {p}")
    profile_rng = np.random.default_rng([seed, 1])
    rng = np.random.default_rng([seed, 2, check_int("part", part, minimum=0)])
    y = np.arange(n_samples) % 2
    rng.shuffle(y)
    x = np.empty((steps, n_samples, n_in), dtype=np.uint8)
    if kind == "poisson":
        base = p * profile_rng.uniform(0.5, 1.5, n_in)
        other = base.copy()
        half = profile_rng.permutation(n_in)[: n_in // 2]
        other[half] = base[profile_rng.permutation(half)]
        for c, prof in enumerate((base, other)):
            idx = np.flatnonzero(y == c)
            x[:, idx] = rng.random((steps, idx.size, n_in)) < prof
    else:
        for c, b in enumerate((p, burst)):
            idx = np.flatnonzero(y == c)
            x[:, idx] = markov_trains(rng, (idx.size, n_in), steps, p, b)
    return x, y.astype(np.int64)


# -- LIF with learnable intrinsics -------------------------------------------------------------
class IntrinsicLIFLinear(nn.Module):
    """Linear synapses into LIF neurons whose leak and threshold are per-neuron parameters:
    ``v_t = beta v_t-1 + W x_t``, ``s_t = H(v_t - theta)`` (``surrogate`` gradient),
    ``v_t -= s_t theta``; ``beta = sigmoid(rho)`` in (0, 1), ``theta = softplus(phi) > 0``.
    ``learn=False`` keeps ``rho`` and ``phi`` fixed (a plain LIF). Input and output
    ``(T, batch, features)``."""

    def __init__(self, in_features: int, out_features: int, beta: float = 0.9, v_thresh: float = 1.0,
                 learn: bool = True, surrogate: Surrogate | None = None) -> None:
        super().__init__()
        if not 0 < beta < 1 or not v_thresh > 0:
            raise ValueError(f"beta must lie in (0, 1) and v_thresh be > 0, got {beta}, {v_thresh}")
        self.fc = nn.Linear(in_features, out_features, bias=False)
        self.rho = nn.Parameter(torch.full((out_features,), math.log(beta / (1 - beta))), requires_grad=learn)
        self.phi = nn.Parameter(torch.full((out_features,), v_thresh + math.log(-math.expm1(-v_thresh))),
                                requires_grad=learn)
        self.surrogate = surrogate if surrogate is not None else FastSigmoid()

    def intrinsics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(beta, theta)`` per neuron."""
        return torch.sigmoid(self.rho), nn.functional.softplus(self.phi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta, theta = self.intrinsics()
        current = self.fc(x)
        v = torch.zeros_like(current[0])
        out = []
        for k in range(current.shape[0]):
            v = beta * v + current[k]
            s = self.surrogate(v - theta)
            v = v - s * theta
            out.append(s)
        return torch.stack(out)


__all__ = ["IntrinsicLIFLinear", "markov_trains", "spike_train_task"]
