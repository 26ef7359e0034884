"""Backpropagation through time with surrogate gradients: the reference every local rule is
measured against.

The network is a :class:`snn.layers.Sequential`; static inputs are encoded over ``steps``
time steps; the loss is cross-entropy on a decoded output (spike counts for a spiking output
layer, the maximum membrane potential for an ``LI`` read-out); Adam updates the weights.
Runs are reproducible from ``seed`` (initial weights, batch order, encoder noise), and
checkpoints (HDF5, written atomically) hold weights, optimiser state, history and position,
so ``fit(..., resume=True)`` continues an interrupted run where it stopped.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from rules import register
from rules.base import (
    EpochRecord,
    evaluate_accuracy,
    fit_epochs,
    module_arrays,
    optimizer_arrays,
    read_rule_checkpoint,
    restore_module,
    restore_optimizer,
)
from snn.checkpoint import save_checkpoint
from snn.datasets import Dataset
from snn.encoding import DECODERS, ENCODERS
from snn.layers import Sequential
from snn.validate import check_int


@dataclass
class BPTTConfig:
    """Hyper-parameters of a BPTT run."""

    steps: int = 25
    encoder: str = "rate"
    gain: float = 1.0
    decoder: str | None = None  # default: "count" for spiking outputs, else "max_membrane"
    lr: float = 2e-3
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0)
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder {self.encoder!r} is unknown; choose from {', '.join(ENCODERS)}")
        if self.decoder is not None and self.decoder not in DECODERS:
            raise ValueError(f"decoder {self.decoder!r} is unknown; choose from {', '.join(DECODERS)}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive learning rate, got {self.lr}")


@register("bptt")
@dataclass
class BPTT:
    """Train ``net`` by BPTT; see the module docstring."""

    data_parallel = True  # rules.distributed: every update is an optimiser step on batch-mean gradients
    net: Sequential
    config: BPTTConfig = field(default_factory=BPTTConfig)
    device: str = "cpu"
    history: list[EpochRecord] = field(default_factory=list)
    architecture: dict | None = None  # mlp() arguments when built by build(); saved with the weights

    def __post_init__(self) -> None:
        if not isinstance(self.net, Sequential):
            raise TypeError("net must be a snn.layers.Sequential")
        self.net.to(self.device)
        self.decode = DECODERS[self.config.decoder or
                               ("max_membrane" if self.net.output_is_membrane else "count")]
        self.encode = ENCODERS[self.config.encoder]
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.lr)

    @classmethod
    def build(cls, sizes: list[int], *, steps: int = 25, encoder: str = "rate", seed: int = 0,
              device: str = "cpu", spiking: bool = True, neuron: str = "lif", beta: float = 0.9,
              readout: str = "li", **options) -> BPTT:
        """BPTT on ``mlp(sizes, neuron=neuron, beta=beta, readout=readout)`` (LIF hidden layers,
        LI read-out by default); ``spiking=False`` trains the same architecture with ReLU units,
        one step of the ``direct`` encoder (plain backprop). ``options`` go to
        :class:`BPTTConfig`."""
        net_options = {"neuron": neuron, "beta": beta, "readout": readout}
        defaults = {"neuron": "lif", "beta": 0.9, "readout": "li"}
        changed = [k for k, v in net_options.items() if v != defaults[k]]
        torch.manual_seed(seed)
        if spiking:
            net = mlp(sizes, **net_options)
        elif changed:
            raise ValueError(f"{', '.join(changed)} apply to the spiking network only; "
                             "drop them or use spiking=True")
        else:
            from snn.layers import relu_mlp

            net = relu_mlp(sizes)
            encoder, steps = "direct", 1
        architecture = {"sizes": [int(s) for s in sizes], **net_options} if spiking else None
        return cls(net, BPTTConfig(steps=steps, encoder=encoder, seed=seed, **options), device=device,
                   architecture=architecture)

    # -- data -------------------------------------------------------------------------------
    def _inputs(self, ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(ds.to_float32(), device=self.device)
        y = torch.as_tensor(np.asarray(ds.labels, dtype=np.int64), device=self.device)
        return x, y

    def _encode(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.config.encoder == "rate":
            return self.encode(x, self.config.steps, gain=self.config.gain, generator=generator)
        return self.encode(x, self.config.steps)

    # -- training ---------------------------------------------------------------------------
    def fit(self, train: Dataset, test: Dataset | None = None, epochs: int = 1,
            progress: bool = False, checkpoint: str | Path | None = None,
            resume: bool = False) -> list[EpochRecord]:
        """Train for ``epochs`` (in total, counting a resumed run's earlier epochs)."""
        return fit_epochs(self, train, test, epochs, progress, checkpoint, resume,
                          start_epoch=lambda _epoch, _epochs: self.net.train())

    def train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One Adam step on the encoded batch ``x`` ``(T, batch, ...)``; returns the loss and
        the decoded scores."""
        scores = self.decode(self.net(x))
        loss = torch.nn.functional.cross_entropy(scores, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), scores.detach()

    @torch.no_grad()
    def synaptic_ops(self, x: torch.Tensor) -> float:
        """Synaptic operations per sample of one training step on the encoded batch ``x``
        ``(T, batch, ...)`` (dimensionless count, the energy proxy of :mod:`rules.base`).

        Counted for each synaptic layer (``Linear``, ``Conv2d``, ``RecurrentLinear``, ``Dense``):

        - forward: each input spike times the synapses it reaches (its fan-out); a non-spiking
          input (``direct`` encoder, ReLU layers) counts every multiply-accumulate; recurrent
          weights add each output spike times the layer's width;
        - backward: the dense multiply-accumulates autograd performs, ``T`` x fan-in x fan-out
          per output position for the weight gradient, and as many again for the gradient to
          the layer's input (not computed for the first layer, whose input needs none);
        - update: one per trainable parameter (weights, biases, neuron parameters) per step,
          shared by the ``batch`` samples.

        Neuron updates and surrogate derivatives are not synaptic operations and are not counted.
        """
        from snn.layers import Dense, RecurrentLinear, SpikingLayer, _is_binary

        steps, batch = x.shape[0], x.shape[1]
        forward = backward = 0.0
        first = True
        h = x
        for layer in self.net:
            inp, h = h, layer(h)
            if not isinstance(layer, (SpikingLayer, Dense)):
                continue
            positions = h[0, 0].numel() // layer.weight.shape[0]
            dense = steps * positions * layer.weight.numel()
            density = float(torch.count_nonzero(inp)) / inp.numel() if _is_binary(inp) else 1.0
            forward += dense * density
            backward += dense if first else 2 * dense
            if isinstance(layer, RecurrentLinear):
                forward += float(torch.count_nonzero(h)) / batch * layer.out_features
                backward += 2 * steps * layer.recurrent.numel()
            first = False
        update = sum(p.numel() for p in self.net.parameters() if p.requires_grad) / batch
        return forward + backward + update

    @torch.no_grad()
    def evaluate(self, ds: Dataset, batch_size: int = 512) -> float:
        """Accuracy on ``ds`` (encoder noise seeded, so repeated calls agree)."""
        self.net.eval()
        return evaluate_accuracy(self, ds, batch_size, lambda x, _gen: self.decode(self.net(x)))

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Weights, optimiser state, configuration and history, written atomically."""
        arrays = module_arrays(self.net)
        opt = self.optimizer.state_dict()
        arrays.update(optimizer_arrays(opt))
        meta = {"rule": "bptt", "config": asdict(self.config), "architecture": self.architecture,
                "param_groups": opt["param_groups"],
                "history": [asdict(r) for r in self.history]}
        return save_checkpoint(path, arrays, meta)

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save` for the same architecture."""
        arrays, meta = read_rule_checkpoint(path, "bptt")
        restore_module(self.net, arrays, path)
        restore_optimizer(self.optimizer, arrays, meta["param_groups"])
        self.config = BPTTConfig(**meta["config"])
        self.history = [EpochRecord(**r) for r in meta["history"]]


def mlp(sizes: list[int], neuron: str = "lif", beta: float = 0.9, readout: str = "li",
        surrogate=None, chunk_steps: int | None = 25) -> Sequential:
    """A fully connected network ``sizes[0] - ... - sizes[-1]`` of hidden layers of ``neuron``,
    with an ``LI`` read-out (``readout="li"``) or a spiking LIF last layer (``readout="lif"``).

    ``neuron``: ``"lif"`` (``LIF.from_beta(beta)``), ``"adaptive"``
    (``AdaptiveLIF.from_beta(beta)``), ``"meta"`` (``MetaNeuron.from_beta(beta)``, learnable
    intrinsics), ``"ultralif"`` (``UltraLIF(tau=beta)``, learnable eps) or ``"ultradlif"``
    (``UltraDLIF()``, learnable eps), ``"plif"`` (``PLIF(tau=1 / (1 - beta))``, Fang et al.'s
    learned time constant, one per layer, starting where an LIF of this ``beta`` decays) or
    ``"dspike"`` (``DSpikeLIF(tau=beta)``, the smooth Differentiable-Spike neuron, learned
    temperature).

    ``chunk_steps`` runs the layers 25 time steps at a time (see :class:`snn.layers.Sequential`);
    ``None`` runs all steps at once.
    """
    from snn.layers import Linear
    from snn.models import LI, LIF, PLIF, AdaptiveLIF, DSpikeLIF, MetaNeuron, UltraDLIF, UltraLIF

    hidden = {"lif": lambda: LIF.from_beta(beta), "adaptive": lambda: AdaptiveLIF.from_beta(beta),
              "meta": lambda: MetaNeuron.from_beta(beta), "ultralif": lambda: UltraLIF(tau=beta),
              "ultradlif": lambda: UltraDLIF(), "plif": lambda: PLIF(tau=1.0 / (1.0 - beta)),
              "dspike": lambda: DSpikeLIF(tau=beta)}
    if neuron not in hidden:
        raise ValueError(f"neuron={neuron!r} is not available for training; available: "
                         f"{', '.join(sorted(hidden))}")
    if not 0.0 < beta < 1.0:
        raise ValueError(f"beta must be in (0, 1) (the membrane's retention per step), got {beta}")
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"sizes must list at least two positive layer sizes, got {sizes}")
    if readout not in ("li", "lif"):
        raise ValueError(f"readout must be 'li' or 'lif', got {readout!r}")
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        if last:
            model = LI.from_beta(beta) if readout == "li" else LIF.from_beta(beta)
        else:
            model = hidden[neuron]()
        layers.append(Linear(a, b, model, surrogate=surrogate))
    return Sequential(*layers, chunk_steps=chunk_steps)


def load_network(path: str | Path, neuron: str | None = None, beta: float | None = None,
                 readout: str | None = None) -> tuple[Sequential, list[str]]:
    """The trained :class:`snn.layers.Sequential` of a BPTT checkpoint and a list of notes
    (assumptions made for checkpoints that predate the recorded architecture).

    ``neuron``, ``beta`` and ``readout`` override what the checkpoint records.
    """
    from rules.base import read_rule_checkpoint, restore_module

    arrays, meta = read_rule_checkpoint(path, "bptt")
    notes = []
    arch = dict(meta.get("architecture") or {})
    if not arch:
        layers = sorted(int(m.group(1)) for k in arrays if (m := re.fullmatch(r"model/(\d+)\.weight", k)))
        if not layers:
            raise ValueError(f"{str(path)!r} holds no layer weights (model/<i>.weight)")
        shapes = [arrays[f"model/{i}.weight"].shape for i in layers]
        if any(len(s) != 2 for s in shapes):
            raise ValueError(f"{str(path)!r} is not a fully connected BPTT network; export it in "
                             "Python with hardware.nir.to_nir(rule.net, input_shape=...)")
        arch = {"sizes": [shapes[0][1]] + [s[0] for s in shapes]}
        notes.append("the checkpoint does not record its architecture (written before it did): "
                     "assumed train bptt's defaults unless --neuron/--beta/--readout say otherwise")
    for key, value in (("neuron", neuron), ("beta", beta), ("readout", readout)):
        if value is not None:
            arch[key] = value
    net = mlp(**arch)
    restore_module(net, arrays, path)
    return net, notes
