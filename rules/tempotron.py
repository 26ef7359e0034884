"""The Tempotron (Guetig and Sompolinsky 2006), the spike-timing classifier the meta-neuron
paper trains (Rudnicka et al. 2025; brief in ``shared/papers/meta-neuron-lzc.md``).

Each output neuron sums post-synaptic potentials of its input spikes (time ``t_k = k dt``)::

    V(t) = sum_i w_i sum_{t_i < t} K(t - t_i),     K(u) = V0 (exp(-u / tau) - exp(-u / tau_s))

with ``V0`` scaling the kernel's peak to 1 and ``V_rest = 0``. It "fires" for a sequence when
``max_t V(t) >= theta``. Learning happens on errors only, at ``t_max = argmax_t V(t)``: a neuron
that should have fired and did not gets ``dw_i = +lr sum_{t_i < t_max} K(t_max - t_i)``, one that
fired and should not have gets the same with ``-lr`` (gradient descent on the Tempotron cost
``|V(t_max) - theta|`` over erroneous neurons); optional momentum. A batch's updates are summed.

``V`` is computed without the shunting of inputs after the first threshold crossing: shunting
does not change whether the neuron crosses, and ``t_max`` is taken on the unshunted trace.

Classes: ``sizes = [n_in, 1]`` is one binary tempotron (label 1: fire); ``[n_in, K]`` with ``K >= 2``
is one tempotron per class, or ``neurons_per_class`` of them (a population voting by its mean
margin), each trained to fire for its class only; prediction is the class of largest mean
``(max_t V - theta) / theta``.

Learnable intrinsics (``learn_intrinsics=True``, the meta-neuron paper's idea): each neuron's
threshold ``theta = softplus(rho)`` and time constant ``tau = exp(log_tau)`` (``tau_s / tau`` kept
fixed, so ``V0`` is constant) follow the same error-driven gradient of ``V(t_max) - theta``,
scaled by ``intrinsic_lr``.

Backends: ``backend="torch"`` (CPU or GPU) or ``backend="numba"`` (CPU only): training and
evaluation run in the compiled kernels of :mod:`rules._numba_local`, in place on the NumPy views
of the parameters; in float64 the two agree to round-off (``dtype="float64"``; a test compares
the weights, intrinsics and accuracies after training on digits).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from rules import register
from rules._numba_local import check_backend, tempotron_potentials, tempotron_train
from rules.base import (
    EpochRecord,
    evaluate_accuracy,
    fit_epochs,
    module_arrays,
    read_rule_checkpoint,
    restore_module,
)
from snn.checkpoint import save_checkpoint
from snn.datasets import Dataset
from snn.encoding import ENCODERS
from snn.validate import check_int

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class TempotronConfig:
    """Hyper-parameters of a Tempotron run (times in seconds, potentials in units of
    ``V_thresh - V_rest``). ``backend``: ``"torch"`` (CPU or GPU) or ``"numba"`` (compiled CPU
    kernels of :mod:`rules._numba_local` for training and evaluation; CPU only); ``dtype``:
    that of the weights, intrinsics and potentials (the encoded spikes are the same in both)."""

    steps: int = 25
    encoder: str = "latency"
    gain: float = 1.0
    lr: float = 1e-3
    batch_size: int = 16
    seed: int = 0
    dt: float = 1e-3
    tau: float = 15e-3
    tau_s: float | None = None  # default tau / 4
    threshold: float = 1.0
    momentum: float = 0.9
    neurons_per_class: int = 1
    learn_intrinsics: bool = False
    intrinsic_lr: float = 1e-3
    backend: str = "torch"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_int("neurons_per_class", self.neurons_per_class, minimum=1)
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder {self.encoder!r} is unknown; choose from {', '.join(ENCODERS)}")
        if self.tau_s is None:
            self.tau_s = self.tau / 4
        for name in ("lr", "dt", "tau", "tau_s", "threshold", "intrinsic_lr", "gain"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if not self.tau_s < self.tau:
            raise ValueError(f"tau_s ({self.tau_s}) must be shorter than tau ({self.tau}); the default is "
                             "tau / 4")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        if not isinstance(self.learn_intrinsics, bool):
            raise TypeError("learn_intrinsics must be True or False")
        check_backend(self.backend, "cpu")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")


def kernel_peak_scale(tau: float, tau_s: float) -> float:
    """``V0``: the factor that makes ``max_u exp(-u/tau) - exp(-u/tau_s)`` equal 1."""
    u = tau * tau_s * math.log(tau / tau_s) / (tau - tau_s)
    return 1.0 / (math.exp(-u / tau) - math.exp(-u / tau_s))


class TempotronNet(nn.Module):
    """The weights ``(n_out, n_in)`` and each neuron's intrinsics (threshold through softplus,
    log time constant); updated by the rule, never by autograd."""

    def __init__(self, n_in: int, n_out: int, threshold: float, tau: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in), requires_grad=False)
        rho = threshold + math.log(-math.expm1(-threshold))  # softplus^-1
        self.threshold_raw = nn.Parameter(torch.full((n_out,), rho), requires_grad=False)
        self.log_tau = nn.Parameter(torch.full((n_out,), math.log(tau)), requires_grad=False)

    def threshold(self) -> torch.Tensor:
        """Each neuron's threshold (in units of ``V_thresh - V_rest``)."""
        return torch.nn.functional.softplus(self.threshold_raw)


