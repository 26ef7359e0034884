"""Supervised classification with symmetric STDP (Hao, Huang, Dong & Xu 2020).

Network (Diehl & Cook's architecture plus a supervised class layer)::

    P (Poisson, one per pixel) --plastic--> E (adaptive LIF) --plastic--> C (LIF, one per class)
                                            E --one-to-one--> I (LIF) --all but partner--| E

Both plastic projections learn with :class:`plasticity.SymmetricSTDP` (potentiation only,
``dw = eta * 0.1 * exp(-|dt| / 20 ms)`` for either spike order) and
:class:`plasticity.SynapticScaling` (each post neuron's input weights rescaled to a fixed sum
once per sample, the only source of depression). E has the adaptive threshold of Diehl &
Cook (intrinsic plasticity). During training the label's class neuron is clamped to a
200 Hz Poisson teacher: it fires only on teacher spikes (a current-based neuron whose
threshold no E input can reach, in both synapse modes: its membrane is never read, only its
spike times, which drive the E->C plasticity), so the E neurons active for a digit wire to
that class. At test time C is an ordinary LIF population driven by E (conductance-based with
``synapses="conductance"``), and the label is the class neuron with the most spikes.

``SymSTDPConfig.synapses`` picks the neuron models: ``"conductance"`` (default) is the paper's
(:class:`snn.AdaptiveConductanceLIF` E, :class:`snn.ConductanceLIF` I and test-time C; P->E,
E->I and E->C 1 ms, reversal 0 mV; I->E 2 ms, -100 mV; the weights are the conductance jumps,
in units of the leak); ``"current"`` is current-based (a conductance ``g`` is the
current ``g * drive`` with a fixed driving force, ``exc_drive`` 60 mV and ``inh_drive``
40 mV).

Differences from the paper's GeNN code, all documented in :class:`SymSTDPConfig`: by default
a constant threshold increment ``theta_plus`` instead of ``theta_plus * 10 / |theta - 10|``
(``paper_theta=True``: the paper's, updated once per chunk); by default no re-presentation of a
sample that evokes fewer than 5 E spikes (the input rate is fixed by ``max_rate``;
``min_spikes=5`` turns the paper's rule on, with a chunk's weak samples re-presented together
after the chunk); by default both layers trained together in every pass (``hidden_epochs=N``:
the released configuration, P->E first for N epochs, then frozen while E->C learns); with
current-based synapses ``theta`` decays towards the paper's 20 mV rather than 0
(:class:`SymSTDP` keeps ``theta`` = the paper's ``theta - 20 mV`` in both modes, so the
threshold is ``-52 mV + theta``); the teacher-clamped class neurons of training are
current-based in both modes (their membrane plays no part).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

import plasticity as pl
import snn
from snn.checkpoint import load_checkpoint, save_checkpoint
from snn.h5io import atomic_h5
from snn.validate import check_int

ms, mV = 1e-3, 1e-3
_HIST_BINS = 40
SYNAPSES = ("current", "conductance")
_THETA_OFFSET = 20 * mV  # the paper's threshold is V_th + theta_p - 20 mV, theta_p(0) = 20 mV
_CLAMP_TAU = 10 * ms  # membrane time constant of the teacher-clamped class neurons


@dataclass(frozen=True)
class SymSTDPConfig:
    """Parameters of the sym-STDP classifier (SI units; weights in the paper's conductance
    units, i.e. multiples of the leak conductance).

    Args:
        n_hidden: excitatory (and inhibitory) hidden neurons N_E.
        dt: time step (s); the paper uses 0.5 ms.
        t_present, t_rest: presentation and rest time per sample (s).
        max_rate: input rate of a pixel of value 1 (Hz); the paper's ``pixel/8 * 2`` Hz.
        synapses: ``"conductance"`` (default): the paper's conductance-based neurons
            (:class:`snn.AdaptiveConductanceLIF`, :class:`snn.ConductanceLIF`; reversal
            potentials 0 mV excitatory, -100 mV I->E), a weight is the conductance jump itself;
            ``"current"``: current-based neurons (:class:`snn.AdaptiveLIF`,
            :class:`snn.LIF`), a weight ``g`` is the current jump ``g * exc_drive`` (``g *
            inh_drive`` for I->E).
        exc_drive, inh_drive: driving forces (V) that turn a conductance jump into a current
            jump for the excitatory and inhibitory synapses (``synapses="current"`` only).
        eta_hidden, eta_out: symmetric-STDP learning rates of P->E and E->C.
        w_max_hidden, w_max_out: weight bounds of P->E and E->C.
        hidden_sum: P->E input-weight sum per E neuron per input (0.1: 78.4 for 784 inputs).
        out_sum: E->C input-weight sum per class neuron, per E neuron, in units of
            ``w_max_out`` (0.1 in the paper).
        w_ei, w_ie: E->I and I->E weights.
        theta_plus: adaptive-threshold increment per E spike (V).
        paper_theta: scale the increment as the paper does, ``theta_plus * 10 / |theta_p - 10|``
            with ``theta_p = theta + 20 mV`` the paper's theta (in mV), i.e. ``theta_plus *
            10 mV / |theta + 10 mV|`` here (denominator at least 1 mV); the factor is updated
            once per chunk from the thresholds at its start (the engine's increment is a
            per-neuron constant). False (default): a constant increment.
        tau_theta: adaptive-threshold decay time constant (s).
        teacher_rate: rate of the teacher that drives the label's class neuron (Hz).
        chunk: samples simulated per compiled run (memory for the input rates).
        min_spikes: the paper's re-presentation rule: a sample that evokes fewer hidden spikes
            than this is shown again with the input rate raised by ``rate_step``, up to
            ``max_retries`` times (paper: 5 spikes, +255/8 Hz, from k = 2 up to k = 32, i.e. 30
            retries). The retries of a chunk's weak samples run together after the chunk (in
            the paper, straight after the sample); in training they learn like any
            presentation. 0 (default) turns the rule off.
        hidden_epochs: 0 (default): both plastic layers learn in every epoch. N > 0: the
            released code's layer-by-layer schedule: the first N epochs of a :meth:`SymSTDP.fit`
            call train P->E (and the thresholds) only, the remaining epochs train E->C with
            P->E and the thresholds frozen; ``fit`` then needs more than N epochs.
    """

    n_hidden: int = 100
    dt: float = 0.5 * ms
    t_present: float = 350 * ms
    t_rest: float = 150 * ms
    max_rate: float = 63.75
    synapses: str = "conductance"
    exc_drive: float = 60 * mV
    inh_drive: float = 40 * mV
    eta_hidden: float = 0.005
    eta_out: float = 0.04
    w_max_hidden: float = 1.0
    w_max_out: float = 8.0
    hidden_sum: float = 0.1
    out_sum: float = 0.1
    w_ei: float = 10.4
    w_ie: float = 17.0
    theta_plus: float = 0.07 * mV
    paper_theta: bool = False
    tau_theta: float = 6000.0
    teacher_rate: float = 200.0
    chunk: int = 200
    min_spikes: int = 0
    rate_step: float = 255.0 / 8
    max_retries: int = 30
    hidden_epochs: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.synapses, str) or self.synapses not in SYNAPSES:
            raise ValueError(f"SymSTDPConfig.synapses must be one of {SYNAPSES}, got {self.synapses!r}")
        check_int("SymSTDPConfig.n_hidden", self.n_hidden, minimum=1)
        check_int("SymSTDPConfig.chunk", self.chunk, minimum=1)
        check_int("SymSTDPConfig.min_spikes", self.min_spikes, minimum=0)
        check_int("SymSTDPConfig.max_retries", self.max_retries, minimum=0)
        check_int("SymSTDPConfig.hidden_epochs", self.hidden_epochs, minimum=0)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("n_hidden", "chunk", "min_spikes", "max_retries", "hidden_epochs",
                          "synapses"):
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"SymSTDPConfig.{f.name} must be a finite number >= 0, got {value!r}")
        for name in ("dt", "t_present", "max_rate", "w_max_hidden", "w_max_out", "hidden_sum",
                     "out_sum", "tau_theta", "exc_drive", "inh_drive"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SymSTDPConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("t_present", "t_rest"):
            steps = getattr(self, name) / self.dt
            if abs(steps - round(steps)) > 1e-6:
                raise ValueError(f"SymSTDPConfig.{name}={getattr(self, name)} s must be a whole "
                                 f"number of steps of dt={self.dt} s")
        if self.max_rate * self.dt > 1 or self.teacher_rate * self.dt > 1:
            raise ValueError("SymSTDPConfig.max_rate and teacher_rate must give < 1 spike per step; "
                             "lower them or lower dt")
        if self.min_spikes > 0 and (self.max_rate + self.max_retries * self.rate_step) * self.dt > 1:
            raise ValueError("SymSTDPConfig: max_rate + max_retries * rate_step must give < 1 spike "
                             "per step; lower them or lower dt")


class SymSTDP:
    """The sym-STDP classifier: ``fit`` on images in [0, 1], ``evaluate`` by the class
    layer's spike counts. Weights: ``w_pe`` (inputs x hidden) and ``w_ec`` (hidden x classes),
    in conductance units; ``theta`` (V) the hidden neurons' adaptive thresholds: a hidden
    neuron fires above ``-52 mV + theta``, so ``theta`` is the paper's ``theta_p - 20 mV``
    (0 at the start). It decays towards 0 with ``synapses="current"`` (the paper's 20 mV) and
    towards -20 mV with ``synapses="conductance"`` (the paper's 0, as in the paper)."""

    def __init__(self, n_inputs: int, n_classes: int = 10, config: SymSTDPConfig | None = None,
                 seed: int = 0) -> None:
        self.n_inputs = check_int("n_inputs", n_inputs, minimum=1)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.config = config if config is not None else SymSTDPConfig()
        if not isinstance(self.config, SymSTDPConfig):
            raise TypeError(f"config must be a SymSTDPConfig, got {type(self.config).__name__}")
        self.seed = int(seed)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0]))
        n_h = self.config.n_hidden
        self.w_pe = _normalise(rng.uniform(0.0, 0.3, (self.n_inputs, n_h)),
                               self.config.hidden_sum * self.n_inputs)
        self.w_ec = _normalise(rng.uniform(0.0, 0.3, (n_h, self.n_classes)),
                               self.config.out_sum * n_h * self.config.w_max_out)
        self.theta = np.zeros(n_h)
        self.assignments = np.full(n_h, -1, np.int64)
        self.history: dict[str, list] = {"samples": [], "pe_hist": [], "ec_hist": []}

    # -- geometry ------------------------------------------------------------------------
    @property
    def _interval_steps(self) -> int:
        c = self.config
        return math.gcd(round(c.t_present / c.dt), max(1, round(c.t_rest / c.dt))) if c.t_rest > 0 \
            else round(c.t_present / c.dt)

    @property
    def _sample_steps(self) -> int:
        c = self.config
        return round(c.t_present / c.dt) + round(c.t_rest / c.dt)

    def _rows(self, x: np.ndarray, rate) -> np.ndarray:
        """Rates (rows of one interval each) for the samples ``x`` (n, features); ``rate`` is
        the rate of a pixel of value 1, one for all samples or one per sample."""
        per = self._sample_steps // self._interval_steps
        on = round(self.config.t_present / self.config.dt) // self._interval_steps
        rows = np.zeros((len(x) * per, x.shape[1]))
        scaled = x * np.asarray(rate, dtype=np.float64).reshape(-1, 1)
        for r in range(on):
            rows[r::per] = scaled
        return rows

    # -- network -------------------------------------------------------------------------
    def _theta_plus(self):
        """Threshold increment per hidden spike: constant, or the paper's, which shrinks as the
        threshold grows (evaluated at the current thresholds)."""
        c = self.config
        if not c.paper_theta:
            return c.theta_plus
        return c.theta_plus * 10 * mV / np.maximum(np.abs(self.theta + 10 * mV), 1 * mV)

    @property
    def _exc_scale(self) -> float:
        """Factor from an excitatory weight (conductance units) to the engine's weight: the
        driving force (V) for current-based synapses, 1 for conductances."""
        return self.config.exc_drive if self.config.synapses == "current" else 1.0

    def _clamp_threshold(self) -> float:
        """Threshold (V) of the teacher-clamped class neurons of training, out of reach of the
        E input: 1 kV with current-based synapses (at most 8 * 60 mV per E spike); with
        conductances (E->C weights acting as volts on the clamped neuron), the most that every
        E neuron firing at every step at ``w_max_out`` could build up."""
        c = self.config
        if c.synapses == "current":
            return 1e3
        return c.n_hidden * c.w_max_out / -math.expm1(-c.dt / _CLAMP_TAU)

    def _network(self, x: np.ndarray, labels: np.ndarray | None, key: tuple[int, ...],
                 monitor_input: bool = False, rate=None, learn: tuple[bool, bool] = (True, True)):
        """The network for one chunk: training (plasticity of P->E and the thresholds, and of
        E->C, as ``learn`` says; teacher-clamped C) when ``labels`` are given, else testing."""
        c = self.config
        n_h, train = c.n_hidden, labels is not None
        learn_hidden, learn_out = train and learn[0], train and learn[1]
        interval = self._interval_steps * c.dt
        net = snn.Network()
        rows = self._rows(x, c.max_rate if rate is None else rate)
        P = net.population(self.n_inputs, snn.PoissonSource(rate=rows, rate_interval=interval),
                           name="P")
        if c.synapses == "current":
            E = net.population(n_h, snn.AdaptiveLIF(
                tau_m=100 * ms, v_rest=-65 * mV, v_reset=-65 * mV, v_thresh=-52 * mV,
                tau_ref=2 * ms, tau_syn_exc=1 * ms, tau_syn_inh=2 * ms,
                tau_theta=c.tau_theta if learn_hidden else 1e9,
                theta_plus=self._theta_plus() if learn_hidden else 0.0, theta_init=self.theta.copy()),
                name="E")
            I_ = net.population(n_h, snn.LIF(tau_m=10 * ms, v_rest=-60 * mV, v_reset=-45 * mV,
                                             v_thresh=-40 * mV, tau_ref=2 * ms, tau_syn_exc=1 * ms),
                                name="I")
        else:
            E = net.population(n_h, snn.AdaptiveConductanceLIF(
                tau_m=100 * ms, v_rest=-65 * mV, v_reset=-65 * mV, v_thresh=-52 * mV,
                tau_ref=2 * ms, tau_syn_exc=1 * ms, tau_syn_inh=2 * ms, e_rev_exc=0.0,
                e_rev_inh=-100 * mV, tau_theta=c.tau_theta if learn_hidden else 1e9,
                theta_plus=self._theta_plus() if learn_hidden else 0.0,
                theta_init=self.theta + _THETA_OFFSET, theta_offset=_THETA_OFFSET), name="E")
            I_ = net.population(n_h, snn.ConductanceLIF(
                tau_m=10 * ms, v_rest=-60 * mV, v_reset=-45 * mV, v_thresh=-40 * mV, tau_ref=2 * ms,
                tau_syn_exc=1 * ms, e_rev_exc=0.0), name="I")
        if train:
            # Teacher-clamped class neurons (current-based in both modes): only the teacher's
            # huge delta input reaches threshold, so they fire on teacher spikes only.
            v_clamp = self._clamp_threshold()
            C = net.population(self.n_classes, snn.LIF(tau_m=_CLAMP_TAU, v_rest=0.0, v_reset=0.0,
                                                       v_thresh=v_clamp, tau_ref=0.0,
                                                       tau_syn_exc=0.0), name="C")
            onehot = np.eye(self.n_classes)[labels]
            T = net.population(self.n_classes, snn.PoissonSource(
                rate=self._rows(onehot, c.teacher_rate), rate_interval=interval), name="T")
            net.connect(T, C, snn.OneToOne(), weight=2 * v_clamp, name="TC")
        elif c.synapses == "current":
            C = net.population(self.n_classes, snn.LIF(
                tau_m=10 * ms, v_rest=-60 * mV, v_reset=-45 * mV, v_thresh=-40 * mV, tau_ref=2 * ms,
                tau_syn_exc=1 * ms), name="C")
        else:
            C = net.population(self.n_classes, snn.ConductanceLIF(
                tau_m=10 * ms, v_rest=-60 * mV, v_reset=-45 * mV, v_thresh=-40 * mV, tau_ref=2 * ms,
                tau_syn_exc=1 * ms, e_rev_exc=0.0), name="C")
        d = self._exc_scale
        sample_steps = self._sample_steps
        pe_mech = (pl.SymmetricSTDP(eta=c.eta_hidden * d, increment=0.1, w_min=0.0,
                                    w_max=c.w_max_hidden * d),
                   pl.SynapticScaling(target=c.hidden_sum * self.n_inputs * d, every=sample_steps))
        ec_mech = (pl.SymmetricSTDP(eta=c.eta_out * d, increment=0.1, w_min=0.0, w_max=c.w_max_out * d),
                   pl.SynapticScaling(target=c.out_sum * n_h * c.w_max_out * d, every=sample_steps))
        net.connect(P, E, snn.AllToAll(), weight=self.w_pe.ravel() * d, name="PE",
                    plasticity=pe_mech if learn_hidden else None)
        net.connect(E, C, snn.AllToAll(), weight=self.w_ec.ravel() * d, name="EC",
                    plasticity=ec_mech if learn_out else None)
        net.connect(E, I_, snn.OneToOne(), weight=c.w_ei * d, name="EI")
        pre, post = np.nonzero(~np.eye(n_h, dtype=bool))
        w_ie = -c.w_ie * c.inh_drive if c.synapses == "current" else c.w_ie
        net.connect(I_, E, snn.FromList(pre, post), weight=w_ie, synapse="inh", name="IE")
        net.spike_monitor(E, name="E_spikes")
        net.spike_monitor(C, name="C_spikes")
        if monitor_input:
            net.spike_monitor(P, name="P_spikes")
        seed = int(np.random.SeedSequence([self.seed, *key]).generate_state(1)[0])
        sim = net.build(dt=c.dt, backend="numba", seed=seed)
        if train:
            for name, shape in (("PE", self.w_pe.shape), ("EC", self.w_ec.shape)):
                proj = next(p for p in sim.built.projections if p.name == name)
                if not np.array_equal(proj.indices, np.tile(np.arange(shape[1], dtype=np.int32),
                                                            shape[0])):
                    raise RuntimeError(f"unexpected synapse order in projection {name}")
        return sim

    def _present(self, x: np.ndarray, labels: np.ndarray | None, key: tuple[int, ...],
                 monitor_input: bool = False, learn: tuple[bool, bool] = (True, True)):
        """Run one chunk, then re-present its samples that evoked fewer than ``min_spikes``
        hidden spikes at a higher input rate (``config.min_spikes``); returns (E counts, C
        counts, results of the first run), the counts of each sample's last presentation."""
        c = self.config
        e, cnt, res = self._simulate(x, labels, key, monitor_input, learn=learn)
        rate = np.full(len(x), c.max_rate)
        for retry in range(1, c.max_retries + 1 if c.min_spikes > 0 else 1):
            weak = np.flatnonzero(e.sum(1) < c.min_spikes)
            if len(weak) == 0:
                break
            rate[weak] += c.rate_step
            e[weak], cnt[weak], _ = self._simulate(
                x[weak], None if labels is None else labels[weak], (*key, retry), rate=rate[weak],
                learn=learn)
        return e, cnt, res

    def _simulate(self, x: np.ndarray, labels: np.ndarray | None, key: tuple[int, ...],
                  monitor_input: bool = False, rate=None, learn: tuple[bool, bool] = (True, True)):
        """Run one chunk with the random streams of ``key``; returns (E counts, C counts,
        results) per sample."""
        sim = self._network(x, labels, key, monitor_input, rate, learn)
        res = sim.run(len(x) * self._sample_steps * self.config.dt)
        d = self._exc_scale
        if labels is not None and learn[0]:
            self.w_pe = sim.weights("PE").reshape(self.w_pe.shape) / d
            theta = np.asarray(sim.state["E"]["theta"]).reshape(-1)
            self.theta = theta.copy() if self.config.synapses == "current" else theta - _THETA_OFFSET
        if labels is not None and learn[1]:
            self.w_ec = sim.weights("EC").reshape(self.w_ec.shape) / d
        counts = []
        for name, n in (("E", self.config.n_hidden), ("C", self.n_classes)):
            rec = res[f"{name}_spikes"]
            sample = rec.steps // self._sample_steps
            counts.append(np.bincount(sample * n + rec.indices, minlength=len(x) * n).reshape(len(x), n))
        return counts[0], counts[1], res

    # -- public --------------------------------------------------------------------------
    def fit(self, images: np.ndarray, labels: np.ndarray, epochs: int = 1, progress: bool = False,
            seed: int | None = None, on_epoch=None) -> dict:
        """Train on ``images`` (n, features) in [0, 1] and integer ``labels``; the sample order is
        shuffled each epoch from ``seed`` (default: the model's). Returns training statistics.

        ``on_epoch(epoch, stats)``, if given, is called after each epoch (1-based) with that
        epoch's training statistics, the hidden-neuron assignments already updated from that
        epoch's responses (so the model can be evaluated there). Evaluation draws its own random
        streams, so the training is the same with or without it. With ``config.hidden_epochs``
        = N > 0 the first N epochs train P->E only and the rest E->C only."""
        x, y = _check_data(images, labels, self.n_inputs, self.n_classes)
        check_int("epochs", epochs, minimum=1)
        n_hidden_epochs = self.config.hidden_epochs
        if 0 < n_hidden_epochs >= epochs:
            raise ValueError(f"epochs={epochs} leaves no epoch for E->C after hidden_epochs="
                             f"{n_hidden_epochs}; give more epochs or a smaller hidden_epochs")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed if seed is None else seed, 2]))
        bar = _bar(epochs * len(x), progress, "sym-STDP train")
        t0, t_callbacks = time.perf_counter(), 0.0
        e_counts = np.zeros((len(x), self.config.n_hidden))
        for epoch in range(1, epochs + 1):
            learn = (True, True) if n_hidden_epochs == 0 else \
                (epoch <= n_hidden_epochs, epoch > n_hidden_epochs)
            order = rng.permutation(len(x))
            for start in range(0, len(x), self.config.chunk):
                idx = order[start:start + self.config.chunk]
                e, _c, _res = self._present(x[idx], y[idx], (1, len(self.history["samples"])),
                                            learn=learn)
                e_counts[idx] = e
                self._record_history(len(idx))
                if bar is not None:
                    bar.update(len(idx))
            if on_epoch is not None and epoch < epochs:
                t_cb = time.perf_counter()
                on_epoch(epoch, self._epoch_stats(e_counts, y, t0 + t_callbacks))
                t_callbacks += time.perf_counter() - t_cb
        if bar is not None:
            bar.close()
        stats = self._epoch_stats(e_counts, y, t0 + t_callbacks)
        if on_epoch is not None:
            on_epoch(epochs, stats)
        return stats

    def _epoch_stats(self, e_counts: np.ndarray, y: np.ndarray, t0: float) -> dict:
        """Set the assignments from ``e_counts`` (one epoch's hidden responses) and return the
        training statistics (``train_wall_s``: training time since ``t0``)."""
        self.assignments = _assign(e_counts, y, self.n_classes)
        train_pred = np.argmax(self._class_rates(e_counts), axis=1)
        return {"train_wall_s": time.perf_counter() - t0,
                "train_accuracy": float(np.mean(train_pred == y)),
                "mean_hidden_spikes": float(e_counts.sum(1).mean())}

    def _class_rates(self, e_counts: np.ndarray) -> np.ndarray:
        """Mean spike count of the hidden neurons assigned to each class, per sample."""
        rates = np.zeros((len(e_counts), self.n_classes))
        for k in range(self.n_classes):
            members = self.assignments == k
            if members.any():
                rates[:, k] = e_counts[:, members].mean(1)
        return rates

    def predict(self, images: np.ndarray, progress: bool = False) -> dict:
        """Class-layer predictions (argmax of spike counts, ties broken by the E->C weighted
        hidden activity) and the unsupervised assignment readout of the hidden layer."""
        x, _ = _check_data(images, None, self.n_inputs, self.n_classes)
        bar = _bar(len(x), progress, "sym-STDP test")
        e_all, c_all = [], []
        self.raster = None
        for start in range(0, len(x), self.config.chunk):
            e, cnt, res = self._present(x[start:start + self.config.chunk], None, (3, start),
                                        monitor_input=start == 0)
            if start == 0:
                self.raster = res
            e_all.append(e)
            c_all.append(cnt)
            if bar is not None:
                bar.update(len(e))
        if bar is not None:
            bar.close()
        e, cnt = np.concatenate(e_all), np.concatenate(c_all)
        drive = e @ self.w_ec
        supervised = np.argmax(cnt + drive / (drive.max(1, keepdims=True) + 1e-12) * 0.5, axis=1)
        return {"supervised": supervised, "unsupervised": np.argmax(self._class_rates(e), axis=1),
                "class_counts": cnt, "hidden_counts": e}

    def evaluate(self, images: np.ndarray, labels: np.ndarray, progress: bool = False) -> dict:
        """Test accuracy of the class layer (``accuracy``) and of the hidden layer's assignment
        readout (``unsupervised_accuracy``), and the fraction of samples with no class spike."""
        _, y = _check_data(images, labels, self.n_inputs, self.n_classes)
        out = self.predict(images, progress)
        return {"accuracy": float(np.mean(out["supervised"] == y)),
                "unsupervised_accuracy": float(np.mean(out["unsupervised"] == y)),
                "silent_fraction": float(np.mean(out["class_counts"].sum(1) == 0))}

    def _record_history(self, n: int) -> None:
        h = self.history
        h["samples"].append((h["samples"][-1] if h["samples"] else 0) + n)
        h["pe_hist"].append(np.histogram(self.w_pe, _HIST_BINS, (0, self.config.w_max_hidden))[0])
        h["ec_hist"].append(np.histogram(self.w_ec, _HIST_BINS, (0, self.config.w_max_out))[0])

    def save(self, path: str | os.PathLike) -> Path:
        """Checkpoint (HDF5, atomic): weights, thresholds, hidden-neuron labels, config."""
        return save_checkpoint(path, {"w_pe": self.w_pe, "w_ec": self.w_ec, "theta": self.theta,
                                      "labels": self.assignments},
                               {"rule": "sym_stdp", "config": asdict(self.config),
                                "n_inputs": self.n_inputs, "n_classes": self.n_classes,
                                "seed": self.seed})

    @classmethod
    def load(cls, path: str | os.PathLike) -> SymSTDP:
        """Read a checkpoint written by :meth:`save`."""
        arrays, meta = load_checkpoint(path)
        if meta.get("rule") != "sym_stdp":
            raise ValueError(f"{path} is not a sym-STDP checkpoint (rule={meta.get('rule')!r})")
        model = cls(meta["n_inputs"], meta["n_classes"], SymSTDPConfig(**meta["config"]), meta["seed"])
        model.w_pe, model.w_ec = arrays["w_pe"], arrays["w_ec"]
        model.theta, model.assignments = arrays["theta"], arrays["labels"]
        return model


