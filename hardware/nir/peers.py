"""Running NIR graphs and snnTorch networks in the peer libraries, for round-trip checks.

Each runner takes inputs of shape ``(T, batch, ...)`` (one step's input without batch is
what the graph's ``Input`` node declares) and returns the output spikes ``(T, batch, ...)``.
The imported peer modules are stepped one sample at a time, because the NIR ``Flatten``
(``start_dim = 0`` counts without batch) becomes ``torch.nn.Flatten(0)`` in both importers,
which would fold the batch axis into the features. Needs ``snntorch``, ``norse``, ``nir``
and ``nirtorch`` (the ``peers`` extra plus norse, see ``docs/nir.md``).

The fixture runners (:func:`run_fixture`) import graphs that Sinabs and Rockpool exported
(``tests/data/nir_peers``, made by ``tools/nir_peer_fixtures.py``) and take inputs of shape
``(samples, steps, n_in)``, as those libraries do; they need only ``nir`` and torch.
"""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np
import torch

WEIGHT_GAIN = 4.0
"""Factor on torch's default initialisation in :func:`snntorch_network` (active outputs)."""


def _quiet():
    """snnTorch's importer prints its weight-scaling notes; Norse logs r warnings."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    logging.disable(logging.WARNING)
    stack.callback(logging.disable, logging.NOTSET)
    return stack


def _step_graph_module(make_module, x: torch.Tensor) -> torch.Tensor:
    """Step a nirtorch graph module (``out, state = module(x_t, state)``) sample by sample, a
    fresh module per sample: snnTorch's imported neurons keep hidden state inside the module,
    and after ``snntorch.utils.reset`` a recurrent graph (``Synaptic`` in a nested module)
    still carried state into the next sample (measured)."""
    outputs = []
    with torch.no_grad():
        for b in range(x.shape[1]):
            module, state, steps = make_module(), None, []
            for t in range(x.shape[0]):
                out, state = module(x[t, b], state)
                steps.append(out)
            outputs.append(torch.stack(steps))
    return torch.stack(outputs, 1)


def run_snntorch_import(graph, x: torch.Tensor) -> torch.Tensor:
    """``graph`` imported by ``snntorch.import_nir.import_from_nir`` (dt fixed at 1e-4 s) and
    run on ``x``."""
    import copy

    from snntorch.import_nir import import_from_nir

    with _quiet():  # import_from_nir rewrites a flat recurrence in the graph it is given: copy
        return _step_graph_module(lambda: import_from_nir(copy.deepcopy(graph)), x)


def run_norse_import(graph, x: torch.Tensor, dt: float, reset: str = "value") -> torch.Tensor:
    """``graph`` imported by ``norse.torch.from_nir(graph, dt=dt)`` and run on ``x``;
    ``reset="subtract"`` passes Norse's ``reset_subtract`` (used by its CubaLIF nodes only; its
    LIF nodes always reset to the value)."""
    import norse.torch as norse
    from norse.torch.functional.reset import reset_subtract, reset_value

    method = {"value": reset_value, "subtract": reset_subtract}[reset]
    with _quiet():
        module = norse.from_nir(graph, dt=dt, reset_method=method, ignore_warnings=True)
        return _step_graph_module(lambda: module, x)


def run_snntorch(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A native snnTorch ``nn.Sequential`` with ``init_hidden=True`` neurons (none marked
    ``output``) run on ``x`` ``(T, batch, ...)``, batched."""
    from snntorch import utils

    with torch.no_grad():
        utils.reset(net)
        return torch.stack([net(x[t]) for t in range(x.shape[0])])


