"""rules.metrics against the ``neurobench`` package's own metric classes (Footprint,
ConnectionSparsity, ActivationSparsity, SynapticOperations) run by its ``Benchmark`` on the same
models and data: every rule's model, and snnTorch's twin of the BPTT network, which neurobench
hooks natively. The definitions differ in three documented ways (docs/benchmarks.md), asserted
here as exact relations: neurobench rounds the connection sparsity to 4 decimals, weights a
batch's activation sparsity by ``batch / samples``, and counts an input of -1, 0 and 1 as spikes
(accumulates) where we count it as multiply-accumulates."""

import pytest

torch = pytest.importorskip("torch")
snntorch = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")

from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import ConnectionSparsity, Footprint  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations  # noqa: E402
from neurobench.models import TorchModel  # noqa: E402
from torch import nn  # noqa: E402

import rules  # noqa: E402
from rules.metrics import model_modules, neurobench_metrics, tapped  # noqa: E402
from snn.datasets import load_digits  # noqa: E402
from snn.layers import SpikingLayer  # noqa: E402

SAMPLES = 40


class Spikes(nn.Identity):
    """Stands in, for neurobench's activation hooks, for the neurons of one of our layers."""


class NeuroBenchView(nn.Module):
    """neurobench's view of a rule's model. Its hooks know ``nn.Linear`` and activation modules,
    not :mod:`snn.layers` (synapses and neurons fused in one module) nor the layers rules step
    themselves; so every such layer gets an ``nn.Linear`` holding the very same weight tensor and
    a :class:`Spikes` module, and :func:`rules.metrics.tapped` calls them with the layer's
    inputs and spikes as the rule's own inference runs. ``nn.Linear`` layers of the model are
    hooked by neurobench directly. Input: ``(batch, T, features)``, neurobench's layout."""

    def __init__(self, rule) -> None:
        super().__init__()
        self.rule = rule
        found = list({id(r): r for r in model_modules(rule)}.values())
        # each module once: drop roots that another root holds
        inner = {id(m) for r in found for m in r.modules() if m is not r}
        self.held = nn.ModuleList([r for r in found if id(r) not in inner])
        self.linears, self.spikes, self.key = nn.ModuleDict(), nn.ModuleDict(), {}
        for root in self.held:
            for m in root.modules():
                w = getattr(m, "weight", None)
                fused = isinstance(m, SpikingLayer) or not list(m.children())
                if (id(m) in self.key or isinstance(m, nn.Linear) or not fused
                        or not isinstance(w, torch.Tensor) or w.dim() != 2):
                    continue
                key = self.key[id(m)] = str(len(self.key))
                linear = nn.Linear(w.shape[1], w.shape[0], bias=False)
                del linear.weight
                if isinstance(w, nn.Parameter):
                    linear.weight = w
                else:  # SoftHebb's weights are buffers
                    linear.register_buffer("weight", w)
                self.linears[key], self.spikes[key] = linear, Spikes()
        assert self.key, "the rule has layers neurobench cannot hook; the view must stand in for them"

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        def synapses(module, x):
            if id(module) in self.key:
                self.linears[self.key[id(module)]](x)

        def spikes(module, s):
            if id(module) in self.key:
                self.spikes[self.key[id(module)]](s)

        with tapped(list(self.held), synapses, spikes):
            return infer(self.rule, batch.transpose(0, 1))


def infer(rule, x: torch.Tensor) -> torch.Tensor:
    """The rule's inference on the encoded batch ``x`` (T, batch, ...), as its evaluate runs it."""
    return rule.scores(x) if hasattr(rule, "scores") else rule.decode(rule.net(x))


def neurobench_run(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *activations: type) -> dict:
    model = TorchModel(net)
    for module_type in activations:
        model.add_activation_module(module_type)
    pairs = torch.utils.data.TensorDataset(x.transpose(0, 1), y)
    data = torch.utils.data.DataLoader(pairs, batch_size=len(y))
    bench = Benchmark(model, data, [], [],
                      [[Footprint, ConnectionSparsity], [ActivationSparsity, SynapticOperations]])
    return bench.run(quiet=True)


def assert_agree(ours: dict, theirs: dict, batch: int) -> None:
    """The exact relations between our numbers and neurobench's on one batch of ``batch``."""
    assert theirs["Footprint"] == ours["footprint_bytes"]
    assert theirs["ConnectionSparsity"] == round(ours["connection_sparsity"], 4)
    # neurobench: the batch's sparsity times batch / samples (one batch here)
    assert theirs["ActivationSparsity"] == 0.0 + ours["activation_sparsity"] * batch / batch
    ops = theirs["SynapticOperations"]
    assert ops["Effective_MACs"] == ours["effective_macs_per_sample"]
    assert ops["Effective_ACs"] == ours["effective_acs_per_sample"]


