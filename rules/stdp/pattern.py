"""Supervised spatial-pattern detection with STDP and homeostasis (after Davies, Gait, Rowley &
Di Nuovo, arXiv 2312.02659, a PyNN network for SpiNNaker).

A spatial pattern is a set of input neurons that fire in the same time step. Each output
neuron (PyNN ``IF_curr_exp`` with sPyNNaker's default parameters, 1 ms steps) learns one
pattern: during training a teacher spike makes it fire ``teacher_delay`` after the pattern,
so additive pair STDP (:class:`plasticity.PairSTDP`) potentiates exactly the synapses of the
pattern's inputs, and homeostasis (:class:`plasticity.SynapticScaling`, each output's input
weights rescaled to a fixed sum after every presentation) depresses all the others. The sum
is set so that a fraction ``tolerance`` of the pattern's inputs firing together just reaches
threshold: the homeostatic set point fixes how similar a pattern must be to be accepted.
With several outputs, the teacher of one output also inhibits the others during training,
and at test time the outputs inhibit each other (first to fire wins). Background noise
(Poisson spikes on every input) runs throughout.

The paper's method section and scripts were not available when this was written; the
network follows the brief in ``shared/papers/spinnaker-stdp-homeostasis.md`` (sPyNNaker's
``SpikePairRule`` + ``AdditiveWeightDependence`` and a weight-sum homeostasis), and its
parameters are this module's choices, not the paper's.
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


@dataclass(frozen=True)
class PatternConfig:
    """Parameters of the pattern detector (SI units).

    Args:
        dt: time step (s); SpiNNaker's 1 ms.
        tau_m, v_rest, v_reset, v_thresh, tau_syn, tau_ref: output neurons (``IF_curr_exp``
            defaults of sPyNNaker).
        interval: time between presentations (s); the state decays in between.
        teacher_delay: steps from the pattern to the teacher-forced output spike.
        presentations: training presentations of each pattern.
        tolerance: fraction of a pattern's inputs that must fire together to reach threshold
            once the weights have converged (the homeostatic set point), in (0, 1].
        learning_gain: ``a_plus`` in units of (weight sum / pattern size): 1.0 doubles the
            pattern's share of the weight sum per presentation.
        tau_plus, tau_minus: STDP time constants (s).
        noise_rate: background Poisson rate of every input (Hz).
        window: steps after a test pattern in which an output spike counts as a detection.
        inhibition: lateral inhibition between outputs at test time and from a teacher to the
            other outputs in training, in units of the threshold gap.
    """

    dt: float = 1 * ms
    tau_m: float = 20 * ms
    v_rest: float = -65 * mV
    v_reset: float = -65 * mV
    v_thresh: float = -50 * mV
    tau_syn: float = 5 * ms
    tau_ref: float = 0.1 * ms
    interval: float = 100 * ms
    teacher_delay: int = 2
    presentations: int = 10
    tolerance: float = 0.8
    learning_gain: float = 1.0
    tau_plus: float = 20 * ms
    tau_minus: float = 20 * ms
    noise_rate: float = 0.5
    window: int = 15
    inhibition: float = 2.0

    def __post_init__(self) -> None:
        check_int("PatternConfig.teacher_delay", self.teacher_delay, minimum=1)
        check_int("PatternConfig.presentations", self.presentations, minimum=1)
        check_int("PatternConfig.window", self.window, minimum=1)
        for name in ("dt", "tau_m", "tau_syn", "interval", "learning_gain", "tau_plus", "tau_minus"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"PatternConfig.{name} must be > 0, got {value!r}")
        if not 0 < self.tolerance <= 1:
            raise ValueError(f"PatternConfig.tolerance must be in (0, 1], got {self.tolerance!r}")
        if self.noise_rate < 0 or self.inhibition < 0:
            raise ValueError("PatternConfig.noise_rate and inhibition must be >= 0")
        if self.v_thresh <= self.v_rest:
            raise ValueError("PatternConfig.v_thresh must be above v_rest")
        if self.interval / self.dt < self.window + self.teacher_delay + 2:
            raise ValueError("PatternConfig.interval must be longer than window + teacher_delay steps")
        if self.tau_syn == self.tau_m:
            raise ValueError("PatternConfig.tau_syn must differ from tau_m (PSP formula); e.g. 5 ms")

    @property
    def psp_peak(self) -> float:
        """Peak of the membrane response to a unit current jump (dimensionless)."""
        tm, ts = self.tau_m, self.tau_syn
        t = math.log(tm / ts) * tm * ts / (tm - ts)
        return ts / (tm - ts) * (math.exp(-t / tm) - math.exp(-t / ts))


class PatternDetector:
    """Output neurons that learn one spatial pattern each (binary vectors of ``n_inputs``)."""

    def __init__(self, n_inputs: int, n_outputs: int = 1, config: PatternConfig | None = None,
                 pattern_size: int | None = None, seed: int = 0) -> None:
        self.n_inputs = check_int("n_inputs", n_inputs, minimum=2)
        self.n_outputs = check_int("n_outputs", n_outputs, minimum=1)
        self.config = config if config is not None else PatternConfig()
        if not isinstance(self.config, PatternConfig):
            raise TypeError(f"config must be a PatternConfig, got {type(self.config).__name__}")
        self.pattern_size = check_int("pattern_size", pattern_size if pattern_size is not None
                                      else n_inputs // 2, minimum=1)
        self.seed = int(seed)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0]))
        w = rng.uniform(0.5, 1.5, (self.n_inputs, self.n_outputs))
        self.weights = w * (self.weight_sum / w.sum(0, keepdims=True))
        self.history: dict[str, np.ndarray] = {}
        self._runs = 0

    @property
    def weight_sum(self) -> float:
        """Homeostatic set point: each output's input-weight sum (V), so that ``tolerance`` of a
        pattern's inputs with converged weights just reach threshold."""
        c = self.config
        return (c.v_thresh - c.v_rest) / c.psp_peak / c.tolerance

    def _seed(self) -> int:
        self._runs += 1
        return int(np.random.SeedSequence([self.seed, 1, self._runs]).generate_state(1)[0])

    def _inputs(self, patterns: np.ndarray, rng: np.random.Generator) -> tuple[list, np.ndarray]:
        """Spike steps per input neuron: pattern ``r`` at step ``r * interval + 1``, plus noise."""
        c = self.config
        per = round(c.interval / c.dt)
        onsets = np.arange(len(patterns)) * per + 1
        total = len(patterns) * per
        trains = []
        for i in range(self.n_inputs):
            steps = set(onsets[patterns[:, i]].tolist())
            n_noise = rng.poisson(c.noise_rate * total * c.dt)
            steps.update(rng.integers(0, total, n_noise).tolist())
            trains.append(sorted(steps))
        return trains, onsets

    def _network(self, patterns: np.ndarray, targets: np.ndarray | None, rng: np.random.Generator):
        c = self.config
        gap = c.v_thresh - c.v_rest
        net = snn.Network()
        trains, onsets = self._inputs(patterns, rng)
        inp = net.population(self.n_inputs, snn.SpikeSource(spike_steps=trains), name="input")
        out = net.population(self.n_outputs, snn.LIF(
            tau_m=c.tau_m, v_rest=c.v_rest, v_reset=c.v_reset, v_thresh=c.v_thresh, tau_ref=c.tau_ref,
            tau_syn_exc=c.tau_syn, tau_syn_inh=c.tau_syn), name="output")
        inhibit = -c.inhibition * gap / c.psp_peak
        plastic = None
        if targets is not None:
            a_plus = c.learning_gain * self.weight_sum / self.pattern_size
            plastic = (pl.PairSTDP(tau_plus=c.tau_plus, tau_minus=c.tau_minus, a_plus=a_plus,
                                   a_minus=a_plus, w_min=0.0, w_max=self.weight_sum),
                       pl.SynapticScaling(target=self.weight_sum, every=round(c.interval / c.dt)))
            teacher = net.population(self.n_outputs, snn.SpikeSource(
                spike_steps=[onsets[targets == m].tolist() for m in range(self.n_outputs)]),
                name="teacher")
            # The teacher spike arrives teacher_delay steps after the pattern and alone fires the output.
            net.connect(teacher, out, snn.OneToOne(), weight=3 * gap / c.psp_peak,
                        delay=c.teacher_delay + 1, name="teach")
            if self.n_outputs > 1:
                pre, post = np.nonzero(~np.eye(self.n_outputs, dtype=bool))
                net.connect(teacher, out, snn.FromList(pre, post), weight=inhibit, synapse="inh",
                            name="silence")
        elif self.n_outputs > 1 and c.inhibition > 0:
            net.connect(out, out, snn.AllToAll(allow_autapses=False), weight=inhibit, synapse="inh",
                        name="lateral")
        net.connect(inp, out, snn.AllToAll(), weight=self.weights.ravel(), plasticity=plastic, name="ff")
        net.spike_monitor(out, name="out_spikes")
        net.spike_monitor(inp, name="in_spikes")
        sim = net.build(dt=c.dt, backend="numba", seed=self._seed())
        return sim, onsets

    def fit(self, patterns: np.ndarray) -> dict:
        """Train output ``m`` on ``patterns[m]`` (boolean, shape ``(n_outputs, n_inputs)``),
        ``presentations`` times each in shuffled order. Records the weights after each
        presentation in ``history['weights']`` (presentation, input, output)."""
        p = _check_patterns(patterns, self.n_inputs, self.n_outputs)
        c = self.config
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 2]))
        targets = rng.permutation(np.repeat(np.arange(self.n_outputs), c.presentations))
        sim, _ = self._network(p[targets], targets, rng)
        t0 = time.perf_counter()
        times, weights = _train(sim, len(targets), c.interval, c.dt)
        self.weights = weights[-1].reshape(self.n_inputs, self.n_outputs)
        self.history = {"times": times,
                        "weights": weights.reshape(-1, self.n_inputs, self.n_outputs),
                        "patterns": p, "targets": targets}
        return {"train_wall_s": time.perf_counter() - t0}

    def respond(self, patterns: np.ndarray) -> np.ndarray:
        """Boolean ``(len(patterns), n_outputs)``: which outputs fire within ``window`` steps of
        each test pattern (plasticity off, background noise on)."""
        p = _check_patterns(patterns, self.n_inputs, None)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 3, self._runs]))
        sim, onsets = self._network(p, None, rng)
        res = sim.run(len(p) * self.config.interval)
        self.test_results = res
        rec = res["out_spikes"]
        per = round(self.config.interval / self.config.dt)
        which = (rec.steps - 1) // per
        lag = rec.steps - onsets[np.clip(which, 0, len(p) - 1)]
        hit = (lag >= 0) & (lag <= self.config.window)
        fired = np.zeros((len(p), self.n_outputs), bool)
        fired[which[hit], rec.indices[hit]] = True
        return fired

    def evaluate(self, patterns: np.ndarray, n_negatives: int = 50, repeats: int = 5) -> dict:
        """Present each trained pattern ``repeats`` times and ``n_negatives`` random patterns of the
        same size that the set point must reject (each shares fewer than ``tolerance`` of every
        trained pattern's inputs). A presentation is correct when exactly the trained output
        responds (positives) or none does (negatives)."""
        p = _check_patterns(patterns, self.n_inputs, self.n_outputs)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 4]))
        negatives = []
        while len(negatives) < n_negatives:
            cand = np.zeros(self.n_inputs, bool)
            cand[rng.choice(self.n_inputs, self.pattern_size, replace=False)] = True
            if np.all((p & cand).sum(1) < self.config.tolerance * p.sum(1)):
                negatives.append(cand)
        expected = np.concatenate([np.tile(np.arange(self.n_outputs), repeats),
                                   np.full(n_negatives, -1)])
        test = np.concatenate([p[expected[expected >= 0]], np.array(negatives).reshape(-1, self.n_inputs)])
        order = rng.permutation(len(test))
        fired = self.respond(test[order])[np.argsort(order)]
        want = np.zeros_like(fired)
        pos = expected >= 0
        want[np.flatnonzero(pos), expected[pos]] = True
        correct = np.all(fired == want, axis=1)
        return {"accuracy": float(correct.mean()),
                "detection_rate": float(correct[pos].mean()),
                "false_positive_rate": float(fired[~pos].any(axis=1).mean()) if n_negatives else 0.0}

    def save(self, path: str | os.PathLike) -> Path:
        """Checkpoint (HDF5, atomic): weights, output thresholds, trained patterns (labels), config."""
        thresholds = np.full(self.n_outputs, self.config.v_thresh)
        patterns = self.history.get("patterns", np.zeros((0, self.n_inputs), bool))
        return save_checkpoint(path, {"weights": self.weights, "thresholds": thresholds,
                                      "labels": np.asarray(patterns, np.uint8)},
                               {"rule": "pattern", "config": asdict(self.config),
                                "n_inputs": self.n_inputs, "n_outputs": self.n_outputs,
                                "pattern_size": self.pattern_size, "seed": self.seed})

    @classmethod
    def load(cls, path: str | os.PathLike) -> PatternDetector:
        """Read a checkpoint written by :meth:`save`."""
        arrays, meta = load_checkpoint(path)
        if meta.get("rule") != "pattern":
            raise ValueError(f"{path} is not a pattern-detector checkpoint (rule={meta.get('rule')!r})")
        model = cls(meta["n_inputs"], meta["n_outputs"], PatternConfig(**meta["config"]),
                    meta["pattern_size"], meta["seed"])
        model.weights = arrays["weights"]
        if arrays["labels"].size:
            model.history = {"patterns": arrays["labels"].astype(bool)}
        return model


