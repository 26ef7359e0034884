"""Benchmarks of training.

``bench_bptt``: our BPTT against snnTorch on the same network, one training step, in one
process. Both get the same weights, the same Bernoulli input (rate 0.2) and the same loss
(cross-entropy on output spike counts); a step is one mini-batch forward and backward pass.
Memory is what autograd keeps for the backward pass, counted with
``torch.autograd.graph.saved_tensors_hooks`` for both, each storage once (a weight saved at
every step is one weight). The two run alternately, ``repeat`` times, and the median counts.

``bench_rules``: every learning rule and BPTT (ours, and snnTorch's on the same encoded
batches) trained on the same architecture, data, encoder and number of epochs; see
:class:`RulesBenchConfig` for what each row reports and how it is measured.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rules.metrics import METRIC_KEYS
from snn.datasets import Dataset
from snn.validate import check_int


def _saved_bytes(fn) -> int:
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn()
    loss.backward()
    return sum(seen.values())


def _snntorch_twin(sizes: list[int], ours, beta: float, slope: float, readout: str = "lif"):
    """snnTorch's network with the weights of ``ours``: ``snntorch.Leaky`` layers (subtractive
    reset); the output is the spike count of a LIF last layer (``readout="lif"``) or, for an LI
    read-out (``"li"``, a ``Leaky`` that never resets, ``v = beta v + input``), the largest
    membrane potential over time, as :class:`rules.bptt.BPTT` decodes it."""
    import snntorch
    from snntorch import surrogate

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fcs = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                                strict=True))
            self.lifs = torch.nn.ModuleList(
                snntorch.Leaky(beta=beta, spike_grad=surrogate.fast_sigmoid(slope=slope),
                               reset_mechanism="none" if readout == "li" and i == len(sizes) - 2
                               else "subtract", reset_delay=False)
                for i in range(len(sizes) - 1))

        def forward(self, x):
            mems = [lif.init_leaky() for lif in self.lifs]
            out = None
            for k in range(x.shape[0]):
                h = x[k]
                for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs, strict=True)):
                    h, mems[i] = lif(fc(h), mems[i])
                if readout == "li":
                    out = mems[-1] if out is None else torch.maximum(out, mems[-1])
                else:
                    out = h if out is None else out + h
            return out

    twin = Twin().to(ours[0].weight.device)
    with torch.no_grad():
        for fc, layer in zip(twin.fcs, ours, strict=True):
            fc.weight.copy_(layer.weight)
            fc.bias.copy_(layer.bias)
    return twin


BPTT_PEERS = ("snntorch", "spikingjelly")  # peers of bench_bptt (snn.peers.spikingjelly_bptt)


def bench_bptt(arch: str = "784-500-10", steps: int = 25, batch: int = 128, device: str = "cpu",
               repeat: int = 5, vs: tuple[str, ...] = ("snntorch",), seed: int = 0,
               beta: float = 0.9, slope: float = 25.0, chunk_steps: int | None = 25) -> dict:
    """Time per training step and memory saved for backward, ours and each peer of
    :data:`BPTT_PEERS` in ``vs`` (SpikingJelly: its multi-step LIF kernels with
    ``SoftSign(alpha=slope)``, our fast sigmoid scaled by ``slope / 2``; its row names its
    ``version``, ``implementation`` and ``surrogate``; see :mod:`snn.peers.spikingjelly_bptt`).

    ``kernels`` in the report names what ran our layers' time loops: ``"numba"`` (the CPU
    loops), ``"triton"`` (the fused CUDA kernels) or ``"torch"``. With ``"triton"`` the row
    ``unfused`` is the same network with the kernels switched off (the torch loop), and on CUDA
    every row also has ``cuda_peak_bytes`` (:func:`rules.base.cuda_peak_bytes`).
    """
    from rules.base import cuda_peak_bytes
    from rules.bptt import mlp
    from snn.layers import mark_binary
    from snn.surrogate import FastSigmoid
    from snn.training import fused_gpu

    sizes = [int(s) for s in arch.split("-")]
    torch.manual_seed(seed)
    net = mlp(sizes, beta=beta, readout="lif", surrogate=FastSigmoid(slope),
              chunk_steps=chunk_steps).to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    x = mark_binary((torch.rand(steps, batch, sizes[0], generator=gen, device=device) < 0.2).float())
    y = torch.randint(0, sizes[-1], (batch,), generator=gen, device=device)
    runners = {"synaptica": lambda: torch.nn.functional.cross_entropy(net(x).sum(0), y)}
    models = {"synaptica": net}
    kernels = ("triton" if fused_gpu.runs(x, net[0].surrogate)
               else "numba" if x.device.type == "cpu" else "torch")
    if kernels == "triton":
        def unfused():
            with fused_gpu.dispatch("off"):
                out = net(x)
            return torch.nn.functional.cross_entropy(out.sum(0), y)

        runners["unfused"], models["unfused"] = unfused, net
    notes = {}
    for peer in vs:
        if peer == "snntorch":
            twin = _snntorch_twin(sizes, net, beta, slope)
        elif peer == "spikingjelly":
            from snn.peers import spikingjelly_bptt

            twin, exact = spikingjelly_bptt.twin(sizes, net, beta, FastSigmoid(slope))
            notes[peer] = {"version": spikingjelly_bptt.version(),
                           "surrogate": f"SoftSign(alpha={slope:g})", "surrogate_exact": exact}
        else:
            raise ValueError(f"--vs {peer!r} is unknown; choose from {', '.join(BPTT_PEERS)}")
        runners[peer] = lambda twin=twin: torch.nn.functional.cross_entropy(twin(x), y)
        models[peer] = twin
    memory = {name: _saved_bytes(fn) for name, fn in runners.items()}
    cuda_peak = {}
    if device.startswith("cuda"):
        for name, fn in runners.items():
            cuda_peak[name] = cuda_peak_bytes(
                lambda fn=fn, name=name: (models[name].zero_grad(set_to_none=True), fn().backward()),
                device)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeat):
        for name, fn in runners.items():
            models[name].zero_grad(set_to_none=True)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn().backward()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    report = {
        "arch": arch, "steps": steps, "batch": batch, "device": device, "repeat": repeat,
        "chunk_steps": chunk_steps,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "time_per_step_s": statistics.median(times["synaptica"]),
        "peak_memory_bytes": memory["synaptica"], "kernels": kernels,
    }
    for name, peak in cuda_peak.items():
        (report if name == "synaptica" else report.setdefault(name, {}))["cuda_peak_bytes"] = peak
    if "unfused" in runners:
        report.setdefault("unfused", {}).update(time_per_step_s=statistics.median(times["unfused"]),
                                                peak_memory_bytes=memory["unfused"])
        report["speedup_vs_unfused"] = (report["unfused"]["time_per_step_s"]
                                        / report["time_per_step_s"])
    for peer in vs:
        report.setdefault(peer, {}).update(time_per_step_s=statistics.median(times[peer]),
                                           peak_memory_bytes=memory[peer], **notes.get(peer, {}))
        if peer == "spikingjelly":  # after the steps: what SpikingJelly selected on CUDA
            report[peer]["implementation"] = spikingjelly_bptt.implementation(device)
    if vs:
        ref = report[vs[0]]
        report["time_ratio"] = report["time_per_step_s"] / ref["time_per_step_s"]
        report["memory_ratio"] = report["peak_memory_bytes"] / ref["peak_memory_bytes"]
    return report


# -- the rules benchmark ------------------------------------------------------------------------

DEFAULT_RULES = ("tess", "ff", "ccl", "softhebb", "bptt")
MEMORY_STEPS = (10, 50, 200, 400)
SNNTORCH_ROW = "snntorch-bptt"
RULES_BENCH_FORMAT = "synaptica-rules-bench"
_SNNTORCH_BETA, _SNNTORCH_SLOPE = 0.9, 25.0


@dataclass
class RulesBenchConfig:
    """What :func:`bench_rules` runs.

    Every rule in ``rules`` (``bptt`` is added when missing: it is the reference) is built with
    ``Rule.build(sizes, steps=steps, encoder=encoder, seed=seed, device=device,
    batch_size=batch)`` and trained for ``epochs`` on the same data. Each row reports:

    - ``test_accuracy`` after the last epoch (fraction in [0, 1]);
    - ``wall_s_per_epoch``: mean training time of an epoch in seconds (evaluation excluded);
    - ``peak_memory_bytes``: :func:`rules.base.peak_training_bytes` of one ``train_batch`` on a
      fixed encoded batch of ``batch`` training samples at ``steps`` (plus the rule's
      ``state_bytes(batch, steps)`` where it has one);
    - ``memory_by_T``: the same for a freshly built rule at each T of ``memory_steps`` (measured
      before training, so that these steps also warm up what the timed epochs use);
    - ``allocated_by_T``: the allocator's peak of a step that starts from the images (encoding
      or streaming included) at each T of ``memory_steps``: what a device must hold, inputs
      included (:func:`_allocated_bytes`);
    - ``synaptic_ops_per_sample``: ``rule.synaptic_ops`` of the fixed batch after training.

    ``snntorch`` adds snnTorch's BPTT (row ``snntorch-bptt``: the bptt row's network, LI
    read-out decoded by its largest membrane potential, Adam at BPTT's default learning rate,
    BPTT's initial weights and the same encoded batches in the same order) when snntorch is
    installed. ``skip_failures``
    reports a rule that raises as skipped instead of failing the run; a rule whose module does
    not import is always skipped.
    """

    rules: tuple[str, ...] = DEFAULT_RULES
    sizes: tuple[int, ...] = (784, 500, 10)
    steps: int = 25
    epochs: int = 3
    batch: int = 128
    seed: int = 0
    device: str = "cpu"
    encoder: str = "rate"
    memory_steps: tuple[int, ...] = MEMORY_STEPS
    snntorch: bool = True
    skip_failures: bool = False

    def __post_init__(self) -> None:
        import rules as registry
        from snn.encoding import ENCODERS

        if isinstance(self.rules, str):
            raise TypeError("rules must be a sequence of rule names, e.g. ('tess', 'bptt'), not a string")
        names = list(dict.fromkeys(self.rules))
        unknown = [n for n in names if n not in registry.available()]
        if unknown:
            raise ValueError(f"rules {', '.join(map(repr, unknown))} unknown; available rules: "
                             f"{', '.join(registry.available())}")
        if "bptt" not in names:
            names.append("bptt")
        self.rules = tuple(names)
        self.sizes = tuple(check_int("sizes[i]", s, minimum=1) for s in self.sizes)
        if len(self.sizes) < 2:
            raise ValueError(f"sizes must list at least two layer sizes (e.g. (784, 500, 10)), "
                             f"got {self.sizes}")
        for name in ("steps", "epochs", "batch"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("seed", self.seed, minimum=0)
        self.memory_steps = tuple(check_int("memory_steps[i]", t, minimum=1) for t in self.memory_steps)
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder {self.encoder!r} is unknown; choose from {', '.join(ENCODERS)}")
        if not str(self.device).startswith(("cpu", "cuda")):
            raise ValueError(f"device must be 'cpu' or 'cuda[:n]', got {self.device!r}")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} asked for but torch sees no CUDA device; use 'cpu'")


class _Batches:
    """The fixed encoded batches memory and synaptic operations are measured on: the first
    ``batch`` training samples, encoded at T steps with a generator seeded by ``seed``."""

    def __init__(self, train: Dataset, config: RulesBenchConfig) -> None:
        n = min(config.batch, len(train))
        self.x = torch.as_tensor(train[:n].to_float32(), device=config.device)
        self.y = torch.as_tensor(np.asarray(train.labels[:n], dtype=np.int64), device=config.device)
        self.config = config
        self._cache: dict[int, torch.Tensor] = {}

    def __call__(self, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        if steps not in self._cache:
            gen = torch.Generator(device=self.config.device).manual_seed(self.config.seed)
            self._cache[steps] = _encode(self.x, steps, self.config.encoder, gen)
        return self._cache[steps], self.y


def _encode(x: torch.Tensor, steps: int, encoder: str, gen: torch.Generator) -> torch.Tensor:
    from snn.encoding import ENCODERS

    if encoder == "rate":
        return ENCODERS["rate"](x, steps, generator=gen)
    return ENCODERS[encoder](x, steps)


def _training_bytes(rule, x: torch.Tensor, y: torch.Tensor, device: str) -> int:
    from rules.base import peak_training_bytes

    state = rule.state_bytes(x.shape[1], x.shape[0]) if hasattr(rule, "state_bytes") else 0
    return peak_training_bytes(lambda: rule.train_batch(x, y), device, int(state))


def _allocated_bytes(train_batch, encode, images: torch.Tensor, y: torch.Tensor, seed: int,
                     device: str) -> int:
    """The allocator's peak (:func:`rules.base.cuda_peak_bytes` on CUDA,
    :func:`rules.base.cpu_peak_bytes` on the CPU) of one training step that starts from the
    images: ``train_batch(encode(images, generator), y)``, so the encoded input, every
    temporary and the saved tensors all count (a rule that streams its input holds a chunk of
    it at a time)."""
    from rules.base import cpu_peak_bytes, cuda_peak_bytes

    def step() -> None:
        train_batch(encode(images, torch.Generator(device=device).manual_seed(seed)), y)

    return cuda_peak_bytes(step, device) if device.startswith("cuda") else cpu_peak_bytes(step)


NEUROBENCH_SAMPLES = 64


def _neurobench(model, test: Dataset) -> dict:
    """:func:`rules.metrics.neurobench_metrics` of ``model`` over its own ``evaluate`` on the
    first :data:`NEUROBENCH_SAMPLES` test samples; empty for a model without torch modules."""
    from rules.metrics import model_modules, neurobench_metrics

    modules = model_modules(model)
    if not modules:
        return {}
    n = min(NEUROBENCH_SAMPLES, len(test))
    return neurobench_metrics(modules, lambda: model.evaluate(test[:n]), n)


def _bench_rule(cls, train: Dataset, test: Dataset, config: RulesBenchConfig, batches: _Batches,
                progress: bool) -> dict:
    def build(steps: int):
        return cls.build(list(config.sizes), steps=steps, encoder=config.encoder, seed=config.seed,
                         device=config.device, batch_size=config.batch)

    by_t, allocated = {}, {}  # measured first: the fresh instances also warm up what fit uses
    for steps in config.memory_steps:
        xt, yt = batches(steps)
        by_t[str(steps)] = _training_bytes(build(steps), xt, yt, config.device)
        fresh = build(steps)
        encode = getattr(fresh, "_stream", None) or getattr(fresh, "_encode", None) or (
            lambda x, gen, t=steps: _encode(x, t, config.encoder, gen))  # a rule that takes spikes
        allocated[str(steps)] = _allocated_bytes(fresh.train_batch, encode, batches.x, batches.y,
                                                 config.seed, config.device)
    rule = build(config.steps)
    history = rule.fit(train, test, epochs=config.epochs, progress=progress)
    x, y = batches(config.steps)
    ops = float(rule.synaptic_ops(x))
    nb = _neurobench(rule, test)
    peak = _training_bytes(rule, x, y, config.device)
    return {"test_accuracy": float(history[-1].test_accuracy),
            "wall_s_per_epoch": float(np.mean([h.wall_s for h in history])),
            "peak_memory_bytes": int(peak), "memory_by_T": by_t, "allocated_by_T": allocated,
            "synaptic_ops_per_sample": ops, **nb}


class _SnnTorchBPTT:
    """snnTorch's BPTT on the rules benchmark's terms (see :class:`RulesBenchConfig`)."""

    def __init__(self, config: RulesBenchConfig) -> None:
        from rules.bptt import BPTTConfig, mlp

        torch.manual_seed(config.seed)
        # The architecture, initial weights and LI read-out of the bptt row (BPTT.build's mlp).
        ours = mlp(list(config.sizes), beta=_SNNTORCH_BETA, readout="li").to(config.device)
        self.net = _snntorch_twin(list(config.sizes), ours, _SNNTORCH_BETA, _SNNTORCH_SLOPE,
                                  readout="li")
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=BPTTConfig().lr)
        self.config = config

    def train_batch(self, x: torch.Tensor, y: torch.Tensor) -> None:
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def fit(self, train: Dataset) -> list[float]:
        """Train as ``BPTT.fit`` does (same batch order and encoder noise); epoch wall times (s)."""
        from rules.base import batch_order, epoch_generator

        cfg = self.config
        x_all = torch.as_tensor(train.to_float32(), device=cfg.device)
        y_all = torch.as_tensor(np.asarray(train.labels, dtype=np.int64), device=cfg.device)
        walls = []
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            order = batch_order(len(train), cfg.seed, epoch)
            gen = epoch_generator(cfg.seed, epoch, cfg.device)
            for start in range(0, len(order), cfg.batch):
                idx = torch.as_tensor(order[start:start + cfg.batch], device=cfg.device)
                self.train_batch(_encode(x_all[idx], cfg.steps, cfg.encoder, gen), y_all[idx])
            walls.append(time.perf_counter() - t0)
        return walls

    @torch.no_grad()
    def evaluate(self, ds: Dataset, batch_size: int = 512) -> float:
        """Accuracy with the encoder noise ``BPTT.evaluate`` uses."""
        cfg = self.config
        x_all = torch.as_tensor(ds.to_float32(), device=cfg.device)
        y_all = torch.as_tensor(np.asarray(ds.labels, dtype=np.int64), device=cfg.device)
        gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed + 7)
        correct = 0
        for start in range(0, len(ds), batch_size):
            x = _encode(x_all[start:start + batch_size], cfg.steps, cfg.encoder, gen)
            correct += int((self.net(x).argmax(1) == y_all[start:start + batch_size]).sum())
        return correct / len(ds)

    @torch.no_grad()
    def synaptic_ops(self, x: torch.Tensor) -> float:
        """Counted as :meth:`rules.bptt.BPTT.synaptic_ops` counts them."""
        steps, batch = x.shape[:2]
        mems = [lif.init_leaky() for lif in self.net.lifs]
        events = [0] * len(self.net.fcs)
        for k in range(steps):
            h = x[k]
            for i, (fc, lif) in enumerate(zip(self.net.fcs, self.net.lifs, strict=True)):
                events[i] += int(torch.count_nonzero(h))
                h, mems[i] = lif(fc(h), mems[i])
        forward = sum(e * fc.out_features for e, fc in zip(events, self.net.fcs, strict=True)) / batch
        backward = sum(steps * fc.weight.numel() * (1 if i == 0 else 2) for i, fc in enumerate(self.net.fcs))
        update = sum(p.numel() for p in self.net.parameters()) / batch
        return forward + backward + update


def _bench_snntorch(train: Dataset, test: Dataset, config: RulesBenchConfig, batches: _Batches) -> dict:
    from rules.base import peak_training_bytes

    by_t, allocated = {}, {}
    for steps in config.memory_steps:
        xt, yt = batches(steps)
        fresh = _SnnTorchBPTT(config)
        by_t[str(steps)] = peak_training_bytes(lambda f=fresh, a=xt, b=yt: f.train_batch(a, b), config.device)
        allocated[str(steps)] = _allocated_bytes(
            _SnnTorchBPTT(config).train_batch,
            lambda x, gen, t=steps: _encode(x, t, config.encoder, gen), batches.x, batches.y,
            config.seed, config.device)
    model = _SnnTorchBPTT(config)
    walls = model.fit(train)
    x, y = batches(config.steps)
    ops = model.synaptic_ops(x)
    nb = _neurobench(model, test)
    peak = peak_training_bytes(lambda: model.train_batch(x, y), config.device)
    return {"test_accuracy": model.evaluate(test), "wall_s_per_epoch": float(np.mean(walls)),
            "peak_memory_bytes": int(peak), "memory_by_T": by_t, "allocated_by_T": allocated,
            "synaptic_ops_per_sample": float(ops),
            **nb}


class BenchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`bench_rules`; ``report`` is its report of the rules that finished
    before (``interrupted_in`` names the rule that was running)."""

    def __init__(self, report: dict) -> None:
        super().__init__(f"interrupted during rule {report['interrupted_in']!r}")
        self.report = report