def norse_network(seed: int = 0, dt: float = 1e-3):
    """A Norse 20-16-5 ``LIFBoxCell`` MLP at step ``dt`` (membrane 5 ms and 10 ms, per-neuron
    parameter tensors so its exporter's type inference passes) and its input shape."""
    import norse.torch as norse
    from norse.torch.module.lif_box import LIFBoxCell, LIFBoxParameters

    torch.manual_seed(seed)

    def cell(n, tau):
        return LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.full((n,), 1 / tau), v_th=torch.ones(n),
                                           v_leak=torch.zeros(n)), dt=dt)

    model = norse.SequentialState(torch.nn.Linear(20, 16), cell(16, 5e-3), torch.nn.Linear(16, 5),
                                  cell(5, 1e-2))
    with torch.no_grad():  # Norse's Euler step scales the input by dt / tau (0.1 to 0.2 here)
        for m in model:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(3 * WEIGHT_GAIN)
    return model, (20,)


def run_norse(model, x: torch.Tensor) -> torch.Tensor:
    """A native Norse ``SequentialState`` run on ``x`` ``(T, batch, ...)``, batched."""
    state, outputs = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, state = model(x[t], state)
            outputs.append(out)
    return torch.stack(outputs)


def export_norse(model, input_shape: tuple[int, ...], dt: float = 1e-3):
    """``norse.torch.to_nir(model, sample, dt=dt)`` with one unbatched sample. Norse 1.1.0
    writes ``tau = dt / tau_mem_inv`` (= dt x tau, Norse #411): its graphs reproduce Norse's
    dynamics when imported with the step ``dt ** 2``."""
    import norse.torch as norse

    with _quiet():
        return norse.to_nir(model, torch.zeros(input_shape), dt=dt)


def agreement(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """``(samples, entries)``: the fraction of samples (axis 1) whose output spike trains are
    identical, and the fraction of all output entries (step, sample, neuron) that are equal."""
    a = np.asarray(a) != 0
    b = np.asarray(b).reshape(a.shape) != 0
    same = a == b
    per_sample = same.reshape(a.shape[0], a.shape[1], -1).all(axis=(0, 2))
    return float(per_sample.mean()), float(same.mean())


def synaptica_network(kind: str, reset: str = "value", seed: int = 1):
    """Our counterpart of :func:`snntorch_network`: ``"ff"`` (20-16-5 LIF), ``"conv"`` (1x9x9
    -> Conv2d 4x3x3 stride 2 -> LIF -> Flatten -> 5 LIF) or ``"recurrent"`` (20 -> 16
    recurrent LIF -> 5 LIF), beta 0.9 / 0.85 / 0.8, weights ``WEIGHT_GAIN`` x torch's
    initialisation; and its input shape."""
    from snn.layers import Conv2d, Flatten, Linear, RecurrentLinear, Sequential
    from snn.models import LIF

    torch.manual_seed(seed)

    def lif(beta):
        return LIF.from_beta(beta, reset=reset)

    if kind == "ff":
        net, shape = Sequential(Linear(20, 16, lif(0.9)), Linear(16, 5, lif(0.8))), (20,)
    elif kind == "conv":
        net = Sequential(Conv2d(1, 4, 3, lif(0.9), stride=2), Flatten(), Linear(64, 5, lif(0.85)))
        shape = (1, 9, 9)
    elif kind == "recurrent":
        net, shape = Sequential(RecurrentLinear(20, 16, lif(0.9)), Linear(16, 5, lif(0.8))), (20,)
    else:
        raise ValueError(f"kind must be 'ff', 'conv' or 'recurrent', got {kind!r}")
    with torch.no_grad():
        for layer in net:
            if hasattr(layer, "weight"):
                layer.weight.mul_(WEIGHT_GAIN)
    return net, shape


def snntorch_network(kind: str, seed: int = 0, reset: str = "zero", reset_delay: bool = False):
    """A small snnTorch network of ``kind`` ``"ff"`` (20-16-5 ``Leaky``), ``"conv"`` (1x9x9 ->
    ``Conv2d`` 4x3x3 stride 2 -> ``Leaky`` -> ``Flatten`` -> 5 ``Leaky``) or ``"recurrent"``
    (20 -> 16 ``RLeaky`` -> 5 ``Leaky``), with per-neuron beta and threshold tensors (snnTorch
    1.0.0's exporter needs them with nir 1.0.8, snnTorch #410), and its input shape.
    ``reset``/``reset_delay`` are snnTorch's; the defaults are what NIR can carry."""
    import snntorch as snn

    torch.manual_seed(seed)

    def leaky(shape, beta):
        return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape), init_hidden=True,
                         reset_mechanism=reset, reset_delay=reset_delay)

    if kind == "ff":
        layers = [torch.nn.Linear(20, 16), leaky((16,), 0.9), torch.nn.Linear(16, 5), leaky((5,), 0.8)]
        shape = (20,)
    elif kind == "conv":
        layers = [torch.nn.Conv2d(1, 4, 3, stride=2), leaky((4, 4, 4), 0.9), torch.nn.Flatten(1),
                  torch.nn.Linear(64, 5), leaky((5,), 0.8)]
        shape = (1, 9, 9)
    elif kind == "recurrent":
        rec = snn.RLeaky(beta=torch.full((16,), 0.9), threshold=torch.ones(16), linear_features=16,
                         init_hidden=True, reset_mechanism=reset, reset_delay=reset_delay)
        layers = [torch.nn.Linear(20, 16), rec, torch.nn.Linear(16, 5), leaky((5,), 0.8)]
        shape = (20,)
    else:
        raise ValueError(f"kind must be 'ff', 'conv' or 'recurrent', got {kind!r}")
    with torch.no_grad():  # torch's initialisation is too weak to make 1-threshold neurons fire
        for m in layers:
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.weight.mul_(WEIGHT_GAIN)
    return torch.nn.Sequential(*layers), shape


