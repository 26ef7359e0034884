"""HLOP: Hebbian learning based orthogonal projection for continual learning (Xiao, Meng,
Zhang, He and Lin, ICLR 2024; brief in ``shared/papers/hlop.md``, official code
``pkuxmq/HLOP-SNN``).

Each fully connected layer ``y = W x`` gets a group of lateral subspace neurons with weights
``H`` (``k x n``, ``n`` = the layer's inputs). Their response is ``u = H x`` and their feedback
``x_hat = H^T u``; the Hebbian / anti-Hebbian rule (Oja's subspace rule)::

    dH = (1/B) sum_batch u (x - x_hat)^T  =  u x^T - u u^T H     (clamped to [-clamp, clamp])
    M <- momentum M + (1 - momentum) dH,   H <- H + eta M          (``iterations`` per batch)

makes the rows of ``H`` an orthonormal basis of the principal subspace of the inputs ``x``.
Neurons learned on earlier tasks are frozen (their ``dH`` is masked); new neurons are added
for every task. While a later task trains, every weight update of a projected layer uses only
the part of the presynaptic activity outside the old tasks' subspace::

    dW <- dW (I - H_old^T H_old)       (= the update with x replaced by x - H_old^T H_old x)

so, to first order, the layer's response to old tasks' inputs does not change.

Convolutions (:class:`snn.layers.Conv2d`) are projected as in the paper's ``proj_conv``: a
conv weight ``(C_out, C_in, kh, kw)`` is a ``C_out x n`` matrix over the ``n = C_in kh kw``
entries of an input patch, the presynaptic activities are the im2col patches of the input
map (``torch.nn.functional.unfold`` with the layer's kernel, stride and padding: every
position of every sample is one row ``x``), the lateral neurons learn the principal subspace
of those patches, and the update of the reshaped weight is projected as above.

The projection acts on the *update* a rule applies to ``W`` (weights before and after the
rule's step), so it serves any rule that trains a :class:`snn.layers.Sequential`: BPTT
(spiking or ``Dense`` ReLU layers), TESS, and the other local rules. With plain SGD this is
exactly the paper's projected presynaptic trace; with Adam (our rules' optimiser) projecting
the applied update keeps it orthogonal to the old subspace, which projecting the gradient
before Adam's per-element scaling would not. After the first task every other parameter
(biases, learnable neuron constants) is frozen, as the paper trains only weight matrices
after task 1 (its networks have no biases).

Deviations from the official code, which runs the Hebbian updates during the task's own
training epochs: here the new lateral neurons learn in a forward-only pass over the task's
training data once the task is learned (``hebbian_steps`` batches), i.e. on the activity the
trained network produces; the presynaptic activity is the plain firing rate (mean over the
``T`` steps; the paper weights late steps slightly more, ``w_t = exp(-(T-t) 0.05)``); and the
Hebbian step size is ``eta = lr / mean_batch |x|^2`` (scale-free: stable for any input
magnitude, where the paper tunes a fixed ``eta`` per layer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from snn.validate import check_int


@dataclass
class HLOPConfig:
    """Settings of the lateral subspace neurons.

    ``lateral``: neurons added per layer for each task, one int for every projected layer or a
    list per layer (the paper's PMNIST MLP uses 80/200/100 for the first task and +70 per
    task); ``lr``: Hebbian step relative to the input power (dimensionless, ``< 1``);
    ``iterations``: Hebbian steps per batch (paper: 5); ``momentum`` (paper: 0.9); ``clamp``:
    element-wise bound on ``dH`` (paper: 10); ``hebbian_steps``: batches of the task's data
    (cycled in seeded order) the new neurons learn from; ``batch_size``: samples a batch.
    """

    lateral: int | Sequence[int] = 40
    lr: float = 0.5
    iterations: int = 5
    momentum: float = 0.9
    clamp: float = 10.0
    hebbian_steps: int = 600
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        lateral = [self.lateral] if isinstance(self.lateral, int | np.integer) else list(self.lateral)
        for k in lateral:
            check_int("lateral", k, minimum=0)
        check_int("iterations", self.iterations, minimum=1)
        check_int("hebbian_steps", self.hebbian_steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0)
        if not (0 < self.lr < 1):
            raise ValueError(f"lr must lie in (0, 1) (Hebbian step relative to input power), got {self.lr}")
        if not (0 <= self.momentum < 1):
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        if not (self.clamp > 0):
            raise ValueError(f"clamp must be positive, got {self.clamp}")


class SubspaceNeurons:
    """The lateral neurons of one layer: ``H`` (``k x n``), of which the first ``n_old`` rows
    are frozen (learned on earlier tasks)."""

    def __init__(self, n: int, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        self.n = check_int("n", n, minimum=1)
        self.H = torch.zeros(0, n, dtype=dtype, device=device)
        self.M = torch.zeros_like(self.H)
        self.n_old = 0

    @property
    def k(self) -> int:
        """Number of lateral neurons."""
        return self.H.shape[0]

    def add(self, k: int, generator: torch.Generator) -> None:
        """Add ``k`` neurons with orthonormal weights, orthogonal to the existing ones."""
        k = check_int("k", k, minimum=0)
        if self.k + k > self.n:
            raise ValueError(f"{self.k} + {k} lateral neurons exceed the layer's {self.n} inputs; "
                             "use fewer lateral neurons per task (lateral=)")
        if k == 0:
            return
        g = torch.randn(self.n, k, generator=generator, dtype=torch.float64)
        basis = torch.cat([self.H.detach().to(torch.float64).T, g], 1)
        q = torch.linalg.qr(basis).Q[:, self.k:]
        new = q.T.to(self.H)
        self.H = torch.cat([self.H, new])
        self.M = torch.cat([self.M, torch.zeros_like(new)])

    def hebbian(self, x: torch.Tensor, config: HLOPConfig) -> None:
        """``config.iterations`` Hebbian / anti-Hebbian steps of the new neurons on the batch of
        presynaptic activities ``x`` (``batch x n``)."""
        if self.k == self.n_old:
            return
        x = x.to(self.H)
        power = float((x * x).sum(1).mean())
        if power == 0.0:
            return
        eta = config.lr / power
        for _ in range(config.iterations):
            u = x @ self.H.T  # lateral responses, batch x k
            dH = (u.T @ x - (u.T @ u) @ self.H) / x.shape[0]
            dH.clamp_(-config.clamp, config.clamp)
            dH[:self.n_old] = 0.0
            self.M.mul_(config.momentum).add_(dH, alpha=1.0 - config.momentum)
            self.H.add_(self.M, alpha=eta)
        # inputs that are always 0 (e.g. border pixels) make their H and M entries decay
        # geometrically into subnormal floats, slow on CPUs: flush them to 0
        tiny = torch.finfo(self.H.dtype).tiny
        self.H.masked_fill_(self.H.abs() < tiny, 0.0)
        self.M.masked_fill_(self.M.abs() < tiny, 0.0)

    def consolidate(self) -> None:
        """Freeze all neurons (the end of a task)."""
        self.n_old = self.k
        self.M.zero_()

    def project(self, delta: torch.Tensor) -> torch.Tensor:
        """``delta (I - H_old^T H_old)``: a weight update ``out x n`` with its presynaptic factor
        projected off the old tasks' subspace."""
        if self.n_old == 0:
            return delta
        old = self.H[:self.n_old].to(delta)
        return delta - (delta @ old.T) @ old