def bench_rules(train: Dataset, test: Dataset, config: RulesBenchConfig | None = None,
                dataset: str = "custom", progress: bool = False, done: list[dict] | None = None) -> dict:
    """Train every rule of ``config`` (and snnTorch's BPTT) on ``train``, test on ``test``.

    Returns ``{"rows": [...], ...metadata}``: one row per rule (keys ``rule``, ``test_accuracy``,
    ``wall_s_per_epoch``, ``peak_memory_bytes``, ``memory_by_T`` (T as a string -> bytes),
    ``synaptic_ops_per_sample``), and ``skipped`` (rule, reason) for rules that did not run.
    Everything but the wall times is the same on every CPU run with the same seed.
    ``progress`` shows a bar on stderr (and the rules' own epoch bars). ``done``: rows of an
    earlier, interrupted run with the same config, kept and not run again. Ctrl-C raises
    :class:`BenchInterrupted` carrying the report of the rules finished so far.
    """
    import rules as registry

    config = config if config is not None else RulesBenchConfig()
    if config.sizes[0] != int(np.prod(train.image_shape)):
        raise ValueError(f"sizes start with {config.sizes[0]} inputs but the images have "
                         f"{int(np.prod(train.image_shape))} pixels; change the architecture")
    batches = _Batches(train, config)
    rows, skipped, notes = list(done or []), [], []
    finished = {r["rule"] for r in rows}
    jobs: list[str] = list(config.rules)
    snntorch_version = None
    if config.snntorch:
        try:
            import snntorch

            snntorch_version = snntorch.__version__
            jobs.append(SNNTORCH_ROW)
        except ImportError:
            notes.append("snntorch is not installed: no snntorch-bptt row (pip install snntorch)")

    def report() -> dict:
        cpu_memory = ("peak bytes autograd saves for backward plus the rule's state_bytes; "
                      "allocated_by_T: CPU allocator peak of a step from the images")
        return {
            "rows": rows, "skipped": skipped, "notes": notes, "dataset": dataset,
            "arch": "-".join(map(str, config.sizes)), "steps": config.steps, "epochs": config.epochs,
            "batch": config.batch, "seed": config.seed, "device": config.device, "encoder": config.encoder,
            "memory_steps": list(config.memory_steps), "n_train": len(train), "n_test": len(test),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "snntorch": snntorch_version,
            "memory_method": ("CUDA allocator peak above the step's start (allocated_by_T: of a "
                              "step from the images)"
                              if config.device.startswith("cuda") else cpu_memory),
            "config": asdict(config),
        }

    bar = _rules_bar(len(jobs), progress)
    for name in jobs:
        if bar is not None:
            bar.set_description(f"bench rules: {name}")
        if name in finished:
            if bar is not None:
                bar.update(1)
            continue
        try:
            if name == SNNTORCH_ROW:
                row = _bench_snntorch(train, test, config, batches)
            else:
                try:
                    cls = registry.get(name)
                except ImportError as err:
                    skipped.append({"rule": name, "reason": f"does not import: {err}"})
                    continue
                row = _bench_rule(cls, train, test, config, batches, progress)
        except KeyboardInterrupt:
            raise BenchInterrupted({**report(), "interrupted_in": name}) from None
        except Exception as err:  # a third-party rule may raise anything; report which one failed
            if not config.skip_failures:
                raise RuntimeError(f"rule {name!r} failed in the benchmark: "
                                   f"{type(err).__name__}: {err}") from err
            skipped.append({"rule": name, "reason": f"{type(err).__name__}: {err}"})
            continue
        finally:
            if bar is not None:
                bar.update(1)
        rows.append({"rule": name, **row})
    if bar is not None:
        bar.close()
    return report()


