"""Counter-current learning (Kao & Hariharan, NeurIPS 2024): a forward network ``F_1..F_L``
on the inputs and a feedback network ``G_L..G_1`` of mirrored shapes on the targets, trained
by paired layer-local losses with a stop-gradient on the input of every layer of both nets.

Forward: ``a_0 = x``, ``a_l = phi(F_l(sg(a_l-1)))``, ``a_L = F_L(sg(a_L-1))`` (scores).
Feedback: ``b_L = target``, ``b_l-1 = phi(G_l(sg(b_l)))``, ``b_0 = G_1(sg(b_1))``; phi = ELU.
The pair ``(a_l, b_l)``, l = 0..L-1, trains ``F_l`` and ``G_l+1`` (the pair ``(x, b_0)``
trains only ``G_1``); ``F_L`` is trained by ``CE(a_L, y)`` (classification) or
``MSE(a_L, x)`` (autoencoder). Prediction uses the forward net only.

Pair losses (``loss=``), as the official code defines them:

* ``"similarity"`` (its MLP classifier): the feedback net runs on the K class codes at once,
  ``S = A_l B_l^T`` (N x K), ``L_l = kappa (256 / d_l) mean((S - onehot(y))^2)``, kappa = 0.5;
* ``"normalized"`` (its CNN classifier): rows L2-normalised,
  ``kappa mean((A^ B^^T - onehot)^2) + kappa_self [mean((A^ A^^T - I)^2) + mean((B^ B^^T - I)^2)]``,
  kappa = 1, kappa_self = 0.5;
* ``"mse"`` (the paper's plain pairing, its autoencoder): the feedback net runs on each
  sample's own target and ``L_l = mean((a_l - b_l)^2)``.

Optimiser: SGD on both nets, the gradient norm of each net clipped to ``clip`` (1.0). The
official MLP runs use lr 1.0 without momentum, batch 256, for 100 epochs; on our short budgets
(a few to ten epochs, inputs in [0, 1]) lr 0.1 with momentum 0.9 learns much faster (MNIST 10k,
784-500-10, batch 64, 5 epochs: 91.7% against 54.4% with lr 1.0). Of the official extras
(all options of :class:`CCLConfig`), gradient centralisation (``grad_centralize``, official
CNN runs) helps the MLP most, together with smaller batches; the defaults of the non-spiking
MLP are therefore batch 16 with gradient centralisation (MNIST 10k, 784-500-10, 10 epochs,
seed 0: 95.4%; batch 64 without: 93.1%; backprop, Adam, batch 32: 96.7%). Measured there
and not adopted: the cosine schedule (batch 32 + centralisation: 93.35% against 94.25%
constant), weight decay 1e-4, ``filter_target`` 0.1, Adam, input standardisation
(``input_mean``/``input_std``, as the official data loaders), larger ``kappa``. The spiking
variant and :meth:`CounterCurrent.cnn` keep batch 64 without centralisation (their measured
settings).

Autoencoder (``task="autoencoder"``, non-spiking): the forward net is encoder and decoder,
the feedback net runs the mirror image from the input itself; orthogonal initial weights, the
reconstruction layer and ``G_1`` start at zero. On 8x8 digits it only gets near the
mean-image error so far (0.0645 against 0.0735, see ``tests/test_rule_ccl.py``): the plain MSE
pairing of two learned nets has constant codes as a trivial solution, and the codes collapse
(their spread over samples falls to ~0.02-0.07); the official 1e-3 scaling of the decoder and
encoder-feedback weights does not change that here.

Spiking variant: the hidden layers of both nets are LIF layers (:class:`snn.layers.Linear`)
over ``steps`` time steps; ``a_l`` and ``b_l`` are firing rates (spikes per step), the feedback
net is driven by its targets as constant spike trains, ``F_L`` and ``G_1`` are linear maps of
the rates. Gradients of spiking layers never cross time steps: see :mod:`rules.ff`
(:func:`rules.ff.window_terms`). The spiking CNN (``CounterCurrent.cnn(spiking=True)``) does
the same with LIF conv stages (:class:`snn.layers.Conv2d`; the pooling / up-sampling of spikes
is part of each stage's input, so ``a_l`` is the rate of a conv layer). On 8x8 digits, channels
(8, 16), T = 6, half the training set, 3 epochs: 68.5% (chance 10%).

Spiking MLP defaults (:meth:`CounterCurrent.build` with ``spiking=True``): Adam, lr 1e-2,
batch 64, ``center=True``. Measured on digits, 64-128-10, rate code T = 25, 3 epochs (the
``bench rules`` budget), seed 0, with the non-spiking defaults (SGD lr 0.1, momentum 0.9, no
centring): 75.8%. Two causes:

1. Rates are non-negative, so the uncentred similarity ``A B^T`` can only lower the
   off-target products by firing less: the mean hidden rate falls from 0.078 (hidden layer
   frozen at its initial weights) to 0.031 after training, and the trained net is *worse*
   than the frozen one (75.8% vs 85.5%). Centring each feature over the rows before pairing
   (``center``) keeps the rate (0.076) and gives 86.6% with the same SGD.
2. Step size: the hidden weight gradient is 23x smaller than in the ELU net (norm 0.050 vs
   1.14 on the first batch; rates ~0.08 and the slope-25 fast sigmoid), so 69 SGD steps barely
   move it. Adam rescales per weight: with centring 93.3% (lr 1e-2; 91.9% at 5e-3, 94.7% at
   2e-2; seeds 1, 2 at 1e-2: 93.6%, 94.2%); Adam without centring 90.3% (seed 1: 84.1%, 82%
   of hidden neurons silent on the test set).

Measured and not the cause: wider surrogates with SGD (fast sigmoid slope 5 / 1, triangle,
arctan: 70.2 / 74.4 / 75.2 / 73.0%), no gradient clipping (75.8%), the normalised pair loss
(78.0%), pairing the mean positive membrane instead of rates (24.5%, lr 0.1), larger SGD
learning rates (lr 0.3: 83.0%, lr 1.0: 86.1%). MNIST 10k (first 8000 train / last 2000 test),
784-500-10, T = 25, 2 epochs, seed 0: 93.35% (spiking BPTT, its defaults: 94.15%; the old
defaults 77-80%).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rules import register
from rules.distributed import batch_mean, gather_rows, sync_gradients
from rules.ff import (
    LocalTrainer,
    Steps,
    StepSequence,
    check_choice,
    check_positive,
    input_ops,
    local_gradients,
    step_chunks,
    window_activity,
)
from snn.datasets import Dataset
from snn.encoding import ENCODERS
from snn.layers import Conv2d, Linear, SpikingLayer, mark_binary
from snn.surrogate import Surrogate
from snn.surrogate import surrogate as surrogate_named
from snn.validate import check_int


@dataclass
class CCLConfig:
    """Hyper-parameters of counter-current learning (see the module docstring).

    Defaults = the best measured settings of the non-spiking MLP: SGD lr 0.1, momentum 0.9,
    clip 1.0, batch 16, gradient centralisation, constant learning rate. MNIST 10k (first 8000
    train / last 2000 test), 784-500-10, 10 epochs, seed 0: 95.4% (backprop on the same MLP,
    ``BPTT.build(sizes, spiking=False, batch_size=32, lr=1e-3)``: 96.7%); batch 32 with
    centralisation 94.25% (with the cosine schedule 93.35%); batch 64 without 93.1%.
    :meth:`CounterCurrent.build` with ``spiking=True`` defaults to Adam, lr 1e-2, batch 64,
    ``center=True``, no gradient centralisation; :meth:`CounterCurrent.cnn` to batch 64 without
    centralisation. ``center`` (similarity loss only) subtracts each feature's mean over the
    rows (the batch's samples in ``A``, the K class codes in ``B``) before ``A B^T``. The
    official extras are options, off by default:
    ``schedule="cosine"`` (to ``lr_min``, over the epochs of the current :meth:`fit`) with
    ``warmup_steps`` of linear warm-up (official CNN: 100 steps, cosine to 1e-3; the official
    warm-up scales the loss, here the learning rate), ``weight_decay`` (official CNN: 1e-6),
    ``filter_target`` (official CNN on CIFAR10: a margin of 0.1), ``input_mean``/``input_std``
    (the official data loaders standardise MNIST with 0.1307 / 0.3081).
    """

    steps: int = 1
    encoder: str = "direct"
    gain: float = 1.0
    batch_size: int = 16          # official MLP: 256 (see the module docstring)
    lr: float = 0.1               # SGD, both nets (official MLP runs: 1.0, no momentum, 100 epochs)
    momentum: float = 0.9
    optimizer: str = "sgd"        # or "adam" (momentum unused)
    clip: float = 1.0             # max gradient norm per net (0: no clipping)
    seed: int = 0
    task: str = "classify"        # or "autoencoder"
    loss: str = "similarity"      # "similarity", "normalized" or "mse"
    kappa: float = 0.5
    kappa_self: float = 0.5
    chunk_steps: int = 5          # spiking layers: steps per autograd chunk
    weight_decay: float = 0.0     # SGD weight decay, both nets (official CNN: 1e-6)
    schedule: str = "constant"    # or "cosine": from lr down to lr_min over the fit's epochs
    lr_min: float = 1e-3          # end of the cosine schedule (official: 1e-3)
    warmup_steps: int = 0         # linear warm-up over this many batches (official CNN: 100)
    grad_centralize: bool = True  # subtract each weight gradient's mean over its fan-in
                                  # (official: CNN runs on, MLP runs off)
    input_mean: float = 0.0       # non-spiking classifier: the forward net sees
    input_std: float = 1.0        # (x - input_mean) / input_std (official MNIST: 0.1307, 0.3081)
    filter_target: float = 0.0    # > 0: drop the pair-loss rows of samples whose true-class
                                  # softmax probability is above 1 - filter_target
    center: bool = False          # similarity loss: subtract each feature's mean over the rows
                                  # (samples of A, class codes of B) before pairing

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_int("chunk_steps", self.chunk_steps, minimum=1)
        check_choice("encoder", self.encoder, tuple(ENCODERS))
        check_choice("task", self.task, ("classify", "autoencoder"))
        check_choice("loss", self.loss, ("similarity", "normalized", "mse"))
        check_choice("optimizer", self.optimizer, ("sgd", "adam"))
        check_choice("schedule", self.schedule, ("constant", "cosine"))
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if not isinstance(self.grad_centralize, (bool, np.bool_)):
            raise ValueError(f"grad_centralize must be a bool, got {self.grad_centralize!r}")
        if not isinstance(self.center, (bool, np.bool_)):
            raise ValueError(f"center must be a bool, got {self.center!r}")
        if self.center and self.loss != "similarity":
            raise ValueError(f"center applies to loss='similarity' only, got loss={self.loss!r}; "
                             "drop center or use the similarity loss")
        check_positive("lr", self.lr)
        check_positive("kappa", self.kappa)
        for name in ("momentum", "clip", "kappa_self", "weight_decay", "lr_min"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.task == "autoencoder" and self.loss != "mse":
            raise ValueError("task='autoencoder' pairs reconstructions with loss='mse'")
        check_positive("input_std", self.input_std)
        if not np.isfinite(self.input_mean):
            raise ValueError(f"input_mean must be finite, got {self.input_mean!r}")
        if (self.input_mean, self.input_std) != (0.0, 1.0) and (self.task == "autoencoder" or self.steps > 1):
            raise ValueError("input_mean / input_std standardise the inputs of a non-spiking classifier "
                             "(task='classify', steps=1)")
        if not (np.isfinite(self.filter_target) and 0 <= self.filter_target < 1):
            raise ValueError(f"filter_target must be in [0, 1), got {self.filter_target!r}")
        if self.filter_target > 0 and self.task == "autoencoder":
            raise ValueError("filter_target needs class scores (task='classify')")


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


@register("ccl")
class CounterCurrent(LocalTrainer):
    """Counter-current learning of ``forward`` (``F_1..F_L``) with ``feedback``
    (``G_1..G_L``, ``G_l`` maps the shape of ``a_l`` to that of ``a_l-1``); see the module
    docstring. Layers are ``snn.layers.Linear`` spiking layers (hidden layers of the spiking
    variant) or any ``nn.Module`` on ``(batch, ...)`` tensors that includes its activation."""

    rule_name = "ccl"
    config_class = CCLConfig
    data_parallel = True  # rules.distributed: batch statistics global, gradients synced before clipping

    def __init__(self, forward: list[nn.Module], feedback: list[nn.Module], config: CCLConfig | None = None,
                 device: str = "cpu", n_classes: int = 10) -> None:
        self.config = config if config is not None else CCLConfig()
        if not isinstance(self.config, CCLConfig):
            raise TypeError("config must be a CCLConfig")
        forward, feedback = list(forward), list(feedback)
        if len(forward) < 2 or len(forward) != len(feedback):
            raise ValueError(f"forward and feedback must hold the same number (>= 2) of layers, got "
                             f"{len(forward)} and {len(feedback)}")
        for name, net in (("forward", forward), ("feedback", feedback)):
            for m in net:
                if not isinstance(m, nn.Module):
                    raise TypeError(f"{name} layers must be torch modules, got {m!r}")
        if isinstance(forward[-1], SpikingLayer) or isinstance(feedback[0], SpikingLayer):
            raise ValueError("F_L (scores) and G_1 (input space) must be non-spiking layers")
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.device = device
        self.forward_net = nn.ModuleList(forward)
        self.feedback_net = nn.ModuleList(feedback)
        self.modules = nn.ModuleDict({"forward_net": self.forward_net,
                                      "feedback_net": self.feedback_net}).to(device)
        self.spiking = any(isinstance(m, SpikingLayer) for m in [*forward, *feedback])
        if self.spiking and self.config.task == "autoencoder":
            raise ValueError("the autoencoder variant is non-spiking; build it with spiking=False")
        groups = [{"params": list(self.forward_net.parameters())},
                  {"params": list(self.feedback_net.parameters())}]
        if self.config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(groups, lr=self.config.lr,
                                              weight_decay=self.config.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(groups, lr=self.config.lr, momentum=self.config.momentum,
                                             weight_decay=self.config.weight_decay)
        self._total_steps, self._step, self._steps_per_epoch = 0, 0, 1  # learning-rate schedule
        self._setup()

    @classmethod
    def build(cls, sizes: list[int], *, steps: int = 25, encoder: str = "rate", seed: int = 0,
              device: str = "cpu", spiking: bool = True, beta: float = 0.9,
              surrogate: str | Surrogate | None = None, **options) -> CounterCurrent:
        """CCL on the MLP ``sizes`` (no biases, ELU; ``task="autoencoder"`` takes
        ``sizes[0] == sizes[-1]``, e.g. ``[64, 32, 16, 32, 64]``, and ``loss="mse"``).
        ``spiking=True``: LIF hidden layers (``LIF.from_beta(beta)``, ``surrogate``: a
        :class:`snn.surrogate.Surrogate` or its name) over ``steps`` of ``encoder``;
        ``spiking=False``: ELU layers on one step of the ``direct`` encoder.
        ``options`` go to :class:`CCLConfig`."""
        from snn.models import LIF

        sizes = [int(s) for s in sizes]
        if len(sizes) < 3 or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must list inputs, at least one hidden layer and outputs, got {sizes}")
        if options.get("task") == "autoencoder":
            options.setdefault("loss", "mse")
            if sizes[0] != sizes[-1]:
                raise ValueError(f"an autoencoder's sizes must end with its input size {sizes[0]}, "
                                 f"got {sizes}")
        if not spiking:
            steps, encoder = 1, "direct"
        else:  # the spiking variant's measured settings (see the module docstring)
            options.setdefault("batch_size", 64)
            options.setdefault("grad_centralize", False)
            options.setdefault("optimizer", "adam")
            options.setdefault("lr", 1e-2)
            options.setdefault("center", options.get("loss", "similarity") == "similarity")
        config = CCLConfig(steps=steps, encoder=encoder, seed=seed, **options)
        if isinstance(surrogate, str):
            surrogate = surrogate_named(surrogate)
        torch.manual_seed(seed)
        last = len(sizes) - 2
        forward, feedback = [], []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            if i == last:
                forward.append(nn.Linear(a, b, bias=False))
            elif spiking:
                forward.append(Linear(a, b, LIF.from_beta(beta), bias=False, surrogate=surrogate))
            else:
                forward.append(nn.Sequential(nn.Linear(a, b, bias=False), nn.ELU()))
            if i == 0:
                feedback.append(nn.Linear(b, a, bias=False))
            elif spiking:
                feedback.append(Linear(b, a, LIF.from_beta(beta), bias=False, surrogate=surrogate))
            else:
                feedback.append(nn.Sequential(nn.Linear(b, a, bias=False), nn.ELU()))
        if config.task == "autoencoder":
            # As the official autoencoder: orthogonal weights; the reconstruction layer F_L
            # and the input-space feedback layer G_1 start at zero.
            for layer in [*forward, *feedback]:
                for p in layer.parameters():
                    if p.dim() == 2:
                        nn.init.orthogonal_(p)
            with torch.no_grad():
                forward[-1].weight.zero_()
                feedback[0].weight.zero_()
        return cls(forward, feedback, config, device=device, n_classes=sizes[-1])

    @classmethod
    def cnn(cls, image_shape: tuple[int, int] = (8, 8), channels: tuple[int, ...] = (16, 32),
            n_classes: int = 10, in_channels: int = 1, *, seed: int = 0, device: str = "cpu",
            spiking: bool = False, beta: float = 0.9, **options) -> CounterCurrent:
        """The CCL CNN: ``[conv3x3 + ELU + maxpool2]`` per entry of ``channels``, then a linear
        layer to the scores; the feedback net mirrors it with nearest up-sampling x2 and a 3x3
        conv per stage. ``loss`` defaults to ``"normalized"`` (kappa = 1). The image sides must
        be divisible by ``2 ** len(channels)``.

        ``spiking=True`` (as the spiking MLP of :meth:`build`): the conv stages of both nets
        are LIF layers (:class:`snn.layers.Conv2d`, ``LIF.from_beta(beta)``) over ``steps``
        (default 25) of ``encoder`` (default ``"rate"``), paired by their firing rates. Each
        forward stage reads its input spikes max-pooled x2 (the first reads the input at full
        size), so that ``a_l`` is the rate of a conv layer; ``F_L`` is a linear map of the
        max-pooled rates of the last stage. The feedback net: ``G_L`` a LIF
        :class:`snn.layers.Linear` on the class codes as constant spike trains, then per stage
        nearest up-sampling x2 of the spikes and a LIF 3x3 conv, and ``G_1`` a 3x3 conv of the
        rates ``b_1`` (non-spiking)."""
        h, w = (check_int("image_shape[0]", image_shape[0], minimum=1),
                check_int("image_shape[1]", image_shape[1], minimum=1))
        scale = 2 ** len(channels)
        if h % scale or w % scale:
            raise ValueError(f"image_shape {image_shape} must be divisible by 2**len(channels) = {scale}")
        options.setdefault("loss", "normalized")
        options.setdefault("kappa", 1.0)
        options.setdefault("batch_size", 64)  # the CNN's measured settings
        options.setdefault("grad_centralize", False)
        if spiking:
            options.setdefault("steps", 25)
            options.setdefault("encoder", "rate")
        config = CCLConfig(seed=seed, **options)
        torch.manual_seed(seed)
        chans = [in_channels, *channels]
        if spiking:
            trainer = cls(*_spiking_cnn(chans, (h, w), n_classes, beta), config, device=device,
                          n_classes=n_classes)
            trainer.flatten_input = False
            return trainer
        forward, feedback = [], []
        for i, (a, b) in enumerate(zip(chans[:-1], chans[1:], strict=True)):
            forward.append(nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.ELU(), nn.MaxPool2d(2)))
            up = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(b, a, 3, padding=1)]
            feedback.append(nn.Sequential(*up) if i == 0 else nn.Sequential(*up, nn.ELU()))
        top = (chans[-1], h // scale, w // scale)
        width = int(np.prod(top))
        forward.append(nn.Sequential(nn.Flatten(), nn.Linear(width, n_classes)))
        feedback.append(nn.Sequential(nn.Linear(n_classes, width), nn.Unflatten(1, top), nn.ELU()))
        trainer = cls(forward, feedback, config, device=device, n_classes=n_classes)
        trainer.flatten_input = False
        return trainer

    # -- the two nets ---------------------------------------------------------------------
    def _chain(self, modules, train: torch.Tensor | None, static: torch.Tensor, grad: bool):
        """Runs ``modules`` in order with every input detached; returns, per module, its
        ``(module, input, q, spiking)``: ``q`` its activity (a graph, a grad-requiring leaf for
        spiking layers when ``grad``)."""
        results = []
        for m in modules:
            spiking = isinstance(m, SpikingLayer)
            if spiking:
                if train is None:
                    raise ValueError("a spiking layer cannot follow a non-spiking one")
                inp = train.detach() if isinstance(train, torch.Tensor) else train  # sequences: no graph
                train, q = window_activity(m, inp, "count", self.config.chunk_steps)
                if grad:
                    q = q.detach().requires_grad_(True)
            else:
                inp = static.detach()
                if grad:
                    q = m(inp)
                else:
                    with torch.no_grad():
                        q = m(inp)
                train = None
            results.append((m, inp, q, spiking))
            static = q
        return results

    def _static(self, x: Steps) -> torch.Tensor:
        """The non-spiking input ``a_0``: the time average of the encoded ``x`` (a stream summed
        chunk by chunk: for spikes, exactly ``x.mean(0)``), standardised by ``input_mean`` /
        ``input_std``."""
        if isinstance(x, torch.Tensor):
            x = x.mean(0)
        else:
            x = sum(c.sum(0) for c in step_chunks(x, self.config.chunk_steps)) / x.shape[0]
        cfg = self.config
        return x if (cfg.input_mean, cfg.input_std) == (0.0, 1.0) else (x - cfg.input_mean) / cfg.input_std

    def _feedback_input(self, target: torch.Tensor) -> StepSequence | None:
        """The targets as constant spike trains over ``steps``, a chunk at a time."""
        if not isinstance(self.feedback_net[-1], SpikingLayer):
            return None
        steps = self.config.steps

        def make(size: int):
            for start in range(0, steps, size):
                yield target.unsqueeze(0).expand(min(size, steps - start), *target.shape)

        return StepSequence((steps, *target.shape), target.dtype, target.device, make, binary=True)

    def _targets(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.config.task == "autoencoder":
            return _flat(self._static(x))
        eye = torch.eye(self.n_classes, device=x.device, dtype=x.dtype)
        return eye if self.config.loss != "mse" else eye[y]

    def _pair_loss(self, a: torch.Tensor, b: torch.Tensor, y: torch.Tensor,
                   keep: torch.Tensor | None = None) -> torch.Tensor:
        """The pair loss of ``a`` (batch rows) and ``b``; ``keep`` (batch,), if given, zeroes
        the rows of the samples filtered out by ``filter_target`` (the mean still counts them)."""
        cfg = self.config
        a, b = _flat(a), _flat(b)

        def rows(err: torch.Tensor) -> torch.Tensor:
            return err if keep is None else err * keep[:, None]

        if cfg.loss == "mse":
            return rows((a - b).pow(2)).mean()
        target = torch.nn.functional.one_hot(y, self.n_classes).to(a.dtype)
        if cfg.loss == "similarity":
            if cfg.center:  # over the global batch when data parallel (rules.distributed)
                a, b = a - batch_mean(a), b - b.mean(0, keepdim=True)
            return cfg.kappa * (256.0 / a.shape[1]) * rows((a @ b.t() - target).pow(2)).mean()
        an = a / (a.norm(dim=1, keepdim=True) + 1e-8)
        bn = b / (b.norm(dim=1, keepdim=True) + 1e-8)
        # this process's rows of the sample-by-sample Gram matrix of the (global) batch
        everyone, start = gather_rows(an)
        eye_a = torch.eye(everyone.shape[0], device=a.device, dtype=a.dtype)[start:start + a.shape[0]]
        eye_b = torch.eye(b.shape[0], device=a.device, dtype=a.dtype)
        self_terms = rows((an @ everyone.t() - eye_a).pow(2)).mean() + (bn @ bn.t() - eye_b).pow(2).mean()
        return cfg.kappa * rows((an @ bn.t() - target).pow(2)).mean() + cfg.kappa_self * self_terms

    def local_losses(self, x: torch.Tensor, y: torch.Tensor, stats: dict | None = None
                     ) -> Iterator[tuple[str, torch.Tensor]]:
        """The training step's scalars ``(owners, term)``: each term's graph reaches only the
        parameters of ``owners`` (``"forward.<l-1>"`` for F_l, ``"feedback.<l-1>"`` for G_l);
        ``backward()`` each before asking for the next. ``stats``, if given, receives the summed
        ``loss`` and the batch's ``scores``."""
        stats = stats if stats is not None else {}
        chunk = self.config.chunk_steps
        x_static = self._static(x)
        first = self.forward_net[0]
        fwd = self._chain(self.forward_net, x if isinstance(first, SpikingLayer) else None, x_static, True)
        target = self._targets(x, y)
        fb = self._chain(list(self.feedback_net)[::-1], self._feedback_input(target), target, True)[::-1]
        # fb[l] is G_l+1 with output b_l; fwd[l] is F_l+1 with output a_l+1.
        n_layers = len(self.forward_net)
        keep = None
        if self.config.filter_target > 0:
            with torch.no_grad():
                prob = torch.softmax(_flat(fwd[-1][2]), 1).gather(1, y[:, None])[:, 0]
                keep = (prob <= 1 - self.config.filter_target).to(x_static.dtype)
        stats["loss"] = 0.0
        for level in range(n_layers):
            parts = [] if level == 0 else [fwd[level - 1]]
            parts.append(fb[level])
            a = x_static if level == 0 else fwd[level - 1][2]
            loss = self._pair_loss(a, fb[level][2], y, keep)
            stats["loss"] += float(loss.detach())
            owners = ([] if level == 0 else [f"forward.{level - 1}"]) + [f"feedback.{level}"]
            windows = [(m, inp, q, "count") for m, inp, q, spiking in parts if spiking]
            reaches = any(not spiking for *_, spiking in parts)
            for term in local_gradients(loss, windows, chunk, reaches):
                yield ",".join(owners), term
        scores = fwd[-1][2]
        if self.config.task == "autoencoder":
            top = (_flat(scores) - _flat(x_static)).pow(2).mean()
        else:
            top = torch.nn.functional.cross_entropy(scores, y)
        stats["loss"] += float(top.detach())
        stats["scores"] = scores.detach()
        yield f"forward.{n_layers - 1}", top

    def train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of both nets on the encoded batch ``x`` ``(T, batch, ...)``; returns
        the summed losses and the scores (reconstructions for the autoencoder)."""
        stats: dict = {}
        self.optimizer.zero_grad(set_to_none=True)
        for _, term in self.local_losses(x, y, stats):
            term.backward()
        if self.config.grad_centralize:
            with torch.no_grad():
                for p in self.modules.parameters():
                    if p.grad is not None and p.grad.dim() > 1:
                        p.grad -= p.grad.mean(dim=tuple(range(1, p.grad.dim())), keepdim=True)
        if self._step is None:  # first batch of a fit: resume the schedule where it stood
            self._step = len(self.history) * self._steps_per_epoch
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self._step)
        self._step += 1
        if self.config.clip > 0:
            sync_gradients()  # data parallel: the global batch's gradients before the clipping
            for net in (self.forward_net, self.feedback_net):
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.config.clip)
        self.optimizer.step()
        return torch.tensor(stats["loss"]), stats["scores"]

    def learning_rate(self, step: int) -> float:
        """The learning rate of batch ``step`` (0-based, counted over the whole fit): a linear
        warm-up over ``warmup_steps`` batches, then ``lr`` (``schedule="constant"``) or a cosine
        from ``lr`` to ``lr_min`` that ends with the fit's last batch (``"cosine"``; outside
        :meth:`fit` the schedule is constant)."""
        cfg = self.config
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant" or self._total_steps <= cfg.warmup_steps:
            return cfg.lr
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, self._total_steps - 1 - cfg.warmup_steps))
        return cfg.lr_min + (cfg.lr - cfg.lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def fit(self, train: Dataset, test: Dataset | None = None, epochs: int = 1, progress: bool = False,
            checkpoint: str | Path | None = None, resume: bool = False) -> list:
        """As :meth:`rules.ff.LocalTrainer.fit`; the learning-rate schedule spans ``epochs``
        (a resumed run continues it from its recorded epochs)."""
        self._steps_per_epoch = -(-len(train) // self.config.batch_size)
        self._total_steps = check_int("epochs", epochs, minimum=1) * self._steps_per_epoch
        self._step = None
        try:
            return super().fit(train, test, epochs, progress, checkpoint, resume)
        finally:
            self._total_steps, self._step = 0, 0

    def _correct(self, scores: torch.Tensor, y: torch.Tensor) -> int:
        return 0 if self.config.task == "autoencoder" else super()._correct(scores, y)

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """The forward net's output on the encoded batch ``x``: class scores, or
        reconstructions for the autoencoder."""
        first = self.forward_net[0]
        return self._chain(self.forward_net, x if isinstance(first, SpikingLayer) else None, self._static(x),
                           False)[-1][2]

    def evaluate(self, ds: Dataset, batch_size: int = 500) -> float:
        """Test accuracy on ``ds`` (classification; see :meth:`reconstruction_mse`)."""
        if self.config.task == "autoencoder":
            raise ValueError("an autoencoder has no accuracy; use reconstruction_mse(ds)")
        return super().evaluate(ds, batch_size)

    @torch.no_grad()
    def reconstruction_mse(self, ds: Dataset, batch_size: int = 500) -> float:
        """Mean squared error per pixel of the reconstructions of ``ds`` (pixels in [0, 1])."""
        x_all, _ = self._inputs(ds)
        total = 0.0
        for start in range(0, len(ds), batch_size):
            x = x_all[start:start + batch_size]
            out = self.scores(self.encode(x, self.config.steps))
            total += float((_flat(out) - _flat(x)).pow(2).sum())
        return total / x_all.numel()

    @torch.no_grad()
    def synaptic_ops(self, x: torch.Tensor, y: torch.Tensor | None = None) -> float:
        """Synaptic operations per sample of :meth:`train_batch` on the encoded ``x``: both
        nets' forward passes (input events x fan-out for spiking layers, MACs otherwise) plus as
        many again for the local weight-gradient accumulation, and once more for the per-step
        second pass of spiking layers; the feedback net's share is divided among the batch."""
        y = torch.zeros(x.shape[1], dtype=torch.long, device=x.device) if y is None else y
        first = self.forward_net[0]
        fwd = self._chain(self.forward_net, x if isinstance(first, SpikingLayer) else None, self._static(x),
                          False)
        target = self._targets(x, y)
        fb = self._chain(list(self.feedback_net)[::-1], self._feedback_input(target), target, False)
        ops = 0.0
        for m, inp, _, spiking in [*fwd, *fb]:
            if isinstance(m, _StageConv2d):
                inp = m.prepare(inp)
            ops += (input_ops(m, inp) if spiking else _macs(m, inp)) * (3 if spiking else 2)
        return ops / x.shape[1]


