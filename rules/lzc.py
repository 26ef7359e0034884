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
* supervised STDP (``train_stdp`` in ``benchmarks/lzc_intrinsics.py``): one layer, the target
  class's output neuron gets a teacher current, pair-based trace STDP on the weights; learned
  intrinsics = a homeostatic threshold moving each output's rate toward ``target_rate`` (a
  local rule). Its output trains are also read by a trained read-out
  (:class:`CountDecision` on spike counts, or SNN-LZC).
* the Tempotron with meta-neurons (:class:`MetaTempotron`): the Tempotron rule on the
  meta-neuron's membrane, learned threshold and leak.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from snn.analysis import LZCDecision
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


# -- the Tempotron rule on the meta-neuron's membrane -----------------------------------------
class MetaTempotron:
    """The Tempotron rule (Guetig and Sompolinsky 2006) applied to meta-neurons, one per class.

    Each output's membrane is the meta-neuron's leaky integration of its weighted input
    spikes (no reset: as the Tempotron's, the trace is taken unshunted), and it fires with
    escape noise::

        v_t = beta v_t-1 + sum_i w_i x_i,t         p_t = sigmoid((v_t - theta) / kappa)

    A sample makes a neuron "fire" when any of its Bernoulli(p_t) draws is 1 (sampled in
    training, as the paper's probabilistic neuron). On an error, at ``t_max = argmax_t v_t``::

        dw_i = err lr sum_{t <= t_max} beta^(t_max - t) x_i,t     (= err lr dv(t_max)/dw_i)

        err = +1 (should have fired, did not), -1 (fired, should not have), 0 otherwise

    summed over the batch, with momentum (the Tempotron's update with the meta-neuron's
    exponential PSP kernel in place of the double exponential). ``learn_intrinsics``: each
    neuron's ``theta`` and ``beta = sigmoid(rho)`` follow the same error-driven gradient of
    ``v(t_max) - theta`` (``dtheta = -err ilr``, ``drho = err ilr dv(t_max)/dbeta beta (1 - beta)``,
    ``dv/dbeta`` by its own recursion ``d_t = beta d_t-1 + v_t-1``), as :class:`rules.tempotron.
    Tempotron` learns its threshold and time constant; ``kappa`` stays fixed (the Tempotron cost
    does not contain it). Class scores: the integrated escape rate ``sum_t softplus((v_t -
    theta) / kappa)`` (``-log P(no spike)``), largest wins. Inputs ``(T, batch, n_in)``.
    """

    def __init__(self, n_in: int, n_out: int = 2, beta: float = 0.9, threshold: float = 1.0,
                 kappa: float = 0.2, lr: float = 1e-2, momentum: float = 0.9,
                 learn_intrinsics: bool = False, intrinsic_lr: float = 1e-2, seed: int = 0) -> None:
        n_in, n_out = check_int("n_in", n_in, minimum=1), check_int("n_out", n_out, minimum=2)
        if not 0 < beta < 1:
            raise ValueError(f"beta must lie in (0, 1), got {beta}")
        for name, value in (("threshold", threshold), ("kappa", kappa), ("lr", lr),
                            ("intrinsic_lr", intrinsic_lr)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
        self.weight = torch.randn(n_out, n_in, generator=self.generator) * threshold / (2 * math.sqrt(n_in))
        self.velocity = torch.zeros_like(self.weight)
        self.rho = torch.full((n_out,), math.log(beta / (1 - beta)))
        self.theta = torch.full((n_out,), float(threshold))
        self.kappa, self.lr, self.momentum = float(kappa), float(lr), float(momentum)
        self.learn_intrinsics, self.intrinsic_lr = bool(learn_intrinsics), float(intrinsic_lr)

    def potentials(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Membranes ``v`` and ``dv/dbeta``, both ``(T, batch, n_out)``."""
        beta = torch.sigmoid(self.rho)
        current = x.float() @ self.weight.t()
        v, dv = torch.empty_like(current), torch.empty_like(current)
        vk, dk = torch.zeros_like(current[0]), torch.zeros_like(current[0])
        for t in range(current.shape[0]):
            dk = beta * dk + vk
            vk = beta * vk + current[t]
            v[t], dv[t] = vk, dk
        return v, dv

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """The integrated escape rate of every output ``(batch, n_out)``."""
        v = self.potentials(x)[0]
        return nn.functional.softplus((v - self.theta) / self.kappa).sum(0)

    def train_batch(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One update on ``x`` ``(T, batch, n_in)`` with labels ``y``; returns the error rate
        (fraction of (sample, neuron) decisions that were wrong)."""
        x = x.float()
        v, dv = self.potentials(x)
        p = torch.sigmoid((v - self.theta) / self.kappa)
        fired = (torch.rand(p.shape, generator=self.generator) < p).any(0).float()
        target = nn.functional.one_hot(y, self.weight.shape[0]).float()
        err = target - fired  # (batch, n_out)
        tmax = v.argmax(0)  # (batch, n_out)
        steps = torch.arange(x.shape[0]).view(1, 1, -1)
        lag = (tmax.unsqueeze(-1) - steps).float()  # (batch, n_out, T)
        beta = torch.sigmoid(self.rho).view(1, -1, 1)
        kernel = torch.where(lag >= 0, beta ** lag.clamp(min=0), torch.zeros_like(lag))
        psp = torch.einsum("bot,tbi->oi", kernel * err.unsqueeze(-1), x)
        self.velocity.mul_(self.momentum).add_(self.lr * psp)
        self.weight.add_(self.velocity)
        if self.learn_intrinsics:
            dv_max = dv.gather(0, tmax.unsqueeze(0))[0]  # (batch, n_out)
            b = torch.sigmoid(self.rho)
            self.rho.add_(self.intrinsic_lr * (err * dv_max).sum(0) * b * (1 - b))
            self.theta.sub_(self.intrinsic_lr * err.sum(0)).clamp_(min=0.05)
        return float(err.abs().mean())


class CountDecision(LZCDecision):
    """A trained read-out of spike counts: the class-conditional diagonal Gaussian of
    :class:`snn.analysis.LZCDecision` on each output neuron's spike count instead of its
    Lempel-Ziv complexity. Trains ``(samples, neurons, steps)``."""

    @staticmethod
    def features(trains) -> np.ndarray:
        t = np.asarray(trains)
        if t.ndim != 3:
            raise ValueError(f"trains must be (samples, neurons, steps), got shape {t.shape}")
        return t.sum(-1).astype(np.float64)


__all__ = ["CountDecision", "IntrinsicLIFLinear", "MetaTempotron", "markov_trains", "spike_train_task"]