def projected_layers(net: torch.nn.Module) -> list[torch.nn.Module]:
    """The layers HLOP protects: every layer with a 2-d ``weight`` (``Linear``, ``Dense``,
    ``RecurrentLinear``'s feed-forward weights) and every convolution with a 4-d ``weight`` and
    ``stride`` / ``padding`` (``Conv2d``)."""
    layers = []
    for layer in net:
        w = getattr(layer, "weight", None)
        if w is None:
            continue
        is_conv = w.dim() == 4 and hasattr(layer, "stride") and hasattr(layer, "padding")
        if w.dim() != 2 and not is_conv:
            raise ValueError(f"HLOP projects fully connected and 2-d convolutional layers; "
                             f"{type(layer).__name__} has a weight of shape {tuple(w.shape)}")
        layers.append(layer)
    if not layers:
        raise ValueError("the network has no fully connected or convolutional layer for HLOP to project")
    return layers


def presynaptic_rows(layer: torch.nn.Module, rate: torch.Tensor) -> torch.Tensor:
    """The presynaptic activities of ``layer`` as rows ``x`` of its weight matrix's input:
    ``batch x n`` for a fully connected layer; for a convolution the im2col patches of the
    input map ``rate`` (``batch x C_in x H x W``), ``batch * positions x C_in kh kw``."""
    w = layer.weight
    if w.dim() == 2:
        return rate.reshape(rate.shape[0], -1)
    patches = torch.nn.functional.unfold(rate, w.shape[2:], padding=layer.padding, stride=layer.stride)
    return patches.transpose(1, 2).reshape(-1, patches.shape[1])