class _StageConv2d(Conv2d):
    """A LIF 3x3 conv stage of the spiking CCL CNN that first reshapes its input spikes
    ``(T, batch, ...)`` to ``in_shape`` ``(C, H, W)`` and resamples them x2 per step:
    ``"max"`` (max pooling: an OR of spikes) or ``"up"`` (nearest up-sampling), or not at all
    (``None``). Done inside :meth:`synapses`, so the layer's window activity is still the
    firing rate of its own neurons and its local gradient (:func:`rules.ff.window_terms`)
    is that of a plain :class:`snn.layers.Conv2d` on the resampled input. The initial weights
    are PyTorch's default times ``init_gain`` (4: with the default the second stage fires at
    ~1% on digits and the net learns little in a few epochs)."""

    def __init__(self, in_shape: tuple[int, int, int], out_channels: int, resample: str | None,
                 neuron, init_gain: float = 4.0) -> None:
        super().__init__(in_shape[0], out_channels, 3, neuron, padding=1)
        self.in_shape = tuple(int(s) for s in in_shape)
        self.resample = resample
        with torch.no_grad():  # 4x PyTorch's default bound: otherwise the stages barely fire
            self.weight.mul_(init_gain)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The resampled input spikes ``(T, batch, C, H', W')`` of ``x``."""
        binary = getattr(x, "_synaptica_binary", False)
        steps, batch = x.shape[:2]
        flat = x.reshape(steps * batch, *self.in_shape)
        if self.resample == "max":
            flat = nn.functional.max_pool2d(flat, 2)
        elif self.resample == "up":
            flat = nn.functional.interpolate(flat, scale_factor=2, mode="nearest")
        out = flat.reshape(steps, batch, *flat.shape[1:])
        return mark_binary(out) if binary else out

    def synapses(self, x: torch.Tensor) -> torch.Tensor:
        return super().synapses(self.prepare(x))


def _spiking_cnn(chans: list[int], image: tuple[int, int], n_classes: int, beta: float
                 ) -> tuple[list[nn.Module], list[nn.Module]]:
    """The forward and feedback layers of :meth:`CounterCurrent.cnn` with ``spiking=True``."""
    from snn.models import LIF

    h, w = image
    sides = [(h // 2 ** i, w // 2 ** i) for i in range(len(chans) - 1)]  # of a_1 .. a_L-1
    shapes = [(c, *side) for c, side in zip(chans[1:], sides, strict=True)]
    forward, feedback = [], []
    for i in range(len(chans) - 1):
        prev = (chans[0], h, w) if i == 0 else shapes[i - 1]
        forward.append(_StageConv2d(prev, chans[i + 1], None if i == 0 else "max", LIF.from_beta(beta)))
        if i == 0:
            # b_1 arrives flat when G_2 is the linear G_L (a single stage)
            feedback.append(nn.Sequential(nn.Flatten(), nn.Unflatten(1, shapes[0]),
                                          nn.Conv2d(chans[1], chans[0], 3, padding=1)))
        else:
            feedback.append(_StageConv2d(shapes[i], chans[i], "up", LIF.from_beta(beta)))
    top = shapes[-1]
    pooled = top[0] * (top[1] // 2) * (top[2] // 2)
    forward.append(nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(pooled, n_classes)))
    feedback.append(Linear(n_classes, int(np.prod(top)), LIF.from_beta(beta)))
    return forward, feedback


def _macs(module: nn.Module, x: torch.Tensor) -> float:
    """Multiply-accumulates of ``module`` (its ``nn.Linear`` and ``nn.Conv2d`` parts) on ``x``."""
    total = [0.0]

    def count(m, inputs, out):
        if isinstance(m, nn.Linear):
            total[0] += out.numel() * m.in_features
        else:
            total[0] += out.numel() * m.in_channels // m.groups * int(np.prod(m.kernel_size))

    hooks = [m.register_forward_hook(count) for m in module.modules()
             if isinstance(m, (nn.Linear, nn.Conv2d))]
    try:
        module(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0]


__all__ = ["CCLConfig", "CounterCurrent"]