def train_snntorch(net: torch.nn.Module, input_shape: tuple[int, ...], steps: int = 20, batches: int = 5,
                   seed: int = 0) -> None:
    """A few Adam steps of BPTT (spike-count cross-entropy, random Bernoulli inputs and
    labels) so the exported weights are trained ones, not the initialisation."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    from snntorch import utils

    for _ in range(batches):
        x = (torch.rand(steps, 16, *input_shape, generator=gen) < 0.3).float()
        y = torch.randint(0, 5, (16,), generator=gen)
        utils.reset(net)
        counts = torch.stack([net(x[t]) for t in range(steps)]).sum(0)
        loss = torch.nn.functional.cross_entropy(counts, y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def export_snntorch(net: torch.nn.Module, input_shape: tuple[int, ...]):
    """``snntorch.export_nir.export_to_nir`` of ``net`` traced with one unbatched sample (a
    batched sample fails type inference with nir 1.0.8); a ``Flatten(1)`` is traced as the
    equivalent ``Flatten(0)`` of one sample, so the graph's Flatten has ``start_dim = 0``."""
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    traced = torch.nn.Sequential(*(
        torch.nn.Flatten(0, m.end_dim) if isinstance(m, torch.nn.Flatten) and m.start_dim == 1 else m
        for m in net))
    with _quiet(), torch.no_grad():
        utils.reset(traced)
        graph = export_to_nir(traced, torch.zeros(input_shape))
        utils.reset(traced)
    return graph


# -- graphs exported by Sinabs and Rockpool (fixtures made by tools/nir_peer_fixtures.py) ---------

PEER_FIXTURES = {
    "sinabs_iaf": ("network", "none (time in steps: dt = 1; each engine projection adds one step)"),
    "sinabs_iaf_batch_time": ("network", "none (the Input, declared (time, features), is sized by "
                                         "the weights it feeds)"),
    "sinabs_lif": ("stack", "decay: Sinabs decays by exp(-1/tau) and scales its input by "
                            "1 - exp(-1/tau), and writes LIF(tau, r=1); NIR's Euler reading is "
                            "1 - 1/tau and 1/tau"),
    "sinabs_iaf_multispike": ("network", "spikes per step: Sinabs's default MultiSpike emits "
                                         "floor(v/theta) a step; NIR's IF and our neurons one"),
    "rockpool_lif": ("stack", "input gain: Rockpool's CubaLIF is its own LIFTorch (input added to the "
                              "current with gain 1, exponential decays; it writes w_in = 1); NIR's "
                              "equations scale the input by dt/tau_syn"),
}
"""Fixture name -> (how we import it: layer ``"stack"`` or engine ``"network"``, the convention
that decides the comparison)."""