@register("tempotron")
@dataclass
class Tempotron:
    """Train a Tempotron layer; see the module docstring."""

    net: TempotronNet
    config: TempotronConfig = field(default_factory=TempotronConfig)
    n_classes: int = 2
    device: str = "cpu"
    history: list[EpochRecord] = field(default_factory=list)

    uses_autograd: ClassVar[bool] = False
    #: rules.distributed: the summed corrections and intrinsic changes are all-reduced
    data_parallel: ClassVar[bool] = True
    #: hidden layers of its default architecture in ``synaptica train``: none (one layer)
    default_hidden: ClassVar[tuple[int, ...]] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.net, TempotronNet):
            raise TypeError("net must be a rules.tempotron.TempotronNet; use Tempotron.build(sizes)")
        self.binary = self.n_classes == 2 and self.net.weight.shape[0] == 1
        expected = 1 if self.binary else self.n_classes * self.config.neurons_per_class
        if self.net.weight.shape[0] != expected:
            raise ValueError(f"the net has {self.net.weight.shape[0]} neurons but {self.n_classes} classes x "
                             f"{self.config.neurons_per_class} neurons per class need {expected}")
        check_backend(self.config.backend, self.device)
        self.net.to(device=self.device, dtype=DTYPES[self.config.dtype])
        self.encode = ENCODERS[self.config.encoder]
        self.velocity = torch.zeros_like(self.net.weight)
        self.ratio = self.config.tau_s / self.config.tau
        self.v0 = kernel_peak_scale(1.0, self.ratio)

    @classmethod
    def build(cls, sizes: list[int], *, steps: int = 25, encoder: str = "latency", seed: int = 0,
              device: str = "cpu", spiking: bool = True, **options) -> Tempotron:
        """A Tempotron ``sizes = [n_in, n_classes]`` (``[n_in, 1]``: one binary tempotron).
        Weights start ``N(0, (threshold / (2 sqrt(n_in)))^2)``. ``options`` go to
        :class:`TempotronConfig`."""
        if not spiking:
            raise ValueError("the Tempotron is a spiking classifier; spiking=False is not available")
        if len(sizes) != 2 or any(isinstance(s, bool) or int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"sizes must be [n_inputs, n_classes] (the Tempotron has one layer), "
                             f"got {sizes}")
        n_in, classes = int(sizes[0]), int(sizes[1])
        config = TempotronConfig(steps=steps, encoder=encoder, seed=seed, **options)
        n_out = 1 if classes == 1 else classes * config.neurons_per_class
        gen = torch.Generator().manual_seed(seed)
        net = TempotronNet(n_in, n_out, config.threshold, config.tau).to(DTYPES[config.dtype])
        with torch.no_grad():
            scale = config.threshold / (2 * math.sqrt(n_in))
            net.weight.copy_(torch.randn(n_out, n_in, generator=gen) * scale)
        return cls(net, config, n_classes=max(classes, 2), device=device)

    # -- data -------------------------------------------------------------------------------
    def _inputs(self, ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(ds, Dataset):
            raise TypeError(f"expected a snn.datasets.Dataset, got {type(ds).__name__}")
        x = torch.as_tensor(ds.to_float32(), device=self.device)
        if x.shape[1] != self.net.weight.shape[1]:
            raise ValueError(f"the data set has {x.shape[1]} input features but the Tempotron expects "
                             f"{self.net.weight.shape[1]}")
        y = torch.tensor(np.asarray(ds.labels, dtype=np.int64), device=self.device)
        if len(y) and int(y.max()) >= self.n_classes:
            raise ValueError(f"labels go up to {int(y.max())} but the Tempotron has {self.n_classes} classes")
        return x, y

    def _encode(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.config.encoder == "rate":
            spikes = self.encode(x, self.config.steps, gain=self.config.gain, generator=generator)
        else:
            spikes = self.encode(x, self.config.steps)
        return spikes.to(self.net.weight.dtype)

    def _check_batch(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        n_in = self.net.weight.shape[1]
        if x.dim() != 3 or x.shape[-1] != n_in:
            raise ValueError(f"x must be an encoded batch of input spikes of shape (T, batch, {n_in}), "
                             f"got {tuple(x.shape)}")
        if y is not None and (y.dim() != 1 or y.shape[0] != x.shape[1]):
            raise ValueError(f"y must hold one label per sample ({x.shape[1]}), got shape {tuple(y.shape)}")

    # -- dynamics ---------------------------------------------------------------------------
    def _kernel(self, lag: torch.Tensor, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``K`` and ``dK/dlog tau`` at lags of ``lag`` steps (0 where ``lag <= 0``); ``tau``
        broadcasts against ``lag``."""
        u = lag.clamp(min=0).to(tau.dtype) * self.config.dt / tau
        slow, fast = torch.exp(-u), torch.exp(-u / self.ratio)
        live = (lag > 0).to(u.dtype)
        k = self.v0 * (slow - fast) * live
        dk = self.v0 * (u * slow - (u / self.ratio) * fast) * live
        return k, dk

    @torch.no_grad()
    def potentials(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(max_t V, argmax_t V, currents)`` of the encoded batch ``x`` ``(T, batch, n_in)``:
        shapes ``(batch, n_out)``, ``(batch, n_out)`` and ``(T, batch, n_out)``. ``V`` at every
        step is one product of the currents with the ``(T, T)`` kernel matrix (one per neuron
        once learned time constants differ); ``t_max`` is sought from step 1 on (``V(0) = 0``)."""
        self._check_batch(x, None)
        x = x.to(self.net.weight.dtype)
        if self.config.backend == "numba":
            return self._potentials_numba(x)
        current = x @ self.net.weight.t()
        steps = x.shape[0]
        t = torch.arange(steps, device=x.device)
        lag = t.view(-1, 1) - t.view(1, -1)  # (k, j)
        tau = self.net.log_tau.exp()
        if bool((tau == tau[0]).all()):
            kern = self._kernel(lag, tau[0])[0]
            v = (kern @ current.reshape(steps, -1)).reshape(current.shape)
        else:
            kern = self._kernel(lag, tau.view(-1, 1, 1))[0]  # (n_out, k, j)
            v = torch.einsum("okj,jbo->kbo", kern, current)
        if steps == 1:
            return v[0], torch.zeros(v.shape[1:], dtype=torch.long, device=x.device), current
        vmax, tmax = v[1:].max(0)
        return vmax, tmax + 1, current

    def _numba_args(self) -> tuple:
        return (self.config.dt, self.ratio, self.v0)

    def _potentials_numba(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        xs = x.contiguous().numpy()
        steps, batch = xs.shape[:2]
        n_out = self.net.weight.shape[0]
        current = np.empty((steps, batch, n_out), dtype=xs.dtype)
        vmax = np.empty((batch, n_out), dtype=xs.dtype)
        tmax = np.empty((batch, n_out), dtype=np.int64)
        kern, dkern = np.empty((n_out, steps), dtype=xs.dtype), np.empty((n_out, steps), dtype=xs.dtype)
        tempotron_potentials(xs, self.net.weight.detach().numpy(), self.net.log_tau.detach().numpy(),
                             *self._numba_args(), current, vmax, tmax, kern, dkern)
        return torch.from_numpy(vmax), torch.from_numpy(tmax), torch.from_numpy(current)

    def _train_batch_numba(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xs = x.to(self.net.weight.dtype).contiguous().numpy()
        batch, n_out = xs.shape[1], self.net.weight.shape[0]
        target = self._targets(y).to(self.net.weight.dtype).contiguous().numpy()
        vmax = np.empty((batch, n_out), dtype=xs.dtype)
        tmax = np.empty((batch, n_out), dtype=np.int64)
        if self.velocity.dtype != self.net.weight.dtype or not self.velocity.is_contiguous():
            self.velocity = self.velocity.to(self.net.weight.dtype).contiguous()
        c = self.config
        theta = self.net.threshold()  # a copy: the scores are those before the update
        loss = tempotron_train(xs, target, self.net.weight.detach().numpy(),
                               self.net.log_tau.detach().numpy(), self.net.threshold_raw.detach().numpy(),
                               self.velocity.numpy(), *self._numba_args(), c.lr, c.momentum,
                               c.learn_intrinsics, c.intrinsic_lr, vmax, tmax)
        return torch.tensor(loss, dtype=self.net.weight.dtype), self._scores(torch.from_numpy(vmax), theta)

    def _scores(self, vmax: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        theta = self.net.threshold() if theta is None else theta
        margin = (vmax - theta) / theta
        if self.binary:
            return torch.cat([-margin, margin], 1)
        return margin.reshape(len(margin), self.n_classes, -1).mean(2)

    def _targets(self, y: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return (y == 1).unsqueeze(1)
        per = self.config.neurons_per_class
        return torch.nn.functional.one_hot(y, self.n_classes).bool().repeat_interleave(per, dim=1)

    # -- training ---------------------------------------------------------------------------
    @torch.no_grad()
    def train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One Tempotron update on the encoded batch ``x`` ``(T, batch, n_in)``: the summed
        error-driven updates of the batch. Returns the Tempotron cost (mean over the batch of
        ``sum |V(t_max) - theta|`` over erroneous neurons) and the scores before the update."""
        from rules.distributed import all_reduce_sum, world

        self._check_batch(x, y)
        if self.config.backend == "numba" and world()[1] == 1:
            return self._train_batch_numba(x, y)  # data parallel: potentials from numba, sums below
        x = x.to(self.net.weight.dtype)
        vmax, tmax, current = self.potentials(x)
        theta = self.net.threshold()
        fired = vmax >= theta
        err = self._targets(y).to(x.dtype) - fired.to(x.dtype)  # +1 missed, -1 false alarm
        scores = self._scores(vmax)
        loss = ((theta - vmax) * err).sum(1).mean()
        steps = x.shape[0]
        lag = tmax.unsqueeze(-1) - torch.arange(steps, device=x.device)  # (batch, n_out, T)
        tau = self.net.log_tau.exp().view(1, -1, 1)
        k, dk = self._kernel(lag, tau)
        psp = torch.einsum("boj,jbi->boi", k * err.unsqueeze(-1), x)  # err-weighted PSPs at t_max
        sums = [psp.sum(0)]
        if self.config.learn_intrinsics:
            dv_dlogtau = torch.einsum("boj,jbo->bo", dk, current)
            sums += [(err * dv_dlogtau).sum(0), err.sum(0)]
        all_reduce_sum(*sums)  # data parallel: the global batch's sums (rules.distributed)
        self.velocity.mul_(self.config.momentum).add_(self.config.lr * sums[0])
        self.net.weight.add_(self.velocity)
        if self.config.learn_intrinsics:
            lr = self.config.intrinsic_lr
            self.net.log_tau.add_(lr * sums[1])
            self.net.threshold_raw.sub_(lr * sums[2] * torch.sigmoid(self.net.threshold_raw))
        return loss, scores

    def fit(self, train: Dataset, test: Dataset | None = None, epochs: int = 1,
            progress: bool = False, checkpoint: str | Path | None = None,
            resume: bool = False) -> list[EpochRecord]:
        """Train for ``epochs`` (in total, counting a resumed run's earlier epochs)."""
        return fit_epochs(self, train, test, epochs, progress, checkpoint, resume)

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(batch, classes)`` of the encoded batch ``x`` (binary: ``[-m, m]`` with
        ``m`` the relative margin ``(max V - theta) / theta``)."""
        return self._scores(self.potentials(x)[0])

    @torch.no_grad()
    def evaluate(self, ds: Dataset, batch_size: int = 512) -> float:
        """Accuracy on ``ds`` (encoder noise seeded, so repeated calls agree)."""
        return evaluate_accuracy(self, ds, batch_size, lambda x, _gen: self.scores(x))

    def synaptic_ops(self, x: torch.Tensor) -> float:
        """Synaptic operations of a training step on ``x`` per sample: input spikes times
        fan-out, two kernel state updates per neuron and step, and at most one update per
        synapse (the upper bound: every neuron in error)."""
        self._check_batch(x, None)
        steps, batch = x.shape[:2]
        n_out, n_in = self.net.weight.shape
        events = float(torch.count_nonzero(x)) / batch
        return events * n_out + 2 * steps * n_out + n_in * n_out

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Weights, intrinsics, momentum, configuration and history, written atomically."""
        arrays = module_arrays(self.net)
        arrays["velocity"] = self.velocity.cpu().numpy()
        meta = {"rule": "tempotron", "config": asdict(self.config), "n_classes": self.n_classes,
                "history": [asdict(r) for r in self.history]}
        return save_checkpoint(path, arrays, meta)

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save` for the same architecture."""
        arrays, meta = read_rule_checkpoint(path, "tempotron")
        restore_module(self.net, arrays, path)
        if meta["n_classes"] != self.n_classes:
            raise ValueError(f"{str(path)!r} has {meta['n_classes']} classes, this Tempotron "
                             f"{self.n_classes}")
        self.velocity = torch.as_tensor(arrays["velocity"], device=self.device,
                                        dtype=self.net.weight.dtype).contiguous()
        # backend and dtype are this run's choices of how to compute, not the checkpoint's
        self.config = TempotronConfig(**{**meta["config"], "backend": self.config.backend,
                                         "dtype": self.config.dtype})
        self.ratio = self.config.tau_s / self.config.tau
        self.v0 = kernel_peak_scale(1.0, self.ratio)
        self.history = [EpochRecord(**r) for r in meta["history"]]


__all__ = ["Tempotron", "TempotronConfig", "TempotronNet", "kernel_peak_scale"]