def _normalise(w: np.ndarray, total: float) -> np.ndarray:
    """Scale each column (post neuron) of ``w`` to sum ``total``."""
    return w * (total / w.sum(0, keepdims=True))


def _assign(e_counts: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Diehl & Cook assignment: each hidden neuron's class of highest mean response."""
    means = np.stack([e_counts[labels == k].mean(0) if np.any(labels == k)
                      else np.zeros(e_counts.shape[1]) for k in range(n_classes)])
    return np.argmax(means, axis=0)


def _check_data(images, labels, n_inputs: int, n_classes: int):
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_inputs:
        raise ValueError(f"images must have shape (n, {n_inputs}), got {x.shape}; flatten them")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ValueError("images must hold finite values in [0, 1]; use Dataset.to_float32()")
    if labels is None:
        return x, None
    y = np.asarray(labels)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must be {len(x)} integers in [0, {n_classes}), got shape {y.shape}")
    return x, y.astype(np.int64)


def _bar(total: int, progress: bool, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sample")


# -- plots -----------------------------------------------------------------------------------


def plot_receptive_fields(model: SymSTDP, path: str | os.PathLike, shape: tuple[int, int],
                          max_neurons: int = 100) -> Path:
    """P->E weights of the first ``max_neurons`` hidden neurons as images, titled by label."""
    from snn.plot import pyplot, save_figure

    plt = pyplot()
    n = min(max_neurons, model.config.n_hidden)
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(model.w_pe[:, i].reshape(shape), cmap="hot", interpolation="nearest")
            ax.set_title(str(model.assignments[i]), fontsize=6, pad=1)
    fig.suptitle("P->E receptive fields (title: assigned class)")
    return save_figure(fig, path)


def plot_weight_histograms(model: SymSTDP, path: str | os.PathLike) -> Path:
    """Weight distributions of P->E and E->C over training (one image row per snapshot)."""
    from snn.plot import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    h = model.history
    for ax, key, wmax, title in ((axes[0], "pe_hist", model.config.w_max_hidden, "P->E"),
                                 (axes[1], "ec_hist", model.config.w_max_out, "E->C")):
        if h[key]:
            data = np.log10(1 + np.asarray(h[key], dtype=float))
            ax.imshow(data.T, aspect="auto", origin="lower",
                      extent=(0, h["samples"][-1], 0, wmax), cmap="viridis")
        ax.set_xlabel("training samples")
        ax.set_ylabel("weight (conductance units)")
        ax.set_title(f"{title} weights over training")
    fig.suptitle("weight histograms (colour: log10(1 + synapses per bin))")
    return save_figure(fig, path)


def plot_raster(model: SymSTDP, path: str | os.PathLike, samples: int = 3) -> Path:
    """Input, hidden and class spikes of the first test samples."""
    from snn.plot import pyplot, raster, save_figure

    plt = pyplot()
    res = getattr(model, "raster", None)
    if res is None:
        raise ValueError("plot_raster needs a prior predict/evaluate call (it plots its first samples)")
    t_end = samples * model._sample_steps
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    for ax, name in zip(axes, ("P", "E", "C"), strict=True):
        rec = res[f"{name}_spikes"]
        keep = rec.steps < t_end
        raster(ax, snn.results.SpikeRecord(rec.population, rec.n, rec.dt, rec.steps[keep],
                                           rec.indices[keep]))
        ax.set_ylabel(f"{name} neuron")
    fig.suptitle("sym-STDP test: input (P), hidden (E), class (C) spikes")
    return save_figure(fig, path)


# -- the command-line entry point ------------------------------------------------------------


def load_data(dataset: str, data_dir: str | None, seed: int):
    """(train images, train labels, test images, test labels, image shape) for ``digits``
    (80/20 stratified split) or ``mnist`` (the 10k test file: first 8000 train, last 2000 test)."""
    if dataset == "digits":
        train, test = snn.datasets.load_digits().stratified_split(0.2, seed=seed)
        return (train.to_float32(), train.labels, test.to_float32(), test.labels, (8, 8))
    if dataset == "mnist":
        data = snn.datasets.load_mnist(directory=data_dir, split="test")
        x, y = data.to_float32(), np.asarray(data.labels)
        return x[:8000], y[:8000], x[8000:], y[8000:], (28, 28)
    raise ValueError(f"dataset must be 'digits' or 'mnist', got {dataset!r}")


def train_sym_stdp(dataset: str = "digits", data_dir: str | None = None, neurons: int | None = None,
                   epochs: int = 1, seed: int = 0, progress: bool = False, out_dir: str | None = None,
                   **options) -> dict:
    """Train and test the sym-STDP classifier; ``neurons`` = hidden size N_E, ``options`` set
    :class:`SymSTDPConfig` fields plus ``train_limit`` / ``test_limit`` (use the first samples
    only) and ``eval_every_epoch`` (test after every epoch, not only the last: the learning
    curve in ``history``; the training is the same). With ``out_dir``: checkpoint, results
    (HDF5) and PNG plots there."""
    train_limit = options.pop("train_limit", None)
    test_limit = options.pop("test_limit", None)
    eval_every_epoch = options.pop("eval_every_epoch", False)
    if not isinstance(eval_every_epoch, bool):
        raise ValueError(f"eval_every_epoch must be true or false, got {eval_every_epoch!r}")
    known = {f.name for f in fields(SymSTDPConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown sym-STDP option(s) {unknown}; valid: {sorted(known)}, "
                         "train_limit, test_limit, eval_every_epoch")
    defaults = {"digits": {"n_hidden": 100, "max_rate": 255.0, "hidden_sum": 0.2},
                "mnist": {"n_hidden": 400, "min_spikes": 5}}.get(dataset, {})
    cfg_kw = {**defaults, **options}
    if neurons is not None:
        cfg_kw["n_hidden"] = neurons
    config = SymSTDPConfig(**cfg_kw)
    x_tr, y_tr, x_te, y_te, shape = load_data(dataset, data_dir, seed)
    if train_limit is not None:
        x_tr, y_tr = x_tr[:int(train_limit)], y_tr[:int(train_limit)]
    if test_limit is not None:
        x_te, y_te = x_te[:int(test_limit)], y_te[:int(test_limit)]
    t0 = time.perf_counter()
    model = SymSTDP(x_tr.shape[1], 10, config, seed=seed)
    history: list[dict] = []
    scores: dict = {}

    def on_epoch(epoch: int, st: dict) -> None:
        scores.update(model.evaluate(x_te, y_te, progress=progress))
        history.append({"epoch": int(epoch), "train_accuracy": st["train_accuracy"],
                        "test_accuracy": scores["accuracy"],
                        "unsupervised_accuracy": scores["unsupervised_accuracy"],
                        "train_wall_s": st["train_wall_s"], "wall_s": time.perf_counter() - t0})

    stats = model.fit(x_tr, y_tr, epochs=epochs, progress=progress,
                      on_epoch=on_epoch if eval_every_epoch else None)
    if not eval_every_epoch:
        on_epoch(epochs, stats)
    result = {"rule": "sym-stdp", "dataset": dataset, "test_accuracy": scores["accuracy"],
              "unsupervised_accuracy": scores["unsupervised_accuracy"],
              "silent_fraction": scores["silent_fraction"],
              "mean_hidden_spikes": stats["mean_hidden_spikes"], "n_hidden": config.n_hidden,
              "n_train": int(len(x_tr)), "n_test": int(len(x_te)), "epochs": int(epochs),
              "seed": int(seed), "train_wall_s": stats["train_wall_s"],
              "wall_s": time.perf_counter() - t0, "checkpoint": None, "config": asdict(config)}
    result["history"] = history
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result["checkpoint"] = str(model.save(out / f"sym-stdp_{dataset}.h5"))
        _write_results(out / f"sym-stdp_{dataset}_results.h5", result, model)
        plot_receptive_fields(model, out / f"sym-stdp_{dataset}_receptive_fields.png", shape)
        plot_weight_histograms(model, out / f"sym-stdp_{dataset}_weights.png")
        plot_raster(model, out / f"sym-stdp_{dataset}_raster.png")
    return result


def _write_results(path: Path, result: dict, model: SymSTDP) -> None:
    import json

    with atomic_h5(path, "synaptica-rule-results") as fh:
        fh.attrs["result"] = json.dumps(result)
        fh.create_dataset("history/samples", data=np.asarray(model.history["samples"]))
        fh.create_dataset("history/pe_hist", data=np.asarray(model.history["pe_hist"]))
        fh.create_dataset("history/ec_hist", data=np.asarray(model.history["ec_hist"]))


__all__ = ["SymSTDP", "SymSTDPConfig", "train_sym_stdp", "plot_receptive_fields",
           "plot_weight_histograms", "plot_raster"]