def prune(modules) -> None:
    """Zero a regular third of every weight matrix, so connection sparsity and the effective
    operations depend on the zero weights."""
    with torch.no_grad():
        for root in modules:
            for m in root.modules():
                w = getattr(m, "weight", None)
                if isinstance(w, torch.Tensor) and w.dim() == 2:
                    w[::3, ::2] = 0


@pytest.fixture(scope="module")
def digits_test():
    return load_digits().stratified_split(0.2, seed=0)[1][:SAMPLES]


@pytest.mark.parametrize("name", ["bptt", "tess", "ff", "ccl", "softhebb"])
def test_neurobench_metric_classes_agree_on_every_rule(name, digits_test):
    rule = rules.get(name).build([64, 32, 10], steps=12, seed=0, batch_size=32)
    prune(model_modules(rule))
    x_raw, y = rule._inputs(digits_test)
    x = rule._encode(x_raw, torch.Generator().manual_seed(1))
    ours = neurobench_metrics(model_modules(rule), lambda: infer(rule, x), SAMPLES)
    theirs = neurobench_run(NeuroBenchView(rule), x, y, Spikes)
    assert_agree(ours, theirs, SAMPLES)
    assert 0.1 < ours["connection_sparsity"] < 0.3
    assert 0 < ours["activation_sparsity"] < 1
    # CCL's first forward layer reads rate-encoded spikes; its ELU read-out, SoftHebb's layers
    # and its read-out read non-spiking values
    assert ours["effective_acs_per_sample"] > 0 or name == "softhebb"
    assert ours["effective_macs_per_sample"] > 0 or name in ("bptt", "tess", "ff")


@pytest.mark.parametrize("encoder", ["rate", "direct"])
def test_neurobench_hooks_the_snntorch_twin_as_we_do(encoder, digits_test):
    """snnTorch's network with the BPTT network's weights, hooked by neurobench itself (its
    ``nn.Linear`` layers and ``SpikingNeuron`` neurons; the membrane read-out is an snnTorch
    ``Leaky`` too, so both count its spikes). ``direct`` inputs are pixels: MACs."""
    from rules.bench import _snntorch_twin

    rule = rules.get("bptt").build([64, 32, 10], steps=12, seed=0, encoder=encoder)
    prune([rule.net])
    twin = _snntorch_twin([64, 32, 10], list(rule.net), 0.9, 25.0, readout="li")
    x_raw, y = rule._inputs(digits_test)
    x = rule._encode(x_raw, torch.Generator().manual_seed(1))
    with torch.no_grad():
        twin(x)  # after a pass, as in a benchmark: the neurons' mem buffers hold a batch
    ours = neurobench_metrics([twin], lambda: twin(x), SAMPLES)

    class BatchFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.twin = twin

        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            return self.twin(batch.transpose(0, 1))

    theirs = neurobench_run(BatchFirst(), x, y, snntorch.SpikingNeuron)
    assert_agree(ours, theirs, SAMPLES)
    mem = sum(b.numel() * b.element_size() for n, b in twin.named_buffers() if n.endswith(".mem"))
    assert mem == 4 * SAMPLES * (32 + 10)  # counted by both: a buffer, as NeuroBench defines footprint
    key = "effective_macs_per_sample" if encoder == "direct" else "effective_acs_per_sample"
    assert ours[key] > 0


def test_ternary_inputs_are_accumulates_for_neurobench_multiply_accumulates_for_us():
    layer = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.5, 0.0, 0.0]]))
    x = torch.tensor([[[-1.0, 1.0, 0.0]], [[0.0, -1.0, 1.0]]])  # (T=2, batch=1, 3)
    ours = neurobench_metrics([layer], lambda: layer(x), 1)
    theirs = neurobench_run(nn.Sequential(layer), x, torch.zeros(1, dtype=torch.long))
    # step 0 reaches W[0,0] and W[1,0], step 1 W[0,2]: 3 operations, whatever they are called
    assert ours["effective_macs_per_sample"] == 3 and ours["effective_acs_per_sample"] == 0
    assert theirs["SynapticOperations"]["Effective_ACs"] == 3
    assert theirs["SynapticOperations"]["Effective_MACs"] == 0
