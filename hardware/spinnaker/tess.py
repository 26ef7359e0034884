"""TESS on the emulated SpiNNaker cores: fixed-point eligibility traces and the fixed
square-wave learning signal, trained with the arithmetic a SpiNNaker 1 core can do.

The network is the one float TESS trains (:mod:`rules.tess`, ``rules.bptt.mlp``: LIF hidden
layers with delta synapses and subtractive reset, an ``LI`` or ``LIF`` read-out), built from
the same seed, fed the same encoded spikes in the same order. What changes is the arithmetic:

=====================  =================================================================
quantity               on the core
=====================  =================================================================
membrane ``v``         s16.15 (int32), sPyNNaker's closed-form LIF update
                       ``alpha = I R + v_rest; V = alpha - exp_TC (alpha - V)`` with rounded
                       s16.15 multiplies, ``exp_TC = expk(-dt/tau_m)`` in s16.15 and
                       ``R = 1 / (1 - exp_TC)`` (so one unit of input moves V by one unit,
                       as in the float network); then threshold ``V >= v_thresh`` (raw
                       compare), reset (by subtraction, as the float network; sPyNNaker's
                       IF_curr_exp resets to a value), no refractory period
weights                16-bit magnitude with the synapse type as sign (excitatory /
                       inhibitory ring buffer), value ``w 2^(r - 15)``; the per-layer shift
                       ``r`` follows sPyNNaker's ring-buffer rule for constant delays
                       (``fan_in x max_weight``, :func:`hardware.spinnaker.fixed.weight_shift`)
synaptic input         saturating uint16 ring-buffer sums per type, shifted left by ``r``
bias                   ``i_offset``, s16.15
trace decays           u0.32, ``decay(x) = (x d) >> 32`` (truncating, as ``decay_s1615``)
``q``, ``p``, ``psi``  the chosen trace format (default s4.11, int16, as sPyNNaker's STDP
                       traces), saturating
``psi``                ``1 / (1 + slope |v - theta|)^2`` by one integer division per neuron
                       and tick (the ARM968 has no divider: a software division)
learning signal        integer partial logits ``z = B o`` (B has entries -1, 0, +1), softmax
                       through ``expk`` and one division per class, ``delta`` and
                       ``m = B^T delta`` in s16.15
eligibility products   ``c = alpha m psi`` per neuron in s3.28 (int32), then
                       ``G_ij += c_i q_j`` per synapse, a 32 x 32 -> 64-bit multiply-accumulate
                       (exact); ``G`` is an int64 accumulator per synapse in SDRAM
weight update          once per batch: Adam in software single precision (``G`` converted
                       to float32), the new weight rounded to the weight LSB (stochastic,
                       uniforms from NumPy's PCG64 standing in for the core's JKISS32, or to
                       nearest), saturated to 16 bits
=====================  =================================================================

Mapping (what one core does per tick): a layer of ``n`` neurons is split into slices of
``neurons_per_core``; a core keeps its slice's membranes, biases, post traces ``p`` and a copy
of the presynaptic trace ``q`` of every input (it receives every input spike), so it can form
``G_ij`` for its rows without traffic. The learning signal needs the whole layer's spikes: each
core sends its partial logits (``K`` integers a tick, multicast with payload) to the layer's
learning-signal core, which returns ``delta`` (``K`` values). That round trip makes a core
apply the eligibility of tick ``t`` at tick ``t + 1``, from the ``q[t]``, ``x[t]``, ``psi[t]`` and
``p[t-1]`` it kept for one tick: the same sums, one tick later. Layers are pipelined one tick
apart (each projection has delay 1), so layer ``l`` runs step ``k`` of a sample at tick
``k + l``: the per-sample computation is the float network's step order. The samples of a
batch run one after another with the same weights; the emulation runs them side by side, which
gives the same integers, because every accumulation is an exact integer sum (only the
stochastic rounding's random numbers are drawn in another order than one core would).

:meth:`SpiNNakerTESS.resources` counts cores and the bytes of DTCM and SDRAM each core needs.
Measured accuracy, the cost of each format choice and memory per core: ``docs/spinnaker.md``
("TESS on chip"), ``benchmarks/spinnaker_tess.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from numba import njit

from hardware.spinnaker.fixed import (
    MAX_WEIGHT_SHIFT,
    RING_BUFFER_MAX,
    S1615_FRAC_BITS,
    S1615_MAX_RAW,
    S1615_MIN_RAW,
    decay_u032,
    encode_s1615,
    encode_weights,
    exp_s1615,
    weight_shift,
)
from hardware.spinnaker.machine import APP_CORES_PER_CHIP, DTCM_BYTES, SDRAM_USABLE_BYTES
from hardware.spinnaker.resources import (
    DTCM_RESERVED_BYTES,
    INPUT_QUEUE_LENGTH,
    WORDS_PER_NEURON,
    row_words,
)
from rules import register
from rules.base import EpochRecord, evaluate_accuracy, fit_epochs, read_rule_checkpoint
from rules.tess import TESS, TESSConfig, square_wave_basis
from snn.datasets import Dataset
from snn.models import LI, LIF
from snn.validate import check_int

#: Fractional bits of the per-neuron eligibility factor ``c = alpha m psi`` (s3.28 in int32).
C_FRAC = 28
S1615_FRAC = S1615_FRAC_BITS
NO_POST = np.zeros((0, 0), np.int64)


# -- number formats -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FixedFormat:
    """A signed fixed-point format ``s<int_bits>.<frac_bits>`` in a 16- or 32-bit word."""

    int_bits: int
    frac_bits: int

    @classmethod
    def parse(cls, spec: str) -> FixedFormat:
        """``"s4.11"`` -> ``FixedFormat(4, 11)``; the word must be 16 or 32 bits."""
        try:
            if not spec.startswith("s"):
                raise ValueError
            i, f = (int(part) for part in spec[1:].split("."))
        except (ValueError, AttributeError):
            raise ValueError(f"trace_format must look like 's4.11' or 's16.15', got {spec!r}") from None
        if 1 + i + f not in (16, 32) or i < 0 or f < 1:
            raise ValueError(f"trace_format {spec!r} must fill a 16- or 32-bit word (1 sign bit + "
                             "integer + fraction bits), e.g. 's4.11', 's2.13', 's16.15', 's8.23'")
        return cls(i, f)

    @property
    def bits(self) -> int:
        return 1 + self.int_bits + self.frac_bits

    @property
    def one(self) -> int:
        return 1 << self.frac_bits

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def __str__(self) -> str:
        return f"s{self.int_bits}.{self.frac_bits}"


def decay(x: np.ndarray, d: int) -> np.ndarray:
    """:func:`hardware.spinnaker.fixed.decay_s1615` on int64 arrays: ``(x d) >> 32`` for a u0.32
    factor ``d`` (floor), in any format."""
    return (x * d) >> 32


def mul_round(a, b) -> np.ndarray:
    """:func:`hardware.spinnaker.fixed.mul_s1615_round` on int64 arrays: s16.15 product rounded
    half up, saturated to int32."""
    return np.clip((a * b + (1 << (S1615_FRAC - 1))) >> S1615_FRAC, S1615_MIN_RAW, S1615_MAX_RAW)


def to_s1615(name: str, value) -> np.ndarray:
    """:func:`hardware.spinnaker.fixed.encode_s1615` as int64 (range error naming ``name``)."""
    return np.asarray(encode_s1615(name, value), dtype=np.int64)


def trace_decay(factor: float) -> int:
    """A trace's per-step decay ``factor`` in [0, 1) as the u0.32 the core computes,
    ``expulr(-dt/tau)`` with ``tau = -dt / ln(factor)``."""
    return 0 if factor == 0.0 else decay_u032(math.log(factor))


def requantise(x: np.ndarray, from_frac: int, to_frac: int) -> np.ndarray:
    """``x`` with ``from_frac`` fractional bits re-expressed with ``to_frac`` (rounded half up)."""
    if to_frac >= from_frac:
        return x << (to_frac - from_frac)
    shift = from_frac - to_frac
    return (x + (1 << (shift - 1))) >> shift


@njit(cache=True, nogil=True)
def ring_buffer_sums(spikes: np.ndarray, rows_exc: np.ndarray, rows_inh: np.ndarray):
    """The ring-buffer slots a tick's spikes fill: for every sample ``b`` and arriving spike of
    input ``j`` (in input order), row ``j`` of 16-bit weights of each synapse type is added to
    the uint16 slots with sPyNNaker's saturating add (``acc = slot + w``; bit 16 set: the slot
    becomes 0xFFFF and the add counts). ``spikes`` ``(batch, n_in)`` of 0/1, rows ``(n_in, n)``.
    Returns ``(exc, inh, saturations)``."""
    batch, n_in = spikes.shape
    n = rows_exc.shape[1]
    exc = np.zeros((batch, n), np.int64)
    inh = np.zeros((batch, n), np.int64)
    saturations = 0
    for b in range(batch):
        for j in range(n_in):
            if spikes[b, j] != 0:
                for i in range(n):
                    e = exc[b, i] + rows_exc[j, i]
                    if e > 0xFFFF:
                        e = 0xFFFF
                        saturations += 1
                    exc[b, i] = e
                    h = inh[b, i] + rows_inh[j, i]
                    if h > 0xFFFF:
                        h = 0xFFFF
                        saturations += 1
                    inh[b, i] = h
    return exc, inh, saturations


@njit(cache=True, nogil=True)
def accumulate_eligibility(g_rows: np.ndarray, q: np.ndarray, c_pre: np.ndarray, spikes: np.ndarray,
                           c_post: np.ndarray, frac_bits: int) -> None:
    """One tick of ``G`` in the synaptic rows ``g_rows`` ``(n_in, n)`` (int64): the causal term
    ``G_ji += q_j c_pre_i`` for every nonzero presynaptic trace, the non-causal term
    ``G_ji += c_post_i << frac_bits`` at every input spike, summed over the samples of the batch
    (exact 64-bit integer multiply-accumulates). Pass an empty ``c_post`` to skip the second."""
    batch, n_in = q.shape
    n = c_pre.shape[1]
    post = c_post.shape[0] > 0
    for j in range(n_in):
        for b in range(batch):
            qj = q[b, j]
            if qj != 0:
                for i in range(n):
                    g_rows[j, i] += qj * c_pre[b, i]
            if post and spikes[b, j] != 0:
                for i in range(n):
                    g_rows[j, i] += c_post[b, i] << frac_bits


def expk(x: np.ndarray) -> np.ndarray:
    """``exp`` of an s16.15 argument as s16.15 (stdfix ``expk``), correctly rounded, for the
    non-positive arguments the softmax passes it."""
    return np.rint(np.exp(x * 2.0**-S1615_FRAC) * 2.0**S1615_FRAC).astype(np.int64)


def softmax_s1615(z: np.ndarray) -> np.ndarray:
    """Row softmax of s16.15 logits as s16.15: ``expk(z - max z)``, their sum, and one rounded
    division per class."""
    e = expk(z - z.max(axis=1, keepdims=True))
    total = e.sum(axis=1, keepdims=True)
    return ((e << S1615_FRAC) + total // 2) // total


# -- configuration ------------------------------------------------------------------------------
ROUNDINGS = ("stochastic", "nearest")


@dataclass
class ChipConfig:
    """The on-chip choices of a TESS run on the emulated cores.

    ``trace_format``: format of the traces ``q``, ``p`` and of ``psi`` (``"s4.11"``, int16 as
    sPyNNaker's STDP traces, or any ``s<i>.<f>`` filling 16 or 32 bits, e.g. ``"s16.15"``).
    ``rounding``: how a new weight is rounded to the weight LSB (``"stochastic"`` or
    ``"nearest"``). ``max_weight``: the largest weight magnitude a layer is expected to reach
    (value units), the bound the ring-buffer shift is chosen for (one value or one per layer;
    default: 8 x the layer's largest initial weight; float TESS on digits reaches 5.5 x).
    ``weight_shift``: override the shift (one int or one per layer). ``neurons_per_core``:
    neurons a core simulates (sPyNNaker's default 256).
    """

    trace_format: str = "s4.11"
    rounding: str = "stochastic"
    max_weight: float | tuple[float, ...] | None = None
    weight_shift: int | tuple[int, ...] | None = None
    neurons_per_core: int = 256

    def __post_init__(self) -> None:
        FixedFormat.parse(self.trace_format)
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, got {self.rounding!r}")
        check_int("neurons_per_core", self.neurons_per_core, minimum=1)
        if self.neurons_per_core > 256:
            raise ValueError("neurons_per_core must be at most 256 (a synaptic row addresses 256 "
                             f"neurons), got {self.neurons_per_core}")

    def per_layer(self, name: str, n_layers: int) -> list | None:
        value = getattr(self, name)
        if value is None:
            return None
        values = list(value) if isinstance(value, (tuple, list)) else [value] * n_layers
        if len(values) != n_layers:
            raise ValueError(f"{name} must be one value or one per layer ({n_layers}), got {value!r}")
        for v in values:
            if name == "weight_shift":
                check_int("weight_shift", v, minimum=0)
                if v > MAX_WEIGHT_SHIFT:
                    raise ValueError(f"weight_shift must be at most {MAX_WEIGHT_SHIFT}, got {v}")
            elif not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"max_weight must be positive finite numbers, got {value!r}")
        return values


# -- the layers on the cores --------------------------------------------------------------------
class _ChipLayer:
    """One synaptic layer's integers: weights, bias, constants, learning-signal basis, the
    update accumulators and the optimiser state."""

    def __init__(self, layer, rule, index: int, config: TESSConfig, chip: ChipConfig,
                 shift: int | None, max_weight: float | None) -> None:
        model = layer.neuron
        self.index, self.last = index, rule.last
        self.kind = rule.kind
        where = f"layer {index} ({type(model).__name__})"
        if self.kind == "meta":
            raise ValueError(f"{where}: the chip trains LIF hidden layers; build with neuron='lif'")
        if isinstance(model, LIF) and float(np.max(model.tau_ref)) > 0:
            raise ValueError(f"{where}: no refractory period on the chip's TESS layers (tau_ref = 0)")
        if not isinstance(model, (LIF, LI)):
            raise ValueError(f"{where}: the chip trains LIF hidden layers and an LI or LIF read-out")
        w = layer.weight.detach().double().numpy()
        b = layer.bias.detach().double().numpy() if layer.bias is not None else None
        self.n, self.n_in = w.shape
        if shift is None:  # sPyNNaker's rule for constant delays: every input at max_weight at once
            bound = self.n_in * (max_weight if max_weight is not None else 8.0 * float(np.abs(w).max()))
            shift = weight_shift(bound)
        self.shift = shift
        self.lsb = 2.0 ** (shift - S1615_FRAC)
        if np.any(np.rint(np.abs(w) / self.lsb) > RING_BUFFER_MAX):
            raise ValueError(f"{where}: initial weights up to {np.abs(w).max():g} do not fit 16 bits at "
                             f"weight_shift {shift} (sPyNNaker would wrap them); raise weight_shift")
        self.w = np.sign(w).astype(np.int64) * encode_weights(w, shift).astype(np.int64)
        self.has_bias = b is not None
        self.b = to_s1615(f"{where} bias", b if b is not None else np.zeros(self.n))
        tau = np.asarray(model.tau_m, dtype=np.float64)
        if tau.size != 1:
            raise ValueError(f"{where}: the chip needs one tau_m per layer")
        beta = float(np.exp(-layer.dt / float(tau)))
        self.exp_tc = exp_s1615(-layer.dt / float(tau))  # expk(-dt/tau_m), computed on the core
        self.r_mem = int(to_s1615(f"{where} R", 1.0 / (1.0 - self.exp_tc * 2.0**-S1615_FRAC)))
        self.em_u032 = trace_decay(beta)  # the LI read-out's trace decay
        if self.kind == "lif":
            thr, v_reset, v_rest = (np.asarray(getattr(model, name), dtype=np.float64)
                                    for name in ("v_thresh", "v_reset", "v_rest"))
            if thr.size != 1 or v_reset.size != 1 or v_rest.size != 1:
                raise ValueError(f"{where}: the chip needs one threshold, reset and rest per layer")
            self.theta = int(to_s1615(f"{where} v_thresh", float(thr)))
            self.v_reset = int(to_s1615(f"{where} v_reset", float(v_reset)))
            self.subtract = model.reset == "subtract"
            self.v_rest = int(to_s1615(f"{where} v_rest", float(v_rest)))
            if self.last:
                self.basis, self.lsg_scale = np.eye(self.n, dtype=np.int64), 1.0 / config.temperature
            else:
                if config.lsg_features not in (None, self.n):
                    raise ValueError("lsg_features: the chip's learning signal uses one feature per "
                                     "neuron (lsg_features=None)")
                self.basis = square_wave_basis(rule.signal.shape[0], self.n).numpy().astype(np.int64)
                self.lsg_scale = 1.0 / (self.n * config.temperature)
            # s16.15 factor turning integer logits into the softmax argument
            self.logit_step = int(to_s1615("1 / (features x temperature)", self.lsg_scale))
            self.slope = int(to_s1615("psi_slope", config.psi_slope))
        else:
            self.v_rest = 0
        self.adam_w = [np.zeros(self.w.shape, np.float32), np.zeros(self.w.shape, np.float32)]
        self.adam_b = [np.zeros(self.n, np.float32), np.zeros(self.n, np.float32)]
        self.adam_steps = 0

    def weight_values(self) -> np.ndarray:
        """The weights in value units (float64)."""
        return self.w * self.lsb

    def bias_values(self) -> np.ndarray:
        return self.b * 2.0**-S1615_FRAC


@dataclass
class Saturations:
    """Times a value hit the end of its range, per layer (sPyNNaker counts the ring-buffer
    ones as ``Times_synaptic_weights_have_saturated``)."""

    ring_buffer: list[int]
    membrane: list[int]
    trace: list[int]
    weight: list[int]
    bias: list[int]

    @classmethod
    def zeros(cls, n: int) -> Saturations:
        return cls(*([0] * n for _ in range(5)))

    def total(self) -> int:
        return sum(sum(v) for v in asdict(self).values())


@register("tess-spinnaker")
@dataclass
class SpiNNakerTESS:
    """TESS trained on the emulated SpiNNaker cores (see the module docstring). Built like
    float TESS (same network, seed, configuration), with the on-chip choices in ``chip``."""

    reference: TESS
    chip: ChipConfig = field(default_factory=ChipConfig)
    history: list[EpochRecord] = field(default_factory=list)

    uses_autograd: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not isinstance(self.reference, TESS):
            raise TypeError("reference must be the float rules.tess.TESS whose network and "
                            "configuration the chip trains (SpiNNakerTESS.build makes one)")
        if not isinstance(self.chip, ChipConfig):
            raise TypeError("chip must be a hardware.spinnaker.tess.ChipConfig")
        self.config: TESSConfig = self.reference.config
        if self.config.encoder == "direct":
            raise ValueError("encoder 'direct' feeds analog values; the chip's inputs are spikes "
                             "(use encoder='rate' or 'latency')")
        self.device = "cpu"
        self.format = FixedFormat.parse(self.chip.trace_format)
        rules_ = self.reference.layers
        shifts = self.chip.per_layer("weight_shift", len(rules_)) or [None] * len(rules_)
        bounds = self.chip.per_layer("max_weight", len(rules_)) or [None] * len(rules_)
        self.layers = [_ChipLayer(rule.layer, rule, i, self.config, self.chip, shifts[i], bounds[i])
                       for i, rule in enumerate(rules_)]
        self.n_classes = self.reference.n_classes
        self.decoder = self.reference.decoder
        if self.decoder not in ("mean_membrane", "count"):
            raise ValueError("the chip decodes with 'mean_membrane' (LI read-out) or 'count' (LIF "
                             f"read-out), got decoder={self.decoder!r}")
        self.saturations = Saturations.zeros(len(self.layers))
        self.rng = np.random.default_rng([self.config.seed, 0x5EED])
        self._lr = self.config.lr
        self._last_batch = 0

    @classmethod
    def build(cls, sizes: list[int], *, steps: int = 25, encoder: str = "rate", seed: int = 0,
              device: str = "cpu", spiking: bool = True, readout: str = "li", beta: float = 0.9,
              chip: ChipConfig | None = None, **options) -> SpiNNakerTESS:
        """The chip run of ``TESS.build(sizes, ...)`` (same network and initial weights);
        ``options`` go to :class:`rules.tess.TESSConfig`, ``chip`` holds the on-chip choices."""
        if device != "cpu":
            raise ValueError("the SpiNNaker emulator runs on the CPU; use device='cpu'")
        reference = TESS.build(sizes, steps=steps, encoder=encoder, seed=seed, spiking=spiking,
                               neuron="lif", readout=readout, beta=beta, **options)
        return cls(reference, chip if chip is not None else ChipConfig())

    # -- data -----------------------------------------------------------------------------------
    def _inputs(self, ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        return self.reference._inputs(ds)

    def _encode(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.reference._encode(x, generator)

    def _spikes(self, x: torch.Tensor) -> np.ndarray:
        if x.dim() != 3 or x.shape[-1] != self.layers[0].n_in:
            raise ValueError(f"x must be an encoded batch of shape (T, batch, {self.layers[0].n_in}), "
                             f"got {tuple(x.shape)}")
        xs = x.detach().cpu().numpy()
        if not np.all((xs == 0) | (xs == 1)):
            raise ValueError("the chip's inputs are spikes: x must hold only 0 and 1 (rate encoder "
                             "with gain x pixel <= 1, or latency)")
        return xs.astype(np.int64)

    # -- the time loop --------------------------------------------------------------------------
    def _run(self, x: torch.Tensor, y: torch.Tensor | None, learn: bool) -> tuple[float, np.ndarray]:
        """Step the encoded batch through the cores; with ``learn``, accumulate every layer's
        ``G``. Returns the read-out loss (mean over the window, host-side bookkeeping) and the
        decoded scores."""
        xs = self._spikes(x)
        steps, batch = xs.shape[:2]
        window_start = steps - min(self.config.window or steps, steps)
        fmt = self.format
        lam_post, lam_pre, a_post, a_pre = self.config.factors
        d_pre, d_post = trace_decay(lam_pre), trace_decay(lam_post)
        alpha_pre, alpha_post = int(to_s1615("alpha_pre", a_pre)), int(to_s1615("alpha_post", a_post))
        onehot = None
        if learn:
            if int(y.max()) >= self.n_classes or int(y.min()) < 0:
                raise ValueError(f"labels must lie in 0..{self.n_classes - 1} (one read-out neuron "
                                 "per class)")
            onehot = np.eye(self.n_classes, dtype=np.int64)[y.cpu().numpy()] << S1615_FRAC
        sat = self.saturations
        states = []
        for L in self.layers:  # the weights stay fixed during a batch: rows by presynaptic neuron
            L.rows_exc = np.ascontiguousarray(np.maximum(L.w, 0).T)
            L.rows_inh = np.ascontiguousarray(np.maximum(-L.w, 0).T)
            st = {"v": np.full((batch, L.n), L.v_rest, np.int64)}
            if learn:
                st["q"] = np.zeros((batch, L.n_in), np.int64)
                st["G"] = np.zeros((L.n_in, L.n), np.int64)  # by rows, as the weights
                st["Gb"] = np.zeros(L.n, np.int64)
                if L.kind == "li":
                    st["r"] = 0
                else:
                    st["p"] = np.zeros((batch, L.n), np.int64)
            states.append(st)
        self._states = states
        scores = np.zeros((batch, self.n_classes), np.float64)
        loss = 0.0
        for k in range(steps):
            h = xs[k]
            learning = learn and k >= window_start
            for i, (L, st) in enumerate(zip(self.layers, states, strict=True)):
                # ring buffers: saturating uint16 sums of the arriving weights, per synapse type
                exc, inh, n_sat = ring_buffer_sums(h, L.rows_exc, L.rows_inh)
                sat.ring_buffer[i] += n_sat
                current = (exc - inh) << L.shift
                alpha = mul_round(current + L.b, L.r_mem) + L.v_rest
                v = alpha - mul_round(L.exp_tc, alpha - st["v"])
                sat.membrane[i] += int(np.count_nonzero((v > S1615_MAX_RAW) | (v < S1615_MIN_RAW)))
                v = np.clip(v, S1615_MIN_RAW, S1615_MAX_RAW)
                if learn:
                    q = decay(st["q"], L.em_u032 if L.kind == "li" else d_pre) + (h << fmt.frac_bits)
                    sat.trace[i] += int(np.count_nonzero(q > fmt.max))
                    st["q"] = q = np.minimum(q, fmt.max)
                if L.kind == "li":
                    st["v"] = v
                    if not learning:
                        out = v
                    else:
                        st["r"] = min(decay(st["r"], L.em_u032) + fmt.one, fmt.max)
                        delta = softmax_s1615(v) - onehot  # s16.15
                        accumulate_eligibility(st["G"], q, delta, h, NO_POST, 0)
                        st["Gb"] += delta.sum(0) * st["r"]
                        vf = v * 2.0**-S1615_FRAC
                        vf = vf - vf.max(1, keepdims=True)
                        logp = vf - np.log(np.exp(vf).sum(1, keepdims=True))
                        loss += float(-(logp * (onehot >> S1615_FRAC)).sum(1).mean())
                        out = v
                    scores += v * 2.0**-S1615_FRAC
                    h = out
                    continue
                o = (v >= L.theta).astype(np.int64)
                if learn:
                    a = np.minimum(2**S1615_FRAC + mul_round(L.slope, np.abs(v - L.theta)), S1615_MAX_RAW)
                    psi = ((1 << (2 * S1615_FRAC + fmt.frac_bits)) + (a * a) // 2) // (a * a)
                    psi = np.minimum(psi, fmt.max)
                if L.subtract:
                    st["v"] = v - o * (L.theta - L.v_reset)
                else:
                    st["v"] = np.where(o > 0, L.v_reset, v)
                if learning:
                    logits = (o @ L.basis.T) * L.logit_step  # s16.15
                    delta = softmax_s1615(logits) - onehot
                    m = delta @ L.basis  # s16.15, |m| <= 2
                    mpsi = m * psi  # 15 + F fractional bits
                    c_pre = requantise(mpsi * alpha_pre, 2 * S1615_FRAC + fmt.frac_bits, C_FRAC)
                    c_post = requantise(m * st["p"] * alpha_post, 2 * S1615_FRAC + fmt.frac_bits, C_FRAC)
                    accumulate_eligibility(st["G"], q, c_pre, h, c_post, fmt.frac_bits)
                    st["Gb"] += requantise(mpsi, S1615_FRAC + fmt.frac_bits, C_FRAC).sum(0)
                    if L.last:
                        lf = logits * 2.0**-S1615_FRAC
                        lf = lf - lf.max(1, keepdims=True)
                        logp = lf - np.log(np.exp(lf).sum(1, keepdims=True))
                        loss += float(-(logp * (onehot >> S1615_FRAC)).sum(1).mean())
                if learn:
                    p = decay(st["p"], d_post) + psi
                    sat.trace[i] += int(np.count_nonzero(p > fmt.max))
                    st["p"] = np.minimum(p, fmt.max)
                if L.last:
                    scores += o
                h = o
        if self.decoder == "mean_membrane":
            scores /= steps
        return loss / max(steps - window_start, 1), scores

    # -- the update -----------------------------------------------------------------------------
    def _gradients(self, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each layer's accumulated ``G`` as the float32 loss gradient of the float rule (what
        the core's software float sees after converting the int64 accumulators)."""
        grads = []
        frac = self.format.frac_bits
        for L, st in zip(self.layers, self._states, strict=True):
            if L.kind == "li":
                scale_w = 2.0 ** -(S1615_FRAC + frac) / batch
                scale_b = scale_w
            else:
                scale_w = 2.0 ** -(C_FRAC + frac) * L.lsg_scale / batch
                scale_b = 2.0**-C_FRAC * L.lsg_scale / batch
            grads.append(((st["G"].T * scale_w).astype(np.float32), (st["Gb"] * scale_b).astype(np.float32)))
        return grads

    def _round(self, y: np.ndarray) -> np.ndarray:
        if self.chip.rounding == "nearest":
            return np.floor(y + 0.5)
        u = self.rng.integers(0, 2**32, size=y.shape, dtype=np.uint64).astype(np.float64) * 2.0**-32
        return np.floor(y + u)

    def _apply(self, lr: float, batch: int) -> None:
        """One Adam step (software float32, torch's formula and defaults) per layer; new
        weights rounded to the weight LSB and saturated to 16 bits, biases to s16.15."""
        b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
        for i, (L, (gw, gb)) in enumerate(zip(self.layers, self._gradients(batch), strict=True)):
            L.adam_steps += 1
            t = L.adam_steps
            c1, c2 = 1.0 - 0.9**t, math.sqrt(1.0 - 0.999**t)
            steps = []
            for g, (m, v) in ((gw, L.adam_w), (gb, L.adam_b)):
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                steps.append(np.float32(lr / c1) * m / (np.sqrt(v) / np.float32(c2) + eps))
            w = self._round(L.w - steps[0].astype(np.float64) / L.lsb)
            self.saturations.weight[i] += int(np.count_nonzero(np.abs(w) > RING_BUFFER_MAX))
            L.w = np.clip(w, -RING_BUFFER_MAX, RING_BUFFER_MAX).astype(np.int64)
            if L.has_bias:
                b = self._round(L.b - steps[1].astype(np.float64) * 2.0**S1615_FRAC)
                self.saturations.bias[i] += int(np.count_nonzero((b > S1615_MAX_RAW) | (b < S1615_MIN_RAW)))
                L.b = np.clip(b, S1615_MIN_RAW, S1615_MAX_RAW).astype(np.int64)

    # -- the training contract ------------------------------------------------------------------
    def accumulate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run a batch with learning; every layer's ``G`` is left in the accumulators (read
        them as float gradients with :meth:`gradients`). Returns the loss and the scores."""
        if x.dim() == 3 and (y.dim() != 1 or y.shape[0] != x.shape[1]):
            raise ValueError(f"y must hold one label per sample ({x.shape[1]}), got shape {tuple(y.shape)}")
        self._last_batch = x.shape[1] if x.dim() == 3 else 0
        loss, scores = self._run(x, y, True)
        return torch.tensor(loss), torch.from_numpy(scores)

    def gradients(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The last :meth:`accumulate`'s updates per layer, ``(weight, bias)`` as float32 in the
        float rule's units (the ``.grad`` float TESS hands to Adam)."""
        return self._gradients(self._last_batch)

    def train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Accumulate a batch's local updates on the cores, then one update per layer."""
        loss, scores = self.accumulate(x, y)
        self._apply(self._lr, x.shape[1])
        return loss, scores

    def fit(self, train: Dataset, test: Dataset | None = None, epochs: int = 1,
            progress: bool = False) -> list[EpochRecord]:
        """Train for ``epochs`` with float TESS's batch order, encoder noise and learning-rate
        schedule."""
        def before_batch(position: float, total: int) -> None:
            self._lr = self.config.lr_at(position / (self.config.schedule_epochs or total))

        return fit_epochs(self, train, test, epochs, progress, None, False, None, before_batch,
                          name="tess-spinnaker")

    def scores(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoded read-out scores ``(batch, classes)`` of the encoded batch ``x``."""
        return torch.from_numpy(self._run(x, None, False)[1])

    def evaluate(self, ds: Dataset, batch_size: int = 512) -> float:
        """Accuracy on ``ds`` with the weights on the cores."""
        return evaluate_accuracy(self, ds, batch_size, self.scores)

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self, path) -> Path:
        """The cores' integers (16-bit weights with their signs, s16.15 biases), the optimiser
        state, saturation counts, the rounding generator's state, configuration and history,
        written atomically (:func:`snn.checkpoint.save_checkpoint`)."""
        from snn.checkpoint import save_checkpoint

        arrays = {}
        for i, L in enumerate(self.layers):
            arrays.update({f"layer{i}/w": L.w, f"layer{i}/b": L.b,
                           f"layer{i}/adam_w_m": L.adam_w[0], f"layer{i}/adam_w_v": L.adam_w[1],
                           f"layer{i}/adam_b_m": L.adam_b[0], f"layer{i}/adam_b_v": L.adam_b[1],
                           f"layer{i}/adam_steps": np.int64(L.adam_steps),
                           f"layer{i}/shift": np.int64(L.shift)})
        meta = {"rule": "tess-spinnaker", "config": asdict(self.config),
                "chip": asdict(self.chip), "saturations": asdict(self.saturations),
                "rng": self.rng.bit_generator.state, "lr": self._lr,
                "history": [asdict(r) for r in self.history]}
        return save_checkpoint(path, arrays, meta)

    def load(self, path) -> None:
        """Restore a checkpoint written by :meth:`save` for the same network and shifts."""
        arrays, meta = read_rule_checkpoint(path, "tess-spinnaker")
        for i, L in enumerate(self.layers):
            if int(arrays[f"layer{i}/shift"]) != L.shift or arrays[f"layer{i}/w"].shape != L.w.shape:
                raise ValueError(f"{str(path)!r}: layer {i} was saved with shift "
                                 f"{int(arrays[f'layer{i}/shift'])} and weights "
                                 f"{arrays[f'layer{i}/w'].shape}; this network has {L.shift} and "
                                 f"{L.w.shape}")
            L.w, L.b = arrays[f"layer{i}/w"].copy(), arrays[f"layer{i}/b"].copy()
            L.adam_w = [arrays[f"layer{i}/adam_w_m"].copy(), arrays[f"layer{i}/adam_w_v"].copy()]
            L.adam_b = [arrays[f"layer{i}/adam_b_m"].copy(), arrays[f"layer{i}/adam_b_v"].copy()]
            L.adam_steps = int(arrays[f"layer{i}/adam_steps"])
        self.saturations = Saturations(**meta["saturations"])
        self.rng.bit_generator.state = meta["rng"]
        self._lr = float(meta["lr"])
        self.history = [EpochRecord(**r) for r in meta["history"]]

    # -- resources ------------------------------------------------------------------------------
    def resources(self) -> dict:
        """Cores, DTCM and SDRAM bytes per core of the training network (see
        :func:`core_memory`)."""
        return network_resources([(L.n_in, L.n, L.kind) for L in self.layers], self.n_classes,
                                 self.format, self.chip.neurons_per_core)


def core_memory(n_in: int, n_local: int, kind: str, n_classes: int, fmt: FixedFormat) -> dict:
    """Bytes one core of a TESS layer needs, itemised: DTCM for state and traces, SDRAM for
    the synaptic rows, the update accumulators and the optimiser state.

    ``kind``: ``"lif"`` (hidden or spiking read-out) or ``"li"`` (read-out). DTCM: the neuron
    struct (:data:`~hardware.spinnaker.resources.WORDS_PER_NEURON`) and, per neuron, the post
    trace ``p``, ``psi``, the eligibility factors ``c_pre`` and ``c_post`` (s3.28), the bias
    accumulator (int64) and its two Adam moments (float32); per input, the presynaptic trace
    ``q``, its copy of the last tick (for the one-tick-late learning signal) and the last tick's
    spike bits; two ring-buffer slots per synapse type (delay 1) of the 256-neuron slot layout;
    the ``K x n`` basis entries of 2 bits; the partial logits, ``delta`` and label (``K`` words
    each); two DMA buffers of one row (16-bit weight and control word and the int64 ``G`` per
    synapse); the 256-key input queue and the program's reserve. SDRAM: one plastic row per
    input (:func:`~hardware.spinnaker.resources.row_words`), ``G`` (8 bytes) and the Adam
    moments (2 x 4 bytes) per synapse."""
    tb = fmt.bits // 8
    neuron_words = WORDS_PER_NEURON["LIF" if kind == "lif" else "LI"]
    basis_bytes = math.ceil(n_local * n_classes * 2 / 8) if kind == "lif" else 0
    dtcm = {
        "neurons": n_local * (4 * neuron_words + 2 * tb + 2 * 4),
        "bias_update": n_local * (8 + 2 * 4),
        "pre_traces": 2 * n_in * tb + 4 * math.ceil(n_in / 32),
        "ring_buffers": 2 * 2 * 256 * 2,
        "learning_signal": basis_bytes + 3 * n_classes * 4,
        "row_buffers": 2 * (4 * row_words(n_local, True) + 8 * n_local),
        "input_queue": 4 * INPUT_QUEUE_LENGTH,
        "reserved": DTCM_RESERVED_BYTES,
    }
    sdram = {"synaptic_rows": n_in * 4 * row_words(n_local, True),
             "update_accumulators": n_in * n_local * 8, "adam_moments": n_in * n_local * 8}
    return {"dtcm": dtcm, "dtcm_bytes": sum(dtcm.values()), "sdram": sdram,
            "sdram_bytes": sum(sdram.values())}


def network_resources(layers: list[tuple[int, int, str]], n_classes: int, fmt: FixedFormat,
                      neurons_per_core: int = 256) -> dict:
    """Cores and memory of a TESS network whose layers are ``(n_in, n, kind)``: per layer its
    cores (slices of ``neurons_per_core``), the largest core's DTCM and SDRAM bytes, and one
    learning-signal core for a layer spread over several cores; input spike sources take
    ``ceil(n_in / 500)`` cores. A ``ValueError`` names a core over its 64 KiB DTCM."""
    report, cores = [], math.ceil(layers[0][0] / 500)
    for index, (n_in, n, kind) in enumerate(layers):
        slices = math.ceil(n / neurons_per_core)
        mem = core_memory(n_in, min(n, neurons_per_core), kind, n_classes, fmt)
        if mem["dtcm_bytes"] > DTCM_BYTES:
            raise ValueError(f"layer {index}: a core needs {mem['dtcm_bytes']} bytes of DTCM, more than "
                             f"the {DTCM_BYTES} a core has; lower neurons_per_core")
        lsg = 1 if slices > 1 and kind == "lif" else 0
        cores += slices + lsg
        report.append({"layer": index, "n_in": n_in, "neurons": n, "cores": slices,
                       "learning_signal_cores": lsg, "neurons_per_core": min(n, neurons_per_core),
                       **mem, "macs_per_tick_per_core": n_in * min(n, neurons_per_core)})
    chips = math.ceil(cores / APP_CORES_PER_CHIP)
    sdram_total = sum(r["sdram_bytes"] * r["cores"] for r in report)
    return {"layers": report, "cores": cores, "chips": chips, "sdram_bytes": sdram_total,
            "max_dtcm_bytes_per_core": max(r["dtcm_bytes"] for r in report),
            "sdram_fits": sdram_total <= chips * SDRAM_USABLE_BYTES}


def train_tess_on_chip(sizes: list[int], train: Dataset, test: Dataset | None = None, epochs: int = 1,
                       chip: ChipConfig | None = None, progress: bool = False, **options) -> dict:
    """Train ``sizes`` with TESS on the emulated cores (``options``: as :meth:`TESS.build`,
    e.g. ``steps``, ``seed``, ``batch_size``, ``lr``). Returns the history, test accuracy,
    saturation counts, the weight shifts and :meth:`SpiNNakerTESS.resources`."""
    rule = SpiNNakerTESS.build(sizes, chip=chip, **options)
    history = rule.fit(train, test, epochs=epochs, progress=progress)
    return {"accuracy": history[-1].test_accuracy, "history": [asdict(h) for h in history],
            "saturations": asdict(rule.saturations), "weight_shifts": [L.shift for L in rule.layers],
            "resources": rule.resources(), "chip": asdict(rule.chip), "rule": rule}


__all__ = ["ChipConfig", "FixedFormat", "Saturations", "SpiNNakerTESS", "accumulate_eligibility",
           "core_memory", "decay", "expk", "mul_round", "network_resources", "requantise",
           "ring_buffer_sums", "softmax_s1615", "to_s1615", "trace_decay", "train_tess_on_chip"]