def load_fixture(folder, name: str):
    """A peer fixture: (graph, inputs (samples, steps, n_in), the library's outputs (samples,
    steps, n_out), info dict). The graph is read without nir's type check, which the
    libraries' shapes fail (``hardware.nir.read_nir``)."""
    import json
    from pathlib import Path

    from hardware.nir import read_nir

    folder = Path(folder)
    with np.load(folder / f"{name}.npz", allow_pickle=False) as fh:
        x, y, info = fh["inputs"].astype(np.float32), fh["outputs"], json.loads(str(fh["info"]))
    return read_nir(folder / f"{name}.nir", type_check=False), x, y, info


def run_imported_stack(graph, x: np.ndarray, dt: float) -> np.ndarray:
    """``from_nir(graph, dt=dt, reset="subtract")`` as a layer stack on ``x`` (samples, steps,
    n_in); output spikes (samples, steps, n_out)."""
    from hardware.nir import from_nir

    net = from_nir(graph, dt=dt, reset="subtract")
    with torch.no_grad():
        out = net(torch.as_tensor(x).transpose(0, 1))
    return out.transpose(0, 1).numpy()


def run_imported_network(graph, x: np.ndarray, dt: float) -> np.ndarray:
    """The graph as an engine network (``as_network=True``, reset by subtraction), one run per
    sample with the inputs as spike sources. Each projection delays by one step, so the second
    layer's output is read two steps later; output spike counts (samples, steps, n_out)."""
    from hardware.nir import from_nir
    from snn.models import SpikeSource

    (last,) = [a for a, b in graph.edges if b == "output"]
    samples, steps, n_in = x.shape
    out = None
    for s in range(samples):
        trains = [np.flatnonzero(x[s, :, i]).tolist() for i in range(n_in)]
        net = from_nir(graph, dt=dt, as_network=True, reset="subtract",
                       inputs={"input": SpikeSource(spike_steps=trains)})
        (pop,) = [p for p in net.populations if p.name == f"n_{last}"]
        net.spike_monitor(pop, name="out")
        rec = net.run((steps + 2) * dt, dt=dt)["out"]
        if out is None:
            out = np.zeros((samples, steps, pop.n), np.float32)
        keep = rec.steps >= 2
        np.add.at(out[s], (rec.steps[keep] - 2, rec.indices[keep]), 1)
    return out


def count_agreement(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """Spike counts (samples, steps, n): (fraction of samples whose outputs are identical,
    fraction of equal entries)."""
    same = np.asarray(ours) == np.asarray(theirs)
    return float(same.all(axis=(1, 2)).mean()), float(same.mean())


def run_fixture(folder, name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Import fixture ``name`` as :data:`PEER_FIXTURES` says and run it on its inputs:
    (our outputs, the library's outputs, info)."""
    graph, x, y, info = load_fixture(folder, name)
    run = run_imported_network if PEER_FIXTURES[name][0] == "network" else run_imported_stack
    return run(graph, x, info["dt"]), y, info


__all__ = ["PEER_FIXTURES", "agreement", "count_agreement", "export_norse", "export_snntorch",
           "load_fixture", "norse_network", "run_fixture", "run_imported_network",
           "run_imported_stack", "run_norse", "run_norse_import", "run_snntorch",
           "run_snntorch_import", "snntorch_network", "synaptica_network", "train_snntorch"]
