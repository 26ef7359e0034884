"""NeuroBench's standard static and workload metrics, measured the same way for every rule.

Definitions (NeuroBench, Yik et al. 2024, "The neurobench framework for benchmarking
neuromorphic computing algorithms and systems"):

- **footprint** (bytes): the memory of every parameter and buffer of the model's modules,
  each tensor once (``numel * element_size``).
- **connection sparsity** (fraction): zero weights / all weights, over the ``weight`` of every
  synaptic layer (``nn.Linear``, ``nn.Conv1d/2d``, :class:`snn.layers.SpikingLayer`: ``Linear``,
  ``Conv2d``); biases, recurrent weights and neuron parameters are not counted.
- **activation sparsity** (fraction): zero outputs / all outputs of every spiking-neuron layer
  (spiking :class:`snn.layers.SpikingLayer`, snnTorch's ``SpikingNeuron``; a membrane read-out
  is not spiking), over all neurons, time steps and samples of the forward pass.
- **synaptic operations** (per sample): for every synaptic layer, the multiply-accumulates
  with a non-zero input AND a non-zero weight (effective operations: a zero input or a pruned
  weight costs nothing on event-driven hardware). A layer whose input holds only 0 and 1
  (spikes) performs accumulates, **ACs**; any other input (pixels, ReLU, membrane values)
  performs **MACs**. Summed over all time steps of the pass and divided by the number of
  samples. Biases are not counted.

:func:`neurobench_metrics` hooks the modules of a model, runs one inference pass that the
caller supplies (a rule's own ``evaluate`` on a few test samples), and returns all five numbers.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

METRIC_KEYS = ("footprint_bytes", "connection_sparsity", "activation_sparsity",
               "effective_macs_per_sample", "effective_acs_per_sample")


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


def neurobench_metrics(modules: Iterable[nn.Module], run: Callable[[], object], n_samples: int) -> dict:
    """NeuroBench's metrics (module docstring) of ``modules`` over the pass ``run()``, which
    feeds ``n_samples`` samples through them; returns the :data:`METRIC_KEYS`."""
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int (samples fed by run), got {n_samples!r}")
    from snn.layers import SpikingLayer

    spiking_t = _spiking_types()
    tensors: dict[int, torch.Tensor] = {}
    synaptic: dict[int, nn.Module] = {}
    ours: dict[int, SpikingLayer] = {}
    neurons: dict[int, nn.Module] = {}
    for root in modules:
        for m in root.modules():
            for t in (*m.parameters(recurse=False), *m.buffers(recurse=False)):
                tensors[id(t)] = t
            if isinstance(m, SpikingLayer):
                synaptic[id(m)] = ours[id(m)] = m
            elif isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                synaptic[id(m)] = m
            elif isinstance(m, spiking_t):
                neurons[id(m)] = m
    counts = {"mac": 0.0, "ac": 0.0, "zero_act": 0, "act": 0, "seen": 0}

    def synapse(module: nn.Module, x: torch.Tensor) -> None:
        counts["ac" if _is_spikes(x) else "mac"] += _effective_ops(module, x)
        counts["seen"] += 1

    def spikes(output) -> None:
        s = output[0] if isinstance(output, tuple) else output
        counts["zero_act"] += int((s == 0).sum())
        counts["act"] += s.numel()

    handles = [m.register_forward_hook(lambda mod, inp, _out: synapse(mod, inp[0]))
               for k, m in synaptic.items() if k not in ours]
    handles += [m.register_forward_hook(lambda _m, _i, out: spikes(out)) for m in neurons.values()]
    # snn.layers run either forward or forward_chunk; both go through synapses and dynamics.
    for layer in ours.values():
        def synapses(x, layer=layer, inner=layer.synapses):
            synapse(layer, x)
            return inner(x)

        def dynamics(*args, layer=layer, inner=layer.dynamics, **kw):
            out = inner(*args, **kw)
            if layer.spiking:
                spikes(out)
            return out

        layer.synapses, layer.dynamics = synapses, dynamics
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
        for layer in ours.values():
            del layer.synapses, layer.dynamics
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