def _train(sim, presentations: int, interval: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Run the training presentations; the times (s) and the ``ff`` weights at the start and
    after each presentation. A backend that defers STDP updates to the next pre spike (the
    SpiNNaker target: ``sim.flush_plasticity``) would leave the last presentation's
    potentiation of inputs that have not spiked since out of the weights read back, so its
    pending updates are applied one tick before the end: that tick's homeostatic scaling then
    normalises them, the order of the float engine (potentiation at the post spike, scaling
    at the end of the interval)."""
    flush = getattr(sim, "flush_plasticity", None)
    times, rows = [sim.step * dt], [sim.weights("ff")]
    for r in range(presentations):
        if flush is not None and r == presentations - 1:
            if interval - dt > 0.5 * dt:
                sim.run(interval - dt)
            flush()
            sim.run(dt)
        else:
            sim.run(interval)
        times.append(sim.step * dt)
        rows.append(sim.weights("ff"))
    return np.asarray(times), np.stack(rows)


def _check_patterns(patterns, n_inputs: int, n_rows: int | None) -> np.ndarray:
    p = np.asarray(patterns)
    if p.ndim != 2 or p.shape[1] != n_inputs or (n_rows is not None and p.shape[0] != n_rows):
        want = f"({n_rows if n_rows is not None else 'n'}, {n_inputs})"
        raise ValueError(f"patterns must have shape {want} (one boolean row per pattern), got {p.shape}")
    if not np.all((p == 0) | (p == 1)):
        raise ValueError("patterns must be boolean (or 0/1) arrays")
    return p.astype(bool)


def make_patterns(n_inputs: int, pattern_size: int, n_patterns: int, hamming: int | None,
                  rng: np.random.Generator) -> np.ndarray:
    """``n_patterns`` random patterns with ``pattern_size`` active inputs. With ``hamming``
    (even), patterns 1.. are pattern 0 with ``hamming / 2`` of its inputs swapped for inactive
    ones, disjoint swaps, so each is at Hamming distance ``hamming`` from pattern 0 and
    ``2 * hamming`` from each other."""
    if hamming is not None:
        half = hamming // 2
        if hamming % 2 or half * (n_patterns - 1) > min(pattern_size, n_inputs - pattern_size):
            raise ValueError(f"hamming={hamming} must be even and leave room for {n_patterns - 1} "
                             f"disjoint swaps of {half} inputs in patterns of {pattern_size}/{n_inputs}")
    base = np.zeros(n_inputs, bool)
    base[rng.choice(n_inputs, pattern_size, replace=False)] = True
    out = [base]
    on, off = rng.permutation(np.flatnonzero(base)), rng.permutation(np.flatnonzero(~base))
    for m in range(1, n_patterns):
        if hamming is None:
            q = np.zeros(n_inputs, bool)
            q[rng.choice(n_inputs, pattern_size, replace=False)] = True
        else:
            q = base.copy()
            q[on[(m - 1) * half:m * half]] = False
            q[off[(m - 1) * half:m * half]] = True
        out.append(q)
    return np.array(out)


def overlap_sweep(n_inputs: int, pattern_size: int, n_patterns: int, distances, config: PatternConfig,
                  trials: int = 3, seed: int = 0, n_negatives: int = 20) -> list[dict]:
    """Accuracy of a network trained on ``n_patterns`` patterns at each Hamming distance
    (from pattern 0), mean over ``trials`` random pattern sets."""
    rows = []
    for h in distances:
        acc = []
        for t in range(trials):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 5, int(h), t]))
            p = make_patterns(n_inputs, pattern_size, n_patterns, int(h), rng)
            det = PatternDetector(n_inputs, n_patterns, config, pattern_size, seed=seed + 1000 * t + int(h))
            det.fit(p)
            acc.append(det.evaluate(p, n_negatives=n_negatives)["accuracy"])
        rows.append({"n_patterns": n_patterns, "hamming": int(h), "accuracy": float(np.mean(acc)),
                     "accuracy_std": float(np.std(acc)), "trials": trials})
    return rows


# -- plots -----------------------------------------------------------------------------------


def plot_weights(model: PatternDetector, path: str | os.PathLike) -> Path:
    """Weights over training of each output: pattern synapses vs the others."""
    from snn.plot import pyplot, save_figure

    plt = pyplot()
    h = model.history
    fig, axes = plt.subplots(1, model.n_outputs, figsize=(4.5 * model.n_outputs, 3.5), squeeze=False)
    for m, ax in enumerate(axes[0]):
        w = h["weights"][:, :, m] * 1e3
        member = h["patterns"][m]
        ax.plot(h["times"], w[:, member], color="tab:red", lw=0.8)
        ax.plot(h["times"], w[:, ~member], color="tab:gray", lw=0.5, alpha=0.6)
        ax.set_title(f"output {m}: pattern (red) vs other (grey) inputs")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("weight (mV)")
    return save_figure(fig, path)


def plot_raster(model: PatternDetector, path: str | os.PathLike, presentations: int | None = None) -> Path:
    """Input and output spikes of the last test (the first ``presentations``, default all)."""
    from snn.plot import pyplot, save_figure

    plt = pyplot()
    res = getattr(model, "test_results", None)
    if res is None:
        raise ValueError("plot_raster needs a prior respond/evaluate call")
    end = np.inf if presentations is None else presentations * round(model.config.interval / model.config.dt)
    fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for ax, name, color in zip(axes, ("in_spikes", "out_spikes"), ("k", "tab:red"), strict=True):
        rec = res[name]
        keep = rec.steps < end
        ax.scatter(rec.times[keep], rec.indices[keep], s=3 if name == "in_spikes" else 30, c=color,
                   marker="|" if name == "out_spikes" else ".", rasterized=True)
        ax.set_ylabel("input" if name == "in_spikes" else "output")
    axes[1].set_xlabel("time (s)")
    fig.suptitle("pattern detector test: inputs (patterns every interval, plus noise) and detections")
    return save_figure(fig, path)


def plot_overlap(rows: list[dict], path: str | os.PathLike) -> Path:
    """Accuracy against Hamming distance, one line per number of patterns."""
    from snn.plot import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for n in sorted({r["n_patterns"] for r in rows}):
        sel = [r for r in rows if r["n_patterns"] == n]
        ax.errorbar([r["hamming"] for r in sel], [r["accuracy"] for r in sel],
                    yerr=[r["accuracy_std"] for r in sel], marker="o", capsize=3, label=f"{n} patterns")
    ax.set_xlabel("Hamming distance from pattern 0")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend()
    return save_figure(fig, path)


# -- the command-line entry point ------------------------------------------------------------


def train_pattern(dataset: str = "patterns", data_dir: str | None = None, neurons: int | None = None,
                  epochs: int = 1, seed: int = 0, progress: bool = False, out_dir: str | None = None,
                  **options) -> dict:
    """Train a single-pattern detector on ``neurons`` inputs (default 32, pattern of half of
    them), test it, and sweep accuracy against Hamming distance for 2 and 3 patterns.
    ``dataset`` and ``data_dir`` are ignored (the patterns are generated from ``seed``);
    ``epochs`` multiplies the training presentations. Options: :class:`PatternConfig` fields,
    ``pattern_size``, ``distances`` (list of even ints), ``trials``, ``sweep`` (False skips it)."""
    n_inputs = 32 if neurons is None else check_int("neurons", neurons, minimum=4)
    pattern_size = int(options.pop("pattern_size", n_inputs // 2))
    distances = options.pop("distances", None)
    trials = int(options.pop("trials", 3))
    sweep = bool(options.pop("sweep", True))
    known = {f.name for f in fields(PatternConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown pattern option(s) {unknown}; valid: {sorted(known)}, "
                         "pattern_size, distances, trials, sweep")
    base = PatternConfig(**options)
    config = PatternConfig(**{**asdict(base), "presentations": base.presentations * int(epochs)})
    t0 = time.perf_counter()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 6]))
    single = make_patterns(n_inputs, pattern_size, 1, None, rng)
    model = PatternDetector(n_inputs, 1, config, pattern_size, seed=seed)
    model.fit(single)
    scores = model.evaluate(single)
    rows: list[dict] = []
    if sweep:
        limit = min(pattern_size, n_inputs - pattern_size)
        if distances is None:
            distances = [d for d in (2, 4, 8, 12, 16, 24, 32) if d // 2 * 2 <= limit]
        steps = [(n, d) for n in (2, 3) for d in distances if d // 2 * (n - 1) <= limit]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(steps), desc="overlap sweep")
        for n, d in steps:
            rows += overlap_sweep(n_inputs, pattern_size, n, [d], config, trials, seed)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    result = {"rule": "pattern", "test_accuracy": scores["accuracy"],
              "detection_rate": scores["detection_rate"],
              "false_positive_rate": scores["false_positive_rate"], "n_inputs": n_inputs,
              "pattern_size": pattern_size, "overlap": rows, "seed": int(seed),
              "epochs": int(epochs), "wall_s": time.perf_counter() - t0, "checkpoint": None,
              "config": asdict(config)}
    result["history"] = [{"epoch": int(epochs), "train_accuracy": scores["detection_rate"],
                          "test_accuracy": scores["accuracy"], "wall_s": result["wall_s"]}]
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result["checkpoint"] = str(model.save(out / "pattern.h5"))
        _write_results(out / "pattern_results.h5", result, model)
        plot_weights(model, out / "pattern_weights.png")
        plot_raster(model, out / "pattern_raster.png")
        if rows:
            plot_overlap(rows, out / "pattern_overlap.png")
    return result


def _write_results(path: Path, result: dict, model: PatternDetector) -> None:
    import json

    with atomic_h5(path, "synaptica-rule-results") as fh:
        fh.attrs["result"] = json.dumps(result)
        fh.create_dataset("history/times", data=model.history["times"])
        fh.create_dataset("history/weights", data=model.history["weights"])
        fh.create_dataset("patterns", data=model.history["patterns"].astype(np.uint8))
        if result["overlap"]:
            fh.create_dataset("overlap/n_patterns", data=[r["n_patterns"] for r in result["overlap"]])
            fh.create_dataset("overlap/hamming", data=[r["hamming"] for r in result["overlap"]])
            fh.create_dataset("overlap/accuracy", data=[r["accuracy"] for r in result["overlap"]])


__all__ = ["PatternConfig", "PatternDetector", "make_patterns", "overlap_sweep", "train_pattern",
           "plot_weights", "plot_raster", "plot_overlap"]
