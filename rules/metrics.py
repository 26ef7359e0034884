"""NeuroBench's standard static and workload metrics, measured the same way for every rule.

Definitions (NeuroBench, Yik et al. 2024, "The neurobench framework for benchmarking
neuromorphic computing algorithms and systems"):

- **footprint** (bytes): the memory of every parameter and buffer of the model's modules,
  each tensor once (``numel * element_size``).
- **connection sparsity** (fraction): zero weights / all weights, over the ``weight`` of every
  synaptic layer (``nn.Linear``, ``nn.Conv1d/2d``, :class:`snn.layers.SpikingLayer`: ``Linear``,
  ``Conv2d``; a module reported by :func:`observe_synapses`); biases, recurrent weights and
  neuron parameters are not counted.
- **activation sparsity** (fraction): zero outputs / all outputs of every spiking-neuron layer
  (spiking :class:`snn.layers.SpikingLayer`, snnTorch's ``SpikingNeuron``, outputs reported by
  :func:`observe_spikes`; a membrane read-out is not spiking), over all neurons, time steps and
  samples of the forward pass.
- **synaptic operations** (per sample): for every synaptic layer, the multiply-accumulates
  with a non-zero input AND a non-zero weight (effective operations: a zero input or a pruned
  weight costs nothing on event-driven hardware). A layer whose input holds only 0 and 1
  (spikes) performs accumulates, **ACs**; any other input (pixels, ReLU, membrane values)
  performs **MACs**. Summed over all time steps of the pass and divided by the number of
  samples. Biases are not counted.

:func:`neurobench_metrics` hooks the modules of a model, runs one inference pass that the
caller supplies (a rule's own ``evaluate`` on a few test samples), and returns all five numbers.
A rule that steps a neuron model or a synaptic product itself, outside a module call (TESS's,
forward-forward's and CCL's per-step loops, SoftHebb's winner-take-all layers), reports what the
hooks cannot see through :func:`observe_synapses` and :func:`observe_spikes` (no-ops unless a
measurement is running).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["METRIC_KEYS", "model_modules", "neurobench_metrics", "observe_spikes", "observe_synapses",
           "recomputing", "synaptic_layers", "tapped"]

METRIC_KEYS = ("footprint_bytes", "connection_sparsity", "activation_sparsity",
               "effective_macs_per_sample", "effective_acs_per_sample")


_OBSERVERS: list[Callable[[str, nn.Module, torch.Tensor], None]] = []  # running measurements
_RECOMPUTING = [0]  # > 0 inside recomputing(): nothing is counted


@contextmanager
def recomputing() -> Iterator[None]:
    """Steps run again to regenerate values a rule did not keep (a hidden layer's spikes,
    recomputed chunk by chunk for the next layer instead of stored over all steps) are not
    operations of the model: inside this block a running :func:`neurobench_metrics` counts
    nothing."""
    _RECOMPUTING[0] += 1
    try:
        yield
    finally:
        _RECOMPUTING[0] -= 1


def observe_synapses(module: nn.Module, x: torch.Tensor) -> None:
    """Report that ``module`` (with a ``weight`` ``(out, in)``) multiplied its weights by the
    input ``x`` ``(..., in)`` outside a module call; counted as a synaptic layer (operations and
    connection sparsity) by a running :func:`neurobench_metrics`."""
    if not _RECOMPUTING[0]:
        for observer in _OBSERVERS:
            observer("synapses", module, x)


def observe_spikes(module: nn.Module, out: torch.Tensor) -> None:
    """Report the outputs ``out`` (spikes, or a winner-take-all's activations) that ``module``'s
    neurons produced outside a module call; counted in the activation sparsity of a running
    :func:`neurobench_metrics`."""
    if not _RECOMPUTING[0]:
        for observer in _OBSERVERS:
            observer("spikes", module, out)


def _spiking_types() -> tuple[type, ...]:
    try:
        from snntorch import SpikingNeuron
    except ImportError:
        return ()
    return (SpikingNeuron,)


def _weight(module: nn.Module) -> torch.Tensor:
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"synaptic layer {type(module).__name__} has no weight tensor")
    return w


def _effective_ops(module: nn.Module, x: torch.Tensor) -> float:
    """Multiply-accumulates of ``module`` on ``x`` whose input and weight are both non-zero."""
    xb = (x.detach() != 0).to(torch.float64)
    wb = (_weight(module).detach() != 0).to(torch.float64)
    if wb.dim() == 4:
        return float(nn.functional.conv2d(xb.reshape(-1, *xb.shape[-3:]), wb, None, module.stride,
                                          module.padding, module.dilation if hasattr(module, "dilation")
                                          else 1, getattr(module, "groups", 1)).sum())
    if wb.dim() == 3:
        return float(nn.functional.conv1d(xb.reshape(-1, *xb.shape[-2:]), wb, None, module.stride,
                                          module.padding, module.dilation, module.groups).sum())
    return float((xb.reshape(-1, xb.shape[-1]) @ wb.T).sum())


def _is_spikes(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def model_modules(model: object) -> list[nn.Module]:
    """The ``nn.Module`` objects held by ``model`` (itself, or its attributes and lists of them;
    a module reached twice is counted once by :func:`neurobench_metrics`)."""
    if isinstance(model, nn.Module):
        return [model]
    found: list[nn.Module] = []
    for value in vars(model).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        found.extend(v for v in items if isinstance(v, nn.Module))
    return found


def synaptic_layers(modules: Iterable[nn.Module]) -> list[nn.Module]:
    """The synaptic layers among ``modules`` and their submodules, each once: ``nn.Linear``,
    ``nn.Conv1d/2d`` and :class:`snn.layers.SpikingLayer` (the layers whose ``weight`` the
    connection sparsity counts; modules reported by :func:`observe_synapses` add to them)."""
    from snn.layers import SpikingLayer

    found: dict[int, nn.Module] = {}
    for root in modules:
        for m in root.modules():
            if isinstance(m, (SpikingLayer, nn.Linear, nn.Conv1d, nn.Conv2d)):
                found[id(m)] = m
    return list(found.values())


@contextmanager
def tapped(modules: Iterable[nn.Module], on_synapses: Callable[[nn.Module, torch.Tensor], None],
           on_spikes: Callable[[nn.Module, torch.Tensor], None]) -> Iterator[None]:
    """While the block runs, report what ``modules`` (and their submodules) compute:
    ``on_synapses(layer, x)`` for every input ``x`` a synaptic layer multiplies by its weights
    (``nn.Linear`` / ``nn.Conv1d/2d`` calls, :class:`snn.layers.SpikingLayer`'s ``synapses``,
    :func:`observe_synapses`) and ``on_spikes(layer, out)`` for every output of spiking neurons
    (a spiking ``SpikingLayer``'s ``dynamics``, snnTorch's ``SpikingNeuron`` calls,
    :func:`observe_spikes`). Steps run under :func:`recomputing` are not reported. This is how
    :func:`neurobench_metrics` sees a model; the same reports can feed other counters (the
    NeuroBench agreement test hands them to ``neurobench``'s hooks)."""
    from snn.layers import SpikingLayer

    modules = list(modules)
    members = {id(m) for root in modules for m in root.modules()}
    spiking_t = _spiking_types()
    synaptic = synaptic_layers(modules)
    ours = [m for m in synaptic if isinstance(m, SpikingLayer)]
    neurons = {id(m): m for root in modules for m in root.modules() if isinstance(m, spiking_t)}

    def synapse(module: nn.Module, x: torch.Tensor) -> None:
        if not _RECOMPUTING[0]:
            on_synapses(module, x)

    def spikes(module: nn.Module, output) -> None:
        if not _RECOMPUTING[0]:
            on_spikes(module, output[0] if isinstance(output, tuple) else output)

    def observe(kind: str, module: nn.Module, x: torch.Tensor) -> None:
        if id(module) in members:
            (spikes if kind == "spikes" else synapse)(module, x)

    handles = [m.register_forward_hook(lambda mod, inp, _out: synapse(mod, inp[0]))
               for m in synaptic if not isinstance(m, SpikingLayer)]
    handles += [m.register_forward_hook(lambda mod, _i, out: spikes(mod, out)) for m in neurons.values()]
    # snn.layers run either forward or forward_chunk; both go through synapses and dynamics.
    for layer in ours:
        def synapses_of(x, layer=layer, inner=layer.synapses):
            synapse(layer, x)
            return inner(x)

        def dynamics_of(*args, layer=layer, inner=layer.dynamics, **kw):
            out = inner(*args, **kw)
            if layer.spiking:
                spikes(layer, out)
            return out

        layer.synapses, layer.dynamics = synapses_of, dynamics_of
    _OBSERVERS.append(observe)
    try:
        yield
    finally:
        _OBSERVERS.remove(observe)
        for h in handles:
            h.remove()
        for layer in ours:
            del layer.synapses, layer.dynamics


def neurobench_metrics(modules: Iterable[nn.Module], run: Callable[[], object], n_samples: int) -> dict:
    """NeuroBench's metrics (module docstring) of ``modules`` over the pass ``run()``, which
    feeds ``n_samples`` samples through them; returns the :data:`METRIC_KEYS`."""
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int (samples fed by run), got {n_samples!r}")
    modules = list(modules)
    tensors: dict[int, torch.Tensor] = {}
    for root in modules:
        for m in root.modules():
            for t in (*m.parameters(recurse=False), *m.buffers(recurse=False)):
                tensors[id(t)] = t
    synaptic = {id(m): m for m in synaptic_layers(modules)}
    counts = {"mac": 0.0, "ac": 0.0, "zero_act": 0, "act": 0, "seen": 0}

    def synapse(module: nn.Module, x: torch.Tensor) -> None:
        synaptic.setdefault(id(module), module)  # a module reported by observe_synapses
        counts["ac" if _is_spikes(x) else "mac"] += _effective_ops(module, x)
        counts["seen"] += 1

    def spikes(_module: nn.Module, s: torch.Tensor) -> None:
        counts["zero_act"] += int((s == 0).sum())
        counts["act"] += s.numel()

    with torch.no_grad(), tapped(modules, synapse, spikes):
        run()
    weights = [_weight(m).detach() for m in synaptic.values()]
    n_weights = sum(w.numel() for w in weights)
    return {
        "footprint_bytes": int(sum(t.numel() * t.element_size() for t in tensors.values())),
        "connection_sparsity": float(sum(int((w == 0).sum()) for w in weights) / n_weights)
        if n_weights else float("nan"),
        "activation_sparsity": counts["zero_act"] / counts["act"] if counts["act"] else float("nan"),
        # a rule that steps its layers without calling them is not observed: not measured, not 0
        "effective_macs_per_sample": counts["mac"] / n_samples if counts["seen"] else float("nan"),
        "effective_acs_per_sample": counts["ac"] / n_samples if counts["seen"] else float("nan"),
    }
