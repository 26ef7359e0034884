"""Forward-forward (Hinton 2022): every layer learns on its own objective from two forward
passes, positive data (the input with its true label written in) and negative data (the same
input with a wrong label); no error signal ever crosses a layer.

Per hidden layer ``l`` with window activity ``q`` (the ReLU output for ``Dense`` layers; for
spiking layers the firing rate, spike count / T, or the mean positive part of the membrane
potential, ``goodness="count"`` / ``"membrane"``):

* goodness ``G = mean_j q_j^2`` (mean of squares, so ``theta`` does not scale with width);
* loss ``mean_pos softplus(-alpha (G - theta)) + mean_neg softplus(alpha (G - theta))``;
* the next layer sees the activity divided by its per-sample RMS (``x sqrt(d) / ||q||``), so
  goodness cannot leak upwards (Hinton's length normalisation, scaled to unit RMS).

``negatives="none"`` is ForwardGNN's negative-free single-forward variant (Park et al. 2024):
no label in the input; ``n_classes`` fixed random "class inputs" (seeded) run through the same
layers next to the data, and each layer minimises ``CE(q_x . q_c / temperature, y)`` against
these class prototypes; it predicts by the sum over layers of the softmax probabilities.

Inference: ``"goodness"`` (one pass per candidate label, the sum of goodness over the layers,
the first layer excluded when there are two or more, as Hinton), ``"prototype"`` (the
negative-free variant) or ``"readout"`` (a linear softmax trained with its own Adam on the
detached, normalised activities of the same layers, the label entries set to ``1/K``).

Locality. Each layer's input is detached. For spiking layers no autograd path crosses time
either: a first pass (no autograd) runs the layer and gives the window activity ``q``; the
layer's loss gives ``delta = dL/dq``; a second pass re-runs the steps in chunks of
``chunk_steps``, detaching the neuron state after every step, and back-propagates
``sum_t delta . q_t / T`` chunk by chunk. The weight gradient is thus that of ``L`` with each
step's membrane history treated as a constant, and autograd memory depends on ``chunk_steps``,
not on T.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

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
from rules.metrics import observe_spikes, recomputing
from snn.checkpoint import save_checkpoint
from snn.datasets import Dataset
from snn.encoding import DEFAULT_CHUNK_STEPS, ENCODERS, SpikeStream
from snn.layers import SpikingLayer, mark_binary
from snn.validate import check_int

QUANTITIES = ("count", "membrane")


# -- sequences over time, read a chunk of steps at a time -----------------------------------
class StepSequence:
    """A ``(T, batch, ...)`` sequence whose steps are computed a chunk at a time, every time it
    is read (a hidden layer's spikes regenerated from its input rather than stored, the input
    with its label written in): what a local rule holds of it is one chunk, whatever ``T``.
    ``make(chunk_steps)`` yields the chunks in order; ``binary``: they hold only 0 and 1."""

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device,
                 make: Callable[[int], Iterator[torch.Tensor]], binary: bool = False) -> None:
        self.shape = torch.Size(shape)
        self.dtype, self.device, self.binary = dtype, device, bool(binary)
        self._make = make

    def dim(self) -> int:
        """Number of dimensions (T, batch, ...)."""
        return len(self.shape)

    def chunks(self, chunk_steps: int) -> Iterator[torch.Tensor]:
        """The steps in order, ``chunk_steps`` at a time."""
        for chunk in self._make(chunk_steps):
            yield mark_binary(chunk) if self.binary else chunk


Steps = torch.Tensor | SpikeStream | StepSequence


def is_binary(x: Steps) -> bool:
    """Whether ``x`` holds spikes (only 0 and 1), so a synaptic layer keeps it as bool."""
    if isinstance(x, SpikeStream):
        return x.encoder != "direct"
    if isinstance(x, StepSequence):
        return x.binary
    return bool(getattr(x, "_synaptica_binary", False))


def step_chunks(x: Steps, chunk_steps: int) -> Iterator[torch.Tensor]:
    """The steps of ``x`` ``(T, batch, ...)`` in order, ``chunk_steps`` at a time (views of a
    tensor; computed chunks of a stream or sequence)."""
    if isinstance(x, torch.Tensor):
        binary = is_binary(x)
        for chunk in x.split(chunk_steps):
            yield mark_binary(chunk) if binary else chunk
    else:
        yield from x.chunks(chunk_steps)


def cat_steps(parts: list[Steps], dim: int) -> Steps:
    """``torch.cat(parts, dim)`` of sequences (``dim`` >= 1), chunk by chunk when any is not a
    tensor; spikes if every part is."""
    binary = all(is_binary(p) for p in parts)
    if all(isinstance(p, torch.Tensor) for p in parts):
        out = torch.cat(parts, dim=dim)
        return mark_binary(out) if binary else out
    shape = list(parts[0].shape)
    shape[dim] = sum(p.shape[dim] for p in parts)

    def make(size: int) -> Iterator[torch.Tensor]:
        for chunks in zip(*(step_chunks(p, size) for p in parts), strict=True):
            yield torch.cat(chunks, dim=dim)

    return StepSequence(tuple(shape), parts[0].dtype, parts[0].device, make, binary)


def dense_steps(x: Steps) -> torch.Tensor:
    """The whole of ``x`` as one tensor."""
    if isinstance(x, torch.Tensor):
        return x
    out = torch.cat(list(step_chunks(x, x.shape[0])))
    return mark_binary(out) if is_binary(x) else out


# -- spiking layers over a window, with gradients confined to one step ---------------------
def _steps(layer: SpikingLayer, current: torch.Tensor, state: dict | None, quantity: str):
    """Run ``layer``'s neuron over the steps of ``current``, detaching the state after each
    step; returns (outputs, summed window quantity, state)."""
    impl, neuron = layer.impl, layer.neuron
    consts = impl.constants(neuron, layer.dt, current.device, current.dtype)
    params = dict(layer.neuron_params)
    if state is None:
        state = impl.initial_state(neuron, current[0])
    outs, acc = [], 0.0
    for k in range(current.shape[0]):
        out, state = impl.step(neuron, consts, current[k], state, layer.surrogate, layer.detach_reset,
                               params)
        outs.append(out)
        acc = acc + (out if quantity == "count" else torch.relu(state["u"]))
        state = {name: value.detach() for name, value in state.items()}
    return outs, acc, state


@torch.no_grad()
def window_activity(layer: nn.Module, x: Steps, quantity: str = "count",
                    chunk_steps: int = DEFAULT_CHUNK_STEPS) -> tuple[Steps, torch.Tensor]:
    """Outputs ``(T, batch, ...)`` of ``layer`` on ``x`` and its window activity ``q``
    ``(batch, ...)``, without autograd: the mean over steps of the spikes (``"count"``: a firing
    rate per step) or of the positive part of the membrane (``"membrane"``). For a non-spiking
    layer ``q`` is the mean output.

    A spiking layer runs ``chunk_steps`` steps at a time and keeps none of its outputs: they
    come back as a :class:`StepSequence` that reruns the layer on ``x`` whenever it is read
    (under :func:`rules.metrics.recomputing`), so memory does not grow with ``T``."""
    if not isinstance(layer, SpikingLayer):
        out = layer(dense_steps(x))
        return out, out.mean(0)
    acc, state = 0.0, None
    for chunk in step_chunks(x, chunk_steps):
        outs, part, state = _steps(layer, layer.synapses(chunk), state, quantity)
        observe_spikes(layer, torch.stack(outs))
        acc = acc + part

    def make(size: int) -> Iterator[torch.Tensor]:
        state = None
        for chunk in step_chunks(x, size):
            with torch.no_grad(), recomputing():
                outs, _, state = _steps(layer, layer.synapses(chunk), state, quantity)
            yield torch.stack(outs)

    shape = (*x.shape[:2], *layer_output_shape(layer, x))
    return StepSequence(shape, x.dtype, x.device, make, layer.spiking), acc / x.shape[0]


def layer_output_shape(layer: nn.Module, x: Steps) -> tuple[int, ...]:
    """The per-sample output shape of ``layer`` on ``x`` ``(T, batch, ...)``, from one step of
    one sample (no operation counted)."""
    if hasattr(layer, "out_features"):
        return (layer.out_features,)
    first = next(step_chunks(x, 1))[:, :1]
    with torch.no_grad(), recomputing():
        return tuple(layer.synapses(first).shape[2:])


def window_terms(layer: SpikingLayer, x: Steps, delta: torch.Tensor, quantity: str = "count",
                 chunk_steps: int = DEFAULT_CHUNK_STEPS) -> Iterator[torch.Tensor]:
    """Scalars whose gradients, summed, are ``delta . dq/dparams`` for the window activity ``q``
    of :func:`window_activity`, with the neuron state detached after every step. One scalar per
    chunk of ``chunk_steps`` steps; call ``backward()`` on each before asking for the next."""
    steps = x.shape[0]
    state = None
    for part in step_chunks(x, chunk_steps):
        chunk = part.clone()  # autograd then holds this chunk, not all of x
        if is_binary(x):
            mark_binary(chunk)
        with torch.no_grad():
            state = None if state is None else {k: v.detach() for k, v in state.items()}
        _, acc, state = _steps(layer, layer.synapses(chunk), state, quantity)
        yield (delta * acc).sum() / steps


def input_ops(layer: nn.Module, x: Steps) -> float:
    """Synaptic operations of one pass of ``x`` ``(T, batch, ...)`` through ``layer``, summed
    over the batch: input events (non-zeros) x fan-out for a spiking layer, multiply-accumulates
    for a non-spiking one."""
    weight = layer.weight
    fan_out = weight.shape[0] * (int(np.prod(weight.shape[2:])) if weight.dim() > 2 else 1)
    if isinstance(layer, SpikingLayer):
        return float(sum(int(torch.count_nonzero(c)) for c in step_chunks(x, DEFAULT_CHUNK_STEPS))) * fan_out
    return float(np.prod(x.shape)) * fan_out


def rms_normalise(out: Steps, q: torch.Tensor, eps: float = 1e-6) -> Steps:
    """``out`` (T, batch, d) scaled per sample so that its window activity ``q`` (batch, d) has
    unit root mean square; spikes stay events, each carrying the sample's gain (a sequence is
    scaled chunk by chunk as it is read)."""
    d = q[0].numel()
    gain = math.sqrt(d) / (q.reshape(q.shape[0], -1).norm(dim=1) + eps)
    gain = gain.view(1, -1, *([1] * (out.dim() - 2)))
    if isinstance(out, torch.Tensor):
        return out * gain

    def make(size: int) -> Iterator[torch.Tensor]:
        for chunk in step_chunks(out, size):
            yield chunk * gain

    return StepSequence(tuple(out.shape), out.dtype, out.device, make)


def local_gradients(loss: torch.Tensor, windows: list[tuple], chunk_steps: int,
                    reaches_params: bool) -> Iterator[torch.Tensor]:
    """The parameter-reaching scalars of a local ``loss``: ``loss`` itself when its graph reaches
    parameters (non-spiking layers), then the per-chunk terms of every spiking window
    ``(layer, input, q_leaf, quantity)`` whose activity ``q_leaf`` the loss reads."""
    leaves = [w[2] for w in windows]
    deltas = torch.autograd.grad(loss, leaves, retain_graph=reaches_params) if leaves else []
    if reaches_params:
        yield loss
    for (layer, x, _, quantity), delta in zip(windows, deltas, strict=True):
        yield from window_terms(layer, x, delta, quantity, chunk_steps)


# -- the training loop every local rule here shares ----------------------------------------
class LocalTrainer:
    """Seeded mini-batch loop, evaluation, progress bar and checkpoints of a local rule.

    A subclass provides ``rule_name``, ``config_class``, ``modules`` (what the checkpoint holds),
    ``train_batch(x, y) -> (loss, scores)`` and ``scores(x) -> (batch, K)``.
    """

    rule_name = ""
    config_class: type = object
    flatten_input = True  # False: image inputs (N, 1, H, W), for convolutional nets

    def _setup(self) -> None:
        self.encode = ENCODERS[self.config.encoder]
        self.history: list[EpochRecord] = []

    def _inputs(self, ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(ds.to_float32(flatten=self.flatten_input), device=self.device)
        if not self.flatten_input:
            x = x.unsqueeze(1)  # (N, 1, H, W)
        y = torch.as_tensor(np.asarray(ds.labels, dtype=np.int64), device=self.device)
        return x, y

    def _encode(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.config.encoder == "rate":
            return self.encode(x, self.config.steps, gain=self.config.gain, generator=generator)
        return self.encode(x, self.config.steps)

    def _stream(self, x: torch.Tensor, generator: torch.Generator) -> SpikeStream:
        """The encoded batch as a :class:`snn.encoding.SpikeStream` (what the epoch loop and
        evaluation hand ``train_batch`` and ``scores``): every layer reads it a chunk of
        ``chunk_steps`` steps at a time, so memory does not grow with ``steps``; the same spikes
        as :meth:`_encode`."""
        return SpikeStream(x, self.config.steps, self.config.encoder, gain=self.config.gain,
                           generator=generator, chunk_steps=self.config.chunk_steps)

    def fit(self, train: Dataset, test: Dataset | None = None, epochs: int = 1, progress: bool = False,
            checkpoint: str | Path | None = None, resume: bool = False) -> list[EpochRecord]:
        """Train for ``epochs`` in total (counting a resumed run's earlier epochs); with
        ``checkpoint``, save after every epoch; ``resume=True`` continues from that file."""
        def start_epoch(epoch: int, _epochs: int) -> None:
            self._label_gen = torch.Generator(device=self.device).manual_seed(
                self.config.seed * 100_003 + epoch + 7_919)

        return fit_epochs(self, train, test, epochs, progress, checkpoint, resume, start_epoch,
                          correct=self._correct, name=self.rule_name)

    def _correct(self, scores: torch.Tensor, y: torch.Tensor) -> int:
        return int((scores.argmax(1) == y).sum())

    @torch.no_grad()
    def evaluate(self, ds: Dataset, batch_size: int = 500) -> float:
        """Test accuracy on ``ds`` (encoder noise seeded, so repeated calls agree)."""
        return evaluate_accuracy(self, ds, batch_size, lambda x, _gen: self.scores(x))

    def save(self, path: str | Path) -> Path:
        """Weights, optimiser state, configuration and history, written atomically (HDF5)."""
        arrays = module_arrays(self.modules)
        opt = self.optimizer.state_dict()
        arrays.update(optimizer_arrays(opt))
        meta = {"rule": self.rule_name, "config": asdict(self.config), "param_groups": opt["param_groups"],
                "history": [asdict(r) for r in self.history]}
        return save_checkpoint(path, arrays, meta)

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save` for the same architecture."""
        arrays, meta = read_rule_checkpoint(path, self.rule_name)
        restore_module(self.modules, arrays, path)
        restore_optimizer(self.optimizer, arrays, meta["param_groups"])
        known = {f.name for f in fields(self.config_class)}
        self.config = self.config_class(**{k: v for k, v in meta["config"].items() if k in known})
        self.history = [EpochRecord(**r) for r in meta["history"]]




def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is unknown; choose from {', '.join(choices)}")
    return value


def check_positive(name: str, value: float) -> float:
    """A finite, strictly positive float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


# -- forward-forward ------------------------------------------------------------------------
@dataclass
class FFConfig:
    """Hyper-parameters of forward-forward (see the module docstring)."""

    steps: int = 1
    encoder: str = "direct"
    gain: float = 1.0
    batch_size: int = 32
    lr: float | None = None      # Adam, hidden layers; default 1e-2 (label) / 1e-3 (none)
    readout_lr: float = 3e-3     # Adam, linear read-out
    seed: int = 0
    negatives: str = "label"     # "label": wrong-label negatives; "none": single-forward prototypes
    label_input: str = "append"  # "append" K label inputs, or "overwrite" the first K inputs (Hinton)
    goodness: str = "count"      # spiking layers: "count" (firing rate) or "membrane"
    loss: str = "threshold"      # "threshold": logistic on G - theta; "symmetric": on G+ - G-
    theta: float = 2.0           # goodness threshold (on the mean of squares)
    alpha: float = 1.0           # sharpness of the logistic: sigmoid(alpha (G - theta)) or (G+ - G-)
    temperature: float = 1.0     # negatives="none": prototype logits are q_x . q_c / temperature
    inference: str | None = None  # "goodness" / "prototype" (default, by negatives) or "readout"
    chunk_steps: int = 5         # spiking layers: steps per autograd chunk

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_int("chunk_steps", self.chunk_steps, minimum=1)
        check_choice("encoder", self.encoder, tuple(ENCODERS))
        check_choice("negatives", self.negatives, ("label", "none"))
        check_choice("label_input", self.label_input, ("append", "overwrite"))
        check_choice("goodness", self.goodness, QUANTITIES)
        check_choice("loss", self.loss, ("threshold", "symmetric"))
        if self.lr is None:
            self.lr = 1e-2 if self.negatives == "label" else 1e-3
        for name in ("lr", "readout_lr", "temperature", "alpha"):
            check_positive(name, getattr(self, name))
        if not np.isfinite(self.theta):
            raise ValueError(f"theta must be finite, got {self.theta}")
        if self.inference is None:
            self.inference = "goodness" if self.negatives == "label" else "prototype"
        allowed = ("goodness", "readout") if self.negatives == "label" else ("prototype", "readout")
        if self.inference not in allowed:
            raise ValueError(f"inference={self.inference!r} does not go with negatives={self.negatives!r}; "
                             f"choose from {', '.join(allowed)}")


@register("ff")
class ForwardForward(LocalTrainer):
    """Forward-forward on a stack of hidden layers (``Dense`` ReLU or spiking ``Linear``), with
    a linear read-out on their detached activities; see the module docstring.

    ``layers``: the hidden layers, in order; ``n_classes``: K. With ``negatives="label"`` the
    first layer takes ``n_in + K`` inputs (``label_input="append"``) or ``n_in``
    (``"overwrite"``, needs ``n_in >= K``).
    """

    rule_name = "ff"
    config_class = FFConfig
    data_parallel = True  # rules.distributed: every update is an optimiser step on batch-mean gradients

    def __init__(self, layers: list[nn.Module], n_classes: int, config: FFConfig | None = None,
                 device: str = "cpu") -> None:
        self.config = config if config is not None else FFConfig()
        if not isinstance(self.config, FFConfig):
            raise TypeError("config must be an FFConfig")
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one hidden layer")
        for layer in layers:
            if not hasattr(layer, "weight") or layer.weight.dim() != 2:
                raise TypeError(f"forward-forward trains Dense or spiking Linear layers, got {layer!r}")
            if isinstance(layer, SpikingLayer) and not layer.spiking:
                raise ValueError("hidden layers must spike (an LI read-out has no goodness); "
                                 "use LIF or another spiking model")
        self.device = device
        self.layers = nn.ModuleList(layers)
        n_in = self.layers[0].weight.shape[1]
        if self.config.negatives == "label" and self.config.label_input == "overwrite" and n_in < n_classes:
            raise ValueError(f"label_input='overwrite' needs at least n_classes={n_classes} inputs, "
                             f"the first layer has {n_in}")
        self.n_in = n_in - (n_classes if self.config.negatives == "label"
                            and self.config.label_input == "append" else 0)
        self.scan = list(range(1, len(layers))) if len(layers) > 1 else [0]
        width = sum(self.layers[i].weight.shape[0] for i in self.scan)
        gen = torch.Generator().manual_seed(self.config.seed + 1)
        self.readout = nn.Linear(width, n_classes)
        self.modules = nn.ModuleDict({"layers": self.layers, "readout": self.readout})
        self.modules.register_buffer("class_inputs", torch.rand(n_classes, self.n_in, generator=gen))
        self.modules.to(device)
        self.spiking = any(isinstance(m, SpikingLayer) for m in self.layers)
        self.optimizer = torch.optim.Adam([
            {"params": list(self.layers.parameters()), "lr": self.config.lr},
            {"params": list(self.readout.parameters()), "lr": self.config.readout_lr}])
        self._label_gen = torch.Generator(device=device).manual_seed(self.config.seed * 100_003 + 7_919)
        self._setup()

    @classmethod
    def build(cls, sizes: list[int], *, steps: int = 25, encoder: str = "rate", seed: int = 0,
              device: str = "cpu", spiking: bool = True, beta: float = 0.9, **options) -> ForwardForward:
        """FF on hidden layers ``sizes[1:-1]`` for ``sizes[0]`` inputs and ``K = sizes[-1]``
        classes (``[784, 500, 10]``: one hidden layer of 500 and a 500-10 linear read-out).
        ``spiking=True``: LIF (``LIF.from_beta(beta)``) layers over ``steps`` of ``encoder``;
        ``spiking=False``: ReLU ``Dense`` layers on one step of the ``direct`` encoder.
        ``options`` go to :class:`FFConfig` (``theta`` / ``alpha`` default to 2.0 / 1.0 for ReLU
        layers and 0.1 / 20 for spiking ones, whose goodness is on rates per step, <= 1; ``lr``
        to 1e-2 for spiking layers, else as :class:`FFConfig`; ``negatives`` to ``"none"`` for
        spiking layers, where wrong-label negatives learn poorly on MNIST)."""
        from snn.layers import Dense, Linear
        from snn.models import LIF

        sizes = [int(s) for s in sizes]
        if len(sizes) < 3 or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must be [inputs, hidden..., classes] with at least one hidden "
                             f"layer, got {sizes}")
        if not spiking:
            steps, encoder = 1, "direct"
        options.setdefault("theta", 0.1 if spiking else 2.0)
        options.setdefault("alpha", 20.0 if spiking else 1.0)
        if spiking:
            options.setdefault("lr", 1e-2)
            # Wrong-label negatives reach 36% on MNIST-10k spiking (2 epochs), the
            # negative-free variant 90.4%: spiking layers default to it.
            options.setdefault("negatives", "none")
        config = FFConfig(steps=steps, encoder=encoder, seed=seed, **options)
        k = sizes[-1]
        extra = k if config.negatives == "label" and config.label_input == "append" else 0
        torch.manual_seed(seed)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-2], sizes[1:-1], strict=True)):
            a = a + (extra if i == 0 else 0)
            layers.append(Linear(a, b, LIF.from_beta(beta)) if spiking else Dense(a, b, activation="relu"))
        return cls(layers, k, config, device=device)

    # -- inputs ---------------------------------------------------------------------------
    def embed(self, x: Steps, label: torch.Tensor | None) -> Steps:
        """``x`` (T, batch, n_in) with the label written in: one-hot rows of ``label`` (batch,),
        or ``1/K`` everywhere when ``label`` is None (the neutral label of the read-out); a
        stream stays a stream, labelled chunk by chunk."""
        steps, batch = x.shape[:2]
        k = self.n_classes
        if label is None:
            code = torch.full((batch, k), 1.0 / k, device=x.device, dtype=x.dtype)
        else:
            code = torch.nn.functional.one_hot(label, k).to(x.dtype)
        binary = is_binary(x) and label is not None

        def labelled(chunk: torch.Tensor) -> torch.Tensor:
            codes = code.unsqueeze(0).expand(chunk.shape[0], batch, k)
            if self.config.label_input == "append":
                return torch.cat([chunk, codes], dim=2)
            return torch.cat([codes, chunk[..., k:]], dim=2)

        if isinstance(x, torch.Tensor):
            out = labelled(x)
            return mark_binary(out) if binary else out
        width = x.shape[2] + (k if self.config.label_input == "append" else 0)
        return StepSequence((steps, batch, width), x.dtype, x.device,
                            lambda size: (labelled(c) for c in step_chunks(x, size)), binary)

    def _class_batch(self, x: Steps) -> Steps:
        """The data ``x`` followed by the K class inputs (negative-free variant)."""
        gen = torch.Generator(device=self.device).manual_seed(self.config.seed + 3)
        if isinstance(x, torch.Tensor):
            classes = self._encode(self.modules.class_inputs, gen)
            out = torch.cat([x, classes], dim=1)
            return mark_binary(out) if is_binary(x) else out
        return cat_steps([x, self._stream(self.modules.class_inputs, gen)], dim=1)

    def _wrong_labels(self, y: torch.Tensor) -> torch.Tensor:
        from rules.distributed import per_sample

        shift = per_sample(lambda n: torch.randint(1, self.n_classes, (n,), generator=self._label_gen,
                                                   device=self.device), y.shape[0])
        return (y + shift) % self.n_classes

    # -- the objective of one layer --------------------------------------------------------
    def _objective(self, q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.negatives == "label":
            batch = y.shape[0]
            goodness = q.pow(2).mean(1)
            if cfg.loss == "symmetric":
                return torch.nn.functional.softplus(-cfg.alpha * (goodness[:batch] - goodness[batch:])).mean()
            logits = cfg.alpha * (goodness - cfg.theta)
            return (torch.nn.functional.softplus(-logits[:batch]).mean()
                    + torch.nn.functional.softplus(logits[batch:]).mean())
        return torch.nn.functional.cross_entropy(self._prototype_logits(q), y)

    def _prototype_logits(self, q: torch.Tensor) -> torch.Tensor:
        k = self.n_classes
        return q[:-k] @ q[-k:].t() / self.config.temperature

    def _pass(self, x: torch.Tensor, grad: bool):
        """Yields ``(layer index, input, output, q)`` of every layer on ``x`` (inputs detached);
        with ``grad``, ``q`` of a non-spiking layer has its graph and that of a spiking layer is
        a leaf that requires grad."""
        h = x
        for i, layer in enumerate(self.layers):
            h = h.detach() if isinstance(h, torch.Tensor) else h  # a sequence is computed without autograd
            if grad and not isinstance(layer, SpikingLayer):
                out = layer(dense_steps(h))
                q = out.mean(0)
            else:
                out, q = window_activity(layer, h, self.config.goodness, self.config.chunk_steps)
                if grad:
                    q = q.detach().requires_grad_(True)
            yield i, h, out, q
            h = rms_normalise(out.detach() if isinstance(out, torch.Tensor) else out, q.detach())

    def local_losses(self, x: torch.Tensor, y: torch.Tensor, stats: dict | None = None
                     ) -> Iterator[tuple[str, torch.Tensor]]:
        """The training step's scalars ``(owner, term)``: each term's graph reaches only the
        parameters of ``owner`` (``"layers.<i>"`` or ``"readout"``); ``backward()`` each before
        asking for the next. ``stats`` (a dict), if given, receives the summed ``loss`` and the
        read-out or prototype ``scores`` of the batch."""
        cfg = self.config
        stats = stats if stats is not None else {}
        stats["loss"] = 0.0
        if cfg.negatives == "label":
            data = cat_steps([self.embed(x, y), self.embed(x, self._wrong_labels(y))], dim=1)
        else:
            data = self._class_batch(x)
            proto = 0.0
        features = []
        for i, h, _, q in self._pass(data, grad=True):
            loss = self._objective(q, y)
            stats["loss"] += float(loss.detach())
            spiking = isinstance(self.layers[i], SpikingLayer)
            windows = [(self.layers[i], h, q, cfg.goodness)] if spiking else []
            for term in local_gradients(loss, windows, cfg.chunk_steps, reaches_params=not spiking):
                yield f"layers.{i}", term
            if cfg.negatives == "none":
                proto = proto + torch.softmax(self._prototype_logits(q.detach()), 1)
                if i in self.scan:
                    features.append(rms_normalise(q.detach()[None], q.detach())[0][:-self.n_classes])
        if cfg.negatives == "label":
            with torch.no_grad():
                features = self._features(self.embed(x, None))
        else:
            features = torch.cat(features, 1)
        logits = self.readout(features)
        loss = torch.nn.functional.cross_entropy(logits, y)
        yield "readout", loss
        stats["scores"] = (logits.detach() if cfg.negatives == "label" else proto)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        for i, _, _, q in self._pass(x, grad=False):
            if i in self.scan:
                feats.append(rms_normalise(q[None], q)[0])
        return torch.cat(feats, 1)

    def train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every layer and the read-out on the encoded batch ``x``
        ``(T, batch, n_in)``; returns the summed layer losses and the batch's scores (read-out
        logits, or prototype probabilities for ``negatives="none"``)."""
        stats: dict = {}
        self.optimizer.zero_grad(set_to_none=True)
        for _, term in self.local_losses(x, y, stats):
            term.backward()
        self.optimizer.step()
        return torch.tensor(stats["loss"]), stats["scores"]

    @torch.no_grad()
    def scores(self, x: torch.Tensor, inference: str | None = None) -> torch.Tensor:
        """Class scores ``(batch, K)`` of the encoded batch ``x`` by ``inference`` (default: the
        configured one)."""
        inference = check_choice("inference", inference or self.config.inference,
                                 ("goodness", "prototype", "readout"))
        k = self.n_classes
        if inference == "readout":
            return self.readout(self._features(self.embed(x, None) if self.config.negatives == "label"
                                               else x))
        if inference == "prototype":
            if self.config.negatives != "none":
                raise ValueError("inference='prototype' needs negatives='none'")
            total = 0.0
            for _, _, _, q in self._pass(self._class_batch(x), grad=False):
                total = total + torch.softmax(self._prototype_logits(q), 1)
            return total
        if self.config.negatives != "label":
            raise ValueError("inference='goodness' needs negatives='label'")
        out = torch.zeros(x.shape[1], k, device=x.device)
        for c in range(k):
            label = torch.full((x.shape[1],), c, device=x.device, dtype=torch.long)
            for i, _, _, q in self._pass(self.embed(x, label), grad=False):
                if i in self.scan:
                    out[:, c] += q.pow(2).mean(1)
        return out

    @torch.no_grad()
    def evaluate(self, ds: Dataset, batch_size: int = 500, inference: str | None = None) -> float:
        """Test accuracy on ``ds`` by ``inference`` (default: the configured one)."""
        if inference is None:
            return super().evaluate(ds, batch_size)
        saved = self.config.inference
        self.config.inference = inference
        try:
            FFConfig.__post_init__(self.config)
            return super().evaluate(ds, batch_size)
        finally:
            self.config.inference = saved

    @torch.no_grad()
    def synaptic_ops(self, x: torch.Tensor, y: torch.Tensor | None = None) -> float:
        """Synaptic operations per sample of :meth:`train_batch` on the encoded ``x``
        (labels ``y``, default class 0): for every pass (positive and negative, or data and class
        inputs; the neutral read-out pass), input events x fan-out (spiking layers) or MACs
        (non-spiking), plus as many again for the weight-gradient accumulation of the trained
        passes (and, for spiking layers, once more for the second, per-step pass); the read-out's
        MACs twice (forward and update)."""
        y = torch.zeros(x.shape[1], dtype=torch.long, device=x.device) if y is None else y
        if self.config.negatives == "label":
            trained = cat_steps([self.embed(x, y), self.embed(x, self._wrong_labels(y))], dim=1)
            neutral = [self.embed(x, None)]
        else:
            trained, neutral = self._class_batch(x), []
        ops = 0.0
        for i, h, _, _ in self._pass(trained, grad=False):
            ops += input_ops(self.layers[i], h) * (3 if isinstance(self.layers[i], SpikingLayer) else 2)
        for data in neutral:
            for i, h, _, _ in self._pass(data, grad=False):
                ops += input_ops(self.layers[i], h)
        ops += 2 * self.readout.weight.numel() * x.shape[1]
        return ops / x.shape[1]


__all__ = ["FFConfig", "ForwardForward", "LocalTrainer", "input_ops", "local_gradients", "rms_normalise",
           "window_activity", "window_terms"]
