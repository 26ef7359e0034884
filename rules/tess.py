"""TESS: temporally and spatially local training of spiking networks (Apolinario, Roy and
Frenkel, IJCNN 2025; brief in ``shared/papers/tess.md``, official code ``mapolinario94/TESS``).

Every layer learns on its own at every time step. A synapse ``W_ij`` of a hidden layer keeps
the eligibility (``q`` presynaptic trace including the current input, ``p`` postsynaptic trace
of the secondary activation ``psi``)::

    q_j[t] = lam_pre q_j[t-1] + x_j[t]
    e_ij[t] = alpha_pre psi_i[t] q_j[t] + alpha_post p_i[t-1] x_j[t]
    p_i[t] = lam_post p_i[t-1] + psi_i[t]

and its update is ``G_ij += sum_batch m_i[t] e_ij[t]`` over the learning window, applied once per
batch by Adam (``G`` is a loss gradient: descent). The learning signal ``m = dL/do`` comes from
the layer's own spikes: ``z = avgpool_d(o[t])``, logits ``z B^T / d`` through a fixed square-wave
matrix ``B[c, k] = sign(sin(omega_c k))``, ``omega_c = linspace(50, 512, K)[c]``, and
``L = CE(logits / temperature, y)``. Bias gradients are ``sum_batch m psi`` (the official code).

The read-out learns at every step of the window too, with its input detached: an ``LI`` read-out
from the cross-entropy of its membrane ``v[t]``, whose exact gradient is carried forward by a
presynaptic trace with the read-out's own leak (``dv[t]/dW_ij = sum_k beta^(t-k) h_j[k]``); a
spiking ``LIF`` read-out is trained like a hidden layer whose basis is the identity (its neurons
are the classes: logits are its spikes). Prediction is the configured decoder, by default the
paper's ``argmax sum_t readout(t)`` (``mean_membrane``) for ``LI`` and the spike count for ``LIF``.

Only per-neuron state (membranes and traces) and parameter-sized accumulators live across
steps; nothing runs under autograd (``uses_autograd = False``), so training memory does not
grow with the number of steps and no gradient crosses layers or time.

Hidden layers may be ``LIF`` (``psi = 1 / (1 + psi_slope |v - theta|)^2``, the paper's linear-layer
secondary activation) or the probabilistic ``MetaNeuron`` (``psi = dp/dv = p (1 - p) / kappa``,
its straight-through derivative). A meta-neuron's learnable intrinsics (``beta = sigmoid(rho)``,
``v_thresh``, ``v_reset``, ``log kappa``) follow the same learning signal, ``sum_batch m ds/dphi``,
with ``ds/dphi`` carried forward by one trace per neuron and intrinsic (the reset uses the
detached spike, as TESS does), so they too are local in space and time.

Deviations from the paper, which trains a VGG: the network here is the fully connected
``rules.bptt.mlp`` that BPTT trains (its LIF constants beta = 0.9, threshold 1, bias, PyTorch's
default initialisation, no weight standardisation), so the two can be compared on the same
network; the LSG pools a dense layer's ``n`` spikes into ``lsg_features`` bins (default ``n``:
no pooling), the one-dimensional form of the paper's adaptive average pooling.

Backends: ``backend="torch"`` (CPU or GPU) or ``backend="numba"`` (CPU only; LIF hidden
layers, LI or LIF read-out): each step's forward pass, traces, learning signals and
accumulated updates run in the compiled kernels of :mod:`rules._numba_local`; Adam, the
decoders and evaluation stay in torch. In float64 (``dtype="float64"``) a batch's updates agree
with torch's to round-off (a test compares them and an epoch of training on digits).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from rules import register
from rules._numba_local import check_backend, tess_li_step, tess_lif_step
from rules.base import (
    EpochRecord,
    epoch_generator,
    evaluate_accuracy,
    fit_epochs,
    module_arrays,
    optimizer_arrays,
    read_rule_checkpoint,
    restore_module,
    restore_optimizer,
)
from rules.metrics import observe_spikes
from snn.checkpoint import save_checkpoint
from snn.datasets import Dataset
from snn.encoding import DECODERS, ENCODERS, SpikeStream
from snn.layers import Linear, RecurrentLinear, Sequential
from snn.models import LI, LIF, MetaNeuron
from snn.validate import check_int


@dataclass
class TESSConfig:
    """Hyper-parameters of a TESS run.

    ``factors`` are ``(lam_post, lam_pre, alpha_post, alpha_pre)`` (trace decays per step and the
    weights of the non-causal and causal eligibility terms); the default is the paper's CIFAR
    setting. ``window``: the last steps of each sequence that learn (``None``: all, as in every
    released run). ``lsg_features``: bins a hidden layer's spikes are pooled into for its
    learning signal (``None``: one per neuron). ``psi_slope``: slope of an LIF layer's secondary
    activation (1/V).

    ``lr`` and ``temperature`` differ from the paper's VGG runs (Adam 1e-3, temperature 1): on the
    fully connected network the learning-signal logits ``z B^T / d`` lie in [-1, 1], and with
    temperature 1 the softmax hardly depends on the layer's output; 0.02 and 5e-3 were chosen on
    the digits set (test accuracy 0.92 after 15 epochs with the paper's values, 0.97 after 30
    with these).

    ``backend``: ``"torch"`` (CPU or GPU) or ``"numba"`` (CPU only, LIF hidden layers): the
    training time loop's arithmetic runs in the compiled kernels of :mod:`rules._numba_local`
    (Adam, evaluation and the decoders stay in torch). ``dtype``: that of the network,
    its constants and state (``"float64"`` to compare the backends to round-off).

    ``lr_schedule``: the learning rate of each batch, from ``lr`` at the start of the run to its
    end (``schedule_epochs``, default: the ``epochs`` of the :meth:`TESS.fit` call; fix it when a
    run is resumed): ``"cosine"`` (``lr (1 + cos(pi f)) / 2`` at the fraction ``f`` of the run,
    the default), ``"step"`` (halved after each third) or ``"constant"``. The paper decays the
    rate too (ReduceLROnPlateau, factor 0.5, patience 5, over 200 epochs: it cannot act within
    a few epochs). A short run learns less with cosine (half the mean rate): a LIF read-out on
    digits after 3 epochs is at 0.42, 0.74 with ``"constant"``. Measured
    on MNIST 10k (first 8000 / last 2000, 784-500-10, rate, T = 25, batch 128, 5 epochs,
    ``examples/tess_vs_bptt.py``): test accuracy 0.9425 constant, 0.957 cosine (BPTT 0.961);
    10 epochs 0.9555 constant, 0.960 cosine (BPTT 0.972). Digits (64-128-10, batch 64, 30
    epochs): 0.9694 constant, 0.961 cosine (BPTT 0.9694; one test sample is 0.0028).
    """

    steps: int = 25
    encoder: str = "rate"
    gain: float = 1.0
    decoder: str | None = None  # default: "mean_membrane" for an LI read-out, else "count"
    lr: float = 5e-3
    batch_size: int = 128
    seed: int = 0
    factors: tuple[float, float, float, float] = (0.2, 0.5, 1.0, 1.0)
    psi_slope: float = 100.0
    temperature: float = 0.02
    window: int | None = None
    lsg_features: int | None = None
    lr_schedule: str = "cosine"
    schedule_epochs: int | None = None
    backend: str = "torch"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0)
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder {self.encoder!r} is unknown; choose from {', '.join(ENCODERS)}")
        if self.decoder is not None and self.decoder not in DECODERS:
            raise ValueError(f"decoder {self.decoder!r} is unknown; choose from {', '.join(DECODERS)}")
        for name in ("lr", "psi_slope", "temperature", "gain"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        factors = tuple(float(f) for f in self.factors)
        if len(factors) != 4 or not all(np.isfinite(factors)):
            raise ValueError("factors must be four finite numbers (lam_post, lam_pre, alpha_post, "
                             f"alpha_pre), e.g. (0.2, 0.5, 1.0, 1.0); got {self.factors!r}")
        if not (0.0 <= factors[0] < 1.0 and 0.0 <= factors[1] < 1.0):
            raise ValueError(f"the trace decays lam_post and lam_pre (factors[0:2]) must lie in [0, 1), "
                             f"got {factors[:2]}")
        self.factors = factors
        if self.window is not None:
            check_int("window", self.window, minimum=1)
        if self.lsg_features is not None:
            check_int("lsg_features", self.lsg_features, minimum=1)
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule {self.lr_schedule!r} is unknown; choose from "
                             f"{', '.join(LR_SCHEDULES)}")
        if self.schedule_epochs is not None:
            check_int("schedule_epochs", self.schedule_epochs, minimum=1)
        check_backend(self.backend, "cpu")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")

    def lr_at(self, progress: float) -> float:
        """The learning rate at ``progress`` = epochs done / scheduled epochs (0 at the start)."""
        progress = min(max(progress, 0.0), 1.0)
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1.0 + float(np.cos(np.pi * progress)))
        if self.lr_schedule == "step":
            return self.lr * 0.5 ** int(np.floor(progress * 3.0 + 1e-9))
        return self.lr


LR_SCHEDULES = ("constant", "cosine", "step")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def square_wave_basis(n_classes: int, features: int) -> torch.Tensor:
    """The fixed learning-signal matrix ``B[c, k] = sign(sin(omega_c k))`` of shape
    ``(n_classes, features)``, ``omega_c = linspace(50, 512, n_classes)[c]`` rad, evaluated in
    float32 on the CPU (as the reference) so it is identical on every device and run."""
    n_classes = check_int("n_classes", n_classes, minimum=1)
    features = check_int("features", features, minimum=1)
    omega = torch.linspace(50.0, 512.0, n_classes, dtype=torch.float32).unsqueeze(1)
    k = torch.arange(features, dtype=torch.float32).unsqueeze(0)
    return torch.sign(torch.sin(omega * k))


def _pooling(n: int, d: int) -> torch.Tensor:
    """Adaptive average pooling of ``n`` values into ``d`` bins as a ``(d, n)`` matrix (bin ``i``
    spans ``floor(i n / d)`` to ``ceil((i + 1) n / d)``)."""
    pool = torch.zeros(d, n)
    for i in range(d):
        lo, hi = (i * n) // d, -((-(i + 1) * n) // d)
        pool[i, lo:hi] = 1.0 / (hi - lo)
    return pool


def _steps_of(x: torch.Tensor | SpikeStream) -> Iterator[torch.Tensor]:
    """The time steps ``(batch, ...)`` of an encoded batch, read a chunk at a time from a
    :class:`snn.encoding.SpikeStream`."""
    chunks = x.chunks() if isinstance(x, SpikeStream) else (x,)
    for chunk in chunks:
        yield from chunk


class _OnlineDecoder:
    """A decoder of :data:`snn.encoding.DECODERS` computed step by step, so no output is kept
    across steps."""

    def __init__(self, name: str, steps: int) -> None:
        self.name, self.steps, self.acc = name, steps, None

    def update(self, out: torch.Tensor, k: int) -> None:
        if self.name in ("count", "mean_membrane"):
            self.acc = out.clone() if self.acc is None else self.acc + out
        elif self.name == "max_membrane":
            self.acc = out.clone() if self.acc is None else torch.maximum(self.acc, out)
        else:  # first_spike
            if self.acc is None:
                self.acc = torch.full_like(out, float(self.steps))
            self.acc = torch.where((out > 0) & (self.acc == self.steps), float(k), self.acc)

    def result(self) -> torch.Tensor:
        if self.name == "mean_membrane":
            return self.acc / self.steps
        return -self.acc if self.name == "first_spike" else self.acc


class _Layer:
    """What TESS keeps for one synaptic layer: its kind, constants and learning-signal map."""

    def __init__(self, layer: Linear, index: int, last: bool, n_classes: int, config: TESSConfig,
                 device) -> None:
        self.layer, self.index, self.last = layer, index, last
        model = layer.neuron
        where = f"layer {index} ({type(model).__name__})"
        dtype = DTYPES[config.dtype]
        self.consts = layer.impl.constants(model, layer.dt, device, dtype)
        if isinstance(model, MetaNeuron):
            if last:
                raise ValueError(f"{where}: the read-out must be LI or LIF; use meta-neurons in hidden "
                                 "layers (mlp(sizes, neuron='meta'))")
            self.kind = "meta"
        elif isinstance(model, LI) and last:
            self.kind = "li"
        elif type(model) is LIF:
            c = self.consts
            if not (isinstance(c["de"], float) and c["de"] == 0.0 and c["ke"] == 1.0):
                raise ValueError(f"{where}: TESS needs delta synapses (tau_syn_exc = tau_syn_inh = 0, as "
                                 "LIF.from_beta gives)")
            self.kind = "lif"
        else:
            raise ValueError(f"{where}: TESS trains LIF or MetaNeuron hidden layers and an LI or LIF "
                             "read-out; build the network with rules.bptt.mlp(sizes, neuron='lif' or "
                             "'meta', readout='li' or 'lif')")
        n = layer.out_features
        if self.kind == "li":
            self.signal = None
        elif last:
            if n != n_classes:
                raise ValueError(f"{where}: a spiking read-out needs one neuron per class ({n_classes}), "
                                 f"got {n}")
            self.signal = torch.eye(n, device=device, dtype=dtype)
        else:
            d = min(config.lsg_features or n, n)
            basis = square_wave_basis(n_classes, d)
            pool = torch.eye(n) if d == n else _pooling(n, d)
            self.signal = (basis @ pool / d).to(device=device, dtype=dtype)  # logits = o @ signal.T
        if self.kind == "meta":
            self.learned = tuple(layer.neuron_params)
            self.traced = tuple(name for name in self.learned if name != "log_kappa")

    def state_numel(self, batch: int, learn: bool) -> int:
        """Elements of the per-step state kept for a batch (membrane, traces)."""
        n_in, n = self.layer.in_features, self.layer.out_features
        if self.kind == "li":
            return batch * (n + (n_in if learn else 0))
        traces = (n_in + n) if learn else 0
        if self.kind == "meta" and learn:
            traces += n * len(self.traced)
        return batch * (n + traces)


@register("tess")
@dataclass
class TESS:
    """Train ``net`` (an ``rules.bptt.mlp`` network) with TESS; see the module docstring."""

    data_parallel = True  # rules.distributed: every update is an optimiser step on batch-mean gradients
    net: Sequential
    config: TESSConfig = field(default_factory=TESSConfig)
    device: str = "cpu"
    history: list[EpochRecord] = field(default_factory=list)

    uses_autograd: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not isinstance(self.net, Sequential):
            raise TypeError("net must be a snn.layers.Sequential, e.g. rules.bptt.mlp(sizes)")
        if not isinstance(self.config, TESSConfig):
            raise TypeError("config must be a rules.tess.TESSConfig")
        check_backend(self.config.backend, self.device)
        self.net.to(device=self.device, dtype=DTYPES[self.config.dtype])
        synaptic = list(self.net)
        for i, layer in enumerate(synaptic):
            if isinstance(layer, RecurrentLinear) or not isinstance(layer, Linear):
                raise TypeError(f"layer {i} is a {type(layer).__name__}: TESS trains feed-forward "
                                "snn.layers.Linear layers only; build the network with rules.bptt.mlp(sizes)")
        if len(synaptic) < 2:
            raise ValueError("TESS needs at least one hidden layer and a read-out, e.g. mlp([784, 500, 10])")
        n_classes = synaptic[-1].out_features
        self.layers = [_Layer(layer, i, i == len(synaptic) - 1, n_classes, self.config, self.device)
                       for i, layer in enumerate(synaptic)]
        if self.config.backend == "numba" and any(rule.kind == "meta" for rule in self.layers):
            raise ValueError("backend='numba' trains LIF hidden layers; use backend='torch' for "
                             "meta-neurons (mlp(sizes, neuron='meta'))")
        self.n_classes = n_classes
        self.decoder = self.config.decoder or ("mean_membrane" if self.layers[-1].kind == "li" else "count")
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.lr)
        self.noise = epoch_generator(self.config.seed + 1, 0, self.device)

    @classmethod
    def build(cls, sizes: list[int], *, steps: int = 25, encoder: str = "rate", seed: int = 0,
              device: str = "cpu", spiking: bool = True, neuron: str = "lif", readout: str = "li",
              beta: float = 0.9, **options) -> TESS:
        """TESS on ``mlp(sizes, neuron=neuron, readout=readout, beta=beta)``, the network
        ``BPTT.build(sizes)`` trains; ``neuron``: ``"lif"`` or ``"meta"`` (learnable intrinsics).
        ``options`` go to :class:`TESSConfig`."""
        from rules.bptt import mlp

        if not spiking:
            raise ValueError("TESS trains spiking networks only; spiking=False is not available for tess")
        if neuron not in ("lif", "meta"):
            raise ValueError(f"neuron={neuron!r} is not available for TESS; choose 'lif' or 'meta'")
        torch.manual_seed(seed)
        net = mlp(sizes, neuron=neuron, readout=readout, beta=beta)
        return cls(net, TESSConfig(steps=steps, encoder=encoder, seed=seed, **options), device=device)

    # -- data -------------------------------------------------------------------------------
    def _inputs(self, ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(ds, Dataset):
            raise TypeError(f"expected a snn.datasets.Dataset, got {type(ds).__name__}")
        x = torch.as_tensor(ds.to_float32(), device=self.device)
        if x.shape[1] != self.layers[0].layer.in_features:
            raise ValueError(f"the data set has {x.shape[1]} input features but the network expects "
                             f"{self.layers[0].layer.in_features}")
        y = torch.tensor(np.asarray(ds.labels, dtype=np.int64), device=self.device)
        if len(y) and int(y.max()) >= self.n_classes:
            raise ValueError(f"labels go up to {int(y.max())} but the read-out has {self.n_classes} "
                             "neurons; use one read-out neuron per class")
        return x, y

    def _stream(self, x: torch.Tensor, generator: torch.Generator) -> SpikeStream:
        """The encoded batch as a :class:`snn.encoding.SpikeStream` (what the epoch loop and
        evaluation hand the time loop: it reads the input a chunk of steps at a time, so the
        input's memory does not grow with ``steps``); the same spikes as :meth:`_encode`."""
        return SpikeStream(x, self.config.steps, self.config.encoder, gain=self.config.gain,
                           generator=generator, dtype=DTYPES[self.config.dtype])

    def _encode(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The whole encoded batch ``(T, batch, ...)``."""
        return self._stream(x, generator).dense()

    def _check_batch(self, x: torch.Tensor | SpikeStream, y: torch.Tensor | None) -> None:
        if x.dim() != 3 or x.shape[-1] != self.layers[0].layer.in_features:
            raise ValueError(f"x must be an encoded batch of shape (T, batch, "
                             f"{self.layers[0].layer.in_features}), got {tuple(x.shape)}")
        if y is not None and (y.dim() != 1 or y.shape[0] != x.shape[1]):
            raise ValueError(f"y must hold one label per sample ({x.shape[1]}), got shape {tuple(y.shape)}")

    # -- the time loop ----------------------------------------------------------------------
    @torch.no_grad()
    def _run(self, x: torch.Tensor | SpikeStream, y: torch.Tensor | None, learn: bool,
             generator: torch.Generator, count: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Step ``x`` (a tensor or a stream) through the network; with ``learn``, accumulate
        every layer's local update in the parameters' ``.grad``. Returns the read-out loss (mean
        over the window), the decoded scores and (with ``count``) the number of nonzero inputs
        each layer received. Each layer's synaptic input goes through ``layer.synapses`` and its
        spikes through :func:`rules.metrics.observe_spikes`, so the NeuroBench metrics see them."""
        steps, batch = x.shape[:2]
        window_start = steps - min(self.config.window or steps, steps)
        lam_post, lam_pre, a_post, a_pre = self.config.factors
        onehot = torch.nn.functional.one_hot(y, self.n_classes).to(x.dtype) if learn else None
        states = [self._initial(rule, batch, x, learn) for rule in self.layers]
        decoder = _OnlineDecoder(self.decoder, steps)
        loss = torch.zeros((), dtype=x.dtype, device=x.device)
        events = [0] * len(self.layers)
        for k, h in enumerate(_steps_of(x)):
            learning = learn and k >= window_start
            for n, (rule, st) in enumerate(zip(self.layers, states, strict=True)):
                if count:
                    events[n] += int(torch.count_nonzero(h))
                h, part = self._step(rule, st, h, onehot, learn, learning, lam_post, lam_pre, a_post,
                                     a_pre, generator)
                if rule.last:
                    loss = loss + part
            decoder.update(h, k)
        return loss / max(steps - window_start, 1), decoder.result(), events

    def _initial(self, rule: _Layer, batch: int, x: torch.Tensor | SpikeStream, learn: bool) -> dict:
        layer = rule.layer
        like = {"dtype": x.dtype, "device": x.device}
        zeros = torch.zeros(batch, layer.out_features, **like)
        st: dict[str, torch.Tensor] = {}
        if rule.kind == "li":
            st["v"] = zeros
        else:
            st.update(layer.impl.initial_state(layer.neuron, zeros))
        if learn:
            st["q"] = torch.zeros(batch, layer.in_features, **like)
            if rule.kind == "li":
                st["r"] = torch.zeros((), **like)
            else:
                st["p"] = zeros.clone()
            if rule.kind == "meta":
                for name in rule.traced:
                    st["d_" + name] = zeros.clone()
        return st

    def _step(self, rule: _Layer, st: dict, h: torch.Tensor, onehot, learn: bool, learning: bool,
              lam_post: float, lam_pre: float, a_post: float, a_pre: float,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        layer, c = rule.layer, rule.consts
        W, b = layer.weight, layer.bias
        current = layer.synapses(h.unsqueeze(0))[0]  # h @ W.T + b
        if learn:
            st["q"] = st["q"] * (lam_pre if rule.kind != "li" else c["em"]) + h
        if rule.kind == "li":
            v = st["v"] * c["em"] + current
            st["v"] = v
            if not learning:
                return v, v.new_zeros(())
            st["r"] = st["r"] * c["em"] + 1.0
            delta = (torch.softmax(v, 1) - onehot) / v.shape[0]  # dCE/dv (mean over the batch)
            W.grad.addmm_(delta.t(), st["q"])
            if b is not None:
                b.grad.add_(delta.sum(0) * st["r"])
            ce = -(torch.log_softmax(v, 1) * onehot).sum(1).mean()
            return v, ce
        u_prev = st["u"]
        if rule.kind == "lif":
            thr, v_reset = c["v_thresh"], c["v_reset"]
            v = u_prev * c["em"] + c["c0"] + current
            o = (v > thr).to(v.dtype)
            psi = 1.0 / (self.config.psi_slope * (v - thr).abs() + 1.0) ** 2 if learn else None
            st["u"] = v - o * (thr - v_reset) if c["subtract"] else torch.where(o > 0, v_reset, v)
        else:
            params = dict(layer.neuron_params)
            consts = dict(c, generator=generator)
            o, new = layer.impl.step(layer.neuron, consts, current, {"u": u_prev}, None, True, params)
            beta, thr, v_reset, kappa = layer.impl.intrinsics(c, params)
            v, prob = new["v"], new["p"]
            psi = prob * (1.0 - prob) / kappa if learn else None
            st["u"] = new["u"]
        observe_spikes(layer, o)
        ce = v.new_zeros(())
        if learning:
            logits = o @ rule.signal.t() / self.config.temperature
            ce = -(torch.log_softmax(logits, 1) * onehot).sum(1).mean()
            delta = (torch.softmax(logits, 1) - onehot) / (o.shape[0] * self.config.temperature)
            m = delta @ rule.signal  # dL/do of every neuron
            mpsi = m * psi
            if a_pre != 0.0:
                W.grad.addmm_(mpsi.t(), st["q"], alpha=a_pre)
            if a_post != 0.0:
                W.grad.addmm_((m * st["p"]).t(), h, alpha=a_post)
            if b is not None:
                b.grad.add_(mpsi.sum(0))
            if rule.kind == "meta":
                self._intrinsics(rule, st, m, psi, v, o, u_prev, beta, thr, c)
        elif rule.kind == "meta" and learn:
            self._intrinsics(rule, st, None, psi, v, o, u_prev, beta, thr, c)
        if learn:
            st["p"] = st["p"] * lam_post + psi
        return o, ce

    @staticmethod
    def _intrinsics(rule: _Layer, st: dict, m, psi, v, o, u_prev, beta, thr, c) -> None:
        """Carry ``du/dphi`` forward for the meta-neuron's learned intrinsics and, when ``m`` is
        given, add ``sum_batch m ds/dphi`` to their gradients."""
        params = rule.layer.neuron_params
        keep = 1.0 if c["subtract"] else 1.0 - o
        for name in rule.learned:
            if name == "log_kappa":
                ds = -psi * (v - thr)
            else:
                dv = beta * st["d_" + name]
                if name == "beta_logit":
                    dv = dv + beta * (1.0 - beta) * (u_prev - c["v_rest"])
                ds = psi * (dv - 1.0) if name == "v_thresh" else psi * dv
                if c["subtract"]:
                    jump = -o if name == "v_thresh" else (o if name == "v_reset" else 0.0)
                else:
                    jump = o if name == "v_reset" else 0.0
                st["d_" + name] = keep * dv + jump
            if m is not None:
                grad = params[name].grad
                grad.add_((m * ds).sum(0).reshape(grad.shape))

    # -- training ---------------------------------------------------------------------------
    def fit(self, train: Dataset, test: Dataset | None = None, epochs: int = 1,
            progress: bool = False, checkpoint: str | Path | None = None,
            resume: bool = False) -> list[EpochRecord]:
        """Train for ``epochs`` (in total, counting a resumed run's earlier epochs)."""
        def start_epoch(epoch: int, _epochs: int) -> None:
            self.noise = epoch_generator(self.config.seed + 1, epoch, self.device)

        def before_batch(position: float, total: int) -> None:
            lr = self.config.lr_at(position / (self.config.schedule_epochs or total))
            for group in self.optimizer.param_groups:
                group["lr"] = lr

        return fit_epochs(self, train, test, epochs, progress, checkpoint, resume, start_epoch,
                          before_batch)

    def train_batch(self, x: torch.Tensor | SpikeStream,
                    y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One TESS step on the encoded batch ``x`` ``(T, batch, ...)`` (a tensor or a
        :class:`snn.encoding.SpikeStream`): accumulate every
        layer's local update over the window, then one Adam step. Returns the read-out loss and
        the decoded scores."""
        loss, scores = self.accumulate(x, y)
        self.optimizer.step()
        return loss, scores

    def accumulate(self, x: torch.Tensor | SpikeStream, y: torch.Tensor,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The local updates of one batch, left in the parameters' ``.grad`` (what
        :meth:`train_batch` hands to Adam); meta-neuron noise from ``generator`` (default: the
        run's own). Returns the read-out loss and the decoded scores."""
        self._check_batch(x, y)
        if int(y.max()) >= self.n_classes or int(y.min()) < 0:
            raise ValueError(f"labels must lie in 0..{self.n_classes - 1} (one read-out neuron per class)")
        for p in self.net.parameters():
            p.grad = torch.zeros_like(p)
        if self.config.backend == "numba":
            return self._accumulate_numba(x, y)
        loss, scores, _ = self._run(x, y, True, generator if generator is not None else self.noise)
        return loss, scores

    def _accumulate_numba(self, x: torch.Tensor | SpikeStream,
                          y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`accumulate` through the compiled per-step kernels (LIF hidden layers)."""
        dtype = DTYPES[self.config.dtype]
        steps, batch = x.shape[:2]
        window_start = steps - min(self.config.window or steps, steps)
        lam_post, lam_pre, a_post, a_pre = self.config.factors
        onehot = torch.nn.functional.one_hot(y.cpu(), self.n_classes).to(dtype).numpy()
        npd = np.dtype(str(dtype).removeprefix("torch."))
        dummy = np.zeros(1, dtype=npd)
        plan = []
        for rule in self.layers:
            layer, c = rule.layer, rule.consts
            n_in, n = layer.in_features, layer.out_features
            bias = layer.bias
            args = dict(w=layer.weight.detach().numpy(), gw=layer.weight.grad.numpy(),
                        bias=dummy if bias is None else bias.detach().numpy(),
                        gb=dummy if bias is None else bias.grad.numpy(), has_bias=bias is not None,
                        q=np.zeros((batch, n_in), dtype=npd), out=np.zeros((batch, n), dtype=npd))
            if rule.kind == "li":
                em = c["em"]
                if not isinstance(em, float):
                    raise ValueError("backend='numba' needs one leak shared by the LI read-out's neurons")
                args.update(v=np.zeros((batch, n), dtype=npd), r=np.zeros(1, dtype=npd), em=em)
            else:
                def per_neuron(value, n=n):
                    arr = value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)
                    return np.ascontiguousarray(np.broadcast_to(arr.astype(npd), (n,)))
                start = layer.impl.initial_state(layer.neuron, torch.zeros(batch, n, dtype=dtype))["u"]
                args.update(u=start.numpy().copy(), p=np.zeros((batch, n), dtype=npd),
                            signal=rule.signal.contiguous().numpy(), em=per_neuron(c["em"]),
                            c0=per_neuron(c["c0"]), thr=per_neuron(c["v_thresh"]),
                            v_reset=per_neuron(c["v_reset"]), subtract=bool(c["subtract"]))
            plan.append((rule, args))
        decoder = _OnlineDecoder(self.decoder, steps)
        loss = 0.0
        for k, step_input in enumerate(_steps_of(x)):
            h = step_input.to(dtype).contiguous().numpy()
            learning = k >= window_start
            for rule, a in plan:
                if rule.kind == "li":
                    part = tess_li_step(h, a["w"], a["bias"], a["has_bias"], a["v"], a["q"], a["r"],
                                        a["gw"], a["gb"], onehot, a["em"], learning)
                    h = a["v"]
                else:
                    part = tess_lif_step(h, a["w"], a["bias"], a["has_bias"], a["u"], a["q"], a["p"],
                                         a["gw"], a["gb"], a["signal"], onehot, a["em"], a["c0"],
                                         a["thr"], a["v_reset"], a["subtract"], lam_pre, lam_post,
                                         a_post, a_pre, float(self.config.psi_slope),
                                         float(self.config.temperature), learning, a["out"])
                    h = a["out"]
                if rule.last:
                    loss += part
            decoder.update(torch.from_numpy(h.copy()), k)
        return torch.tensor(loss / max(steps - window_start, 1), dtype=dtype), decoder.result()

    def state_bytes(self, batch: int, steps: int | None = None) -> int:
        """Bytes of the per-neuron state a training step on ``batch`` samples keeps across time
        steps (membranes and traces), for ``peak_training_bytes(..., state_bytes=...)``; the
        same for every ``steps``. The parameter-sized update accumulators are left out, as
        BPTT's gradients are."""
        return 4 * sum(rule.state_numel(batch, True) for rule in self.layers)

    def synaptic_ops(self, x: torch.Tensor | SpikeStream) -> float:
        """Synaptic operations of a training step on ``x`` per sample: nonzero inputs times
        fan-out, the eligibility terms accumulated per synapse and step of the window (the
        causal one for every synapse, the non-causal one per input event), the trace updates,
        and the update of every parameter, shared by the samples of the batch."""
        self._check_batch(x, None)
        steps, batch = x.shape[:2]
        window = min(self.config.window or steps, steps)
        _, _, events = self._run(x, None, False, torch.Generator(self.device).manual_seed(0), count=True)
        _, _, a_post, a_pre = self.config.factors
        total = 0.0  # over the batch
        for rule, ev in zip(self.layers, events, strict=True):
            n_in, n = rule.layer.in_features, rule.layer.out_features
            total += ev * n  # forward
            total += batch * steps * (n_in + n)  # pre and post traces
            if rule.kind == "li" or a_pre:
                total += batch * window * n_in * n  # causal term (the read-out's exact trace)
            if rule.kind != "li" and a_post:
                total += ev * window / steps * n  # non-causal term, per input event
            total += sum(p.numel() for p in rule.layer.parameters())  # the update, once a batch
        return total / batch if batch else 0.0

    @torch.no_grad()
    def evaluate(self, ds: Dataset, batch_size: int = 512) -> float:
        """Accuracy on ``ds`` (encoder and meta-neuron noise seeded, so repeated calls agree)."""
        return evaluate_accuracy(self, ds, batch_size, self.scores)

    def scores(self, x: torch.Tensor | SpikeStream, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoded read-out scores ``(batch, classes)`` of the encoded batch ``x``."""
        self._check_batch(x, None)
        gen = generator if generator is not None else torch.Generator(self.device).manual_seed(0)
        return self._run(x, None, False, gen)[1]

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Weights, intrinsics, optimiser state, configuration and history, written atomically."""
        arrays = module_arrays(self.net)
        opt = self.optimizer.state_dict()
        arrays.update(optimizer_arrays(opt))
        meta = {"rule": "tess", "config": asdict(self.config), "param_groups": opt["param_groups"],
                "history": [asdict(r) for r in self.history]}
        return save_checkpoint(path, arrays, meta)

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save` for the same architecture."""
        arrays, meta = read_rule_checkpoint(path, "tess")
        restore_module(self.net, arrays, path)
        restore_optimizer(self.optimizer, arrays, meta["param_groups"])
        # backend and dtype are this run's choices of how to compute, not the checkpoint's
        self.config = TESSConfig(**{**meta["config"], "backend": self.config.backend,
                                    "dtype": self.config.dtype})
        self.history = [EpochRecord(**r) for r in meta["history"]]


__all__ = ["TESS", "TESSConfig", "square_wave_basis"]