def _rules_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rule", desc="bench rules")


_COLUMNS = ("rule", "test_accuracy", "wall_s_per_epoch", "peak_memory_bytes")


def _flat_rows(report: dict) -> tuple[list[str], list[list]]:
    steps = report["memory_steps"]
    header = [*_COLUMNS, *(f"memory_T{t}_bytes" for t in steps), *(f"allocated_T{t}_bytes" for t in steps),
              "synaptic_ops_per_sample", *METRIC_KEYS]
    rows = [[r[c] for c in _COLUMNS] + [r["memory_by_T"][str(t)] for t in steps]
            + [r["allocated_by_T"][str(t)] for t in steps]
            + [r["synaptic_ops_per_sample"]] + [r.get(k, float("nan")) for k in METRIC_KEYS]
            for r in report["rows"]]
    return header, rows


def write_rules_bench(report: dict, out: str | os.PathLike, stem: str = "rules_bench") -> dict[str, str]:
    """Write ``report`` (from :func:`bench_rules`) to ``out/stem.csv``, ``.h5`` and ``.png``,
    each atomically; returns the paths by kind (``csv``, ``h5``, ``png``)."""
    from snn import plot
    from snn.h5io import atomic_h5, temporary_sibling

    out = Path(out)
    header, rows = _flat_rows(report)
    csv_path = out / f"{stem}.csv"
    tmp = temporary_sibling(csv_path)
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, csv_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    h5_path = out / f"{stem}.h5"
    width = max([len(r[0]) for r in rows] + [1])
    dtype = np.dtype([("rule", f"S{width}"), ("test_accuracy", "f8"), ("wall_s_per_epoch", "f8"),
                      ("peak_memory_bytes", "i8"),
                      *((name, "i8") for name in header[len(_COLUMNS):-1 - len(METRIC_KEYS)]),
                      ("synaptic_ops_per_sample", "f8"),
                      *((k, "f8") for k in METRIC_KEYS)])
    table = np.array([tuple([r[0].encode(), *r[1:]]) for r in rows], dtype=dtype)
    meta = {k: v for k, v in report.items() if k != "rows"}
    with atomic_h5(h5_path, RULES_BENCH_FORMAT) as fh:
        fh.create_dataset("table", data=table)
        fh.attrs["meta"] = json.dumps(meta, default=float)
    png = plot.rules_comparison(report["rows"], out / f"{stem}.png",
                                f"{report['dataset']} {report['arch']}, T={report['steps']}, "
                                f"{report['epochs']} epochs")
    return {"csv": str(csv_path), "h5": str(h5_path), "png": str(png)}


def read_rules_bench(path: str | os.PathLike) -> dict:
    """Read a table written by :func:`write_rules_bench` back into :func:`bench_rules`'s form."""
    from snn.h5io import open_checked

    with open_checked(path, RULES_BENCH_FORMAT, "rules benchmark table") as fh:
        meta = json.loads(fh.attrs["meta"])
        table = fh["table"][()]
    rows = []
    for rec in table:
        rows.append({"rule": rec["rule"].decode(), "test_accuracy": float(rec["test_accuracy"]),
                     "wall_s_per_epoch": float(rec["wall_s_per_epoch"]),
                     "peak_memory_bytes": int(rec["peak_memory_bytes"]),
                     "memory_by_T": {str(t): int(rec[f"memory_T{t}_bytes"]) for t in meta["memory_steps"]},
                     "allocated_by_T": {str(t): int(rec[f"allocated_T{t}_bytes"])
                                        for t in meta["memory_steps"]},
                     "synaptic_ops_per_sample": float(rec["synaptic_ops_per_sample"]),
                     **{k: float(rec[k]) for k in METRIC_KEYS  # NaN: not measured
                        if k in table.dtype.names and np.isfinite(rec[k])}})
    return {"rows": rows, **meta}