class HLOP:
    """HLOP attached to a rule (``rule.net`` a :class:`snn.layers.Sequential`, ``rule.train_batch``
    its training step): after :meth:`attach`, every training step's weight updates are
    projected (see the module docstring). Between tasks call :meth:`end_task` with the task's
    training data."""

    def __init__(self, rule, config: HLOPConfig | None = None) -> None:
        self.rule = rule
        self.config = config or HLOPConfig()
        net = getattr(rule, "net", None)
        if not isinstance(net, torch.nn.Module):
            raise TypeError(f"HLOP needs a rule with a network in .net, got {type(rule).__name__}")
        if not callable(getattr(rule, "train_batch", None)):
            raise TypeError(f"HLOP needs a rule with a train_batch(x, y) step, got {type(rule).__name__}")
        self.layers = projected_layers(net)
        lateral = self.config.lateral
        self.lateral = ([int(lateral)] * len(self.layers) if isinstance(lateral, int | np.integer)
                        else [int(k) for k in lateral])
        if len(self.lateral) != len(self.layers):
            raise ValueError(f"lateral lists {len(self.lateral)} sizes but the network has "
                             f"{len(self.layers)} projected (fully connected or conv) layers")
        w0 = self.layers[0].weight
        self.subspaces = [SubspaceNeurons(layer.weight[0].numel(), w0.dtype, w0.device)
                          for layer in self.layers]
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.tasks_done = 0
        self._step = None

    # -- the projection hook ----------------------------------------------------------------
    def attach(self) -> HLOP:
        """Wrap ``rule.train_batch`` so that its weight updates are projected."""
        if self._step is not None:
            return self
        self._step = self.rule.train_batch
        self.rule.train_batch = self._projected_step
        return self

    def detach(self) -> None:
        """Restore the rule's own training step."""
        if self._step is not None:
            self.rule.train_batch = self._step
            self._step = None

    def _projected_step(self, x: torch.Tensor, y: torch.Tensor):
        if self.tasks_done == 0:
            return self._step(x, y)
        weights = {id(layer.weight) for layer in self.layers}
        frozen = [(p, p.detach().clone()) for p in self.rule.net.parameters() if id(p) not in weights]
        before = [layer.weight.detach().clone() for layer in self.layers]
        out = self._step(x, y)
        with torch.no_grad():
            for layer, w0, sub in zip(self.layers, before, self.subspaces, strict=True):
                delta = (layer.weight - w0).reshape(w0.shape[0], -1)
                layer.weight.copy_(w0 + sub.project(delta).reshape(w0.shape))
            for p, value in frozen:
                p.copy_(value)
        return out

    # -- the lateral neurons ----------------------------------------------------------------
    @torch.no_grad()
    def presynaptic(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The presynaptic activity of every projected layer for the encoded batch ``x``
        ``(T, batch, ...)``: its input's firing rate (mean over steps) as rows
        (:func:`presynaptic_rows`: ``batch x n``, or the patches of a convolution)."""
        rates, h = [], x
        wanted = {id(layer) for layer in self.layers}
        for layer in self.rule.net:
            if id(layer) in wanted:
                rates.append(presynaptic_rows(layer, h.float().mean(0)))
            h = layer(h)
        return rates

    def end_task(self, train) -> None:
        """Task finished: add this task's lateral neurons, let them learn the principal
        subspace of the presynaptic activity on ``train`` (a :class:`snn.datasets.Dataset`),
        then freeze them."""
        cfg, rule = self.config, self.rule
        for sub, k in zip(self.subspaces, self.lateral, strict=True):
            sub.add(k, self.generator)
        was_training = rule.net.training
        rule.net.eval()
        x_all, _ = rule._inputs(train)
        batches_per_pass = -(-len(train) // cfg.batch_size)
        gen = torch.Generator(device=rule.device).manual_seed(cfg.seed * 7919 + self.tasks_done)
        for step in range(cfg.hebbian_steps):
            epoch, b = divmod(step, batches_per_pass)
            if b == 0:
                order = np.random.default_rng([cfg.seed, self.tasks_done, epoch]).permutation(len(train))
            idx = torch.as_tensor(order[b * cfg.batch_size:(b + 1) * cfg.batch_size], device=rule.device)
            for sub, rate in zip(self.subspaces, self.presynaptic(rule._encode(x_all[idx], gen)),
                                 strict=True):
                sub.hebbian(rate, cfg)
        for sub in self.subspaces:
            sub.consolidate()
        rule.net.train(was_training)
        self.tasks_done += 1


__all__ = ["HLOP", "HLOPConfig", "SubspaceNeurons", "presynaptic_rows", "projected_layers"]
