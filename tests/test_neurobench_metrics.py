"""rules.metrics: NeuroBench's footprint, connection sparsity, activation sparsity and effective
MACs / ACs against numbers worked out by hand on a two-layer network with fixed weights (some
zero) and fixed spikes."""

import pytest

torch = pytest.importorskip("torch")

from rules.metrics import METRIC_KEYS, neurobench_metrics  # noqa: E402
from snn.layers import Linear  # noqa: E402
from snn.models import LIF  # noqa: E402

W1 = [[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]  # 3 of 6 zero
W2 = [[100.0, 0.0], [0.0, 0.0], [-100.0, 0.0]]  # 4 of 6 zero
# Dense input (T=3, batch, 3): step 0 reaches W1[0,0], W1[0,2], W1[1,2] (3 MACs), step 1 nothing,
# step 2 W1[0,0] only (input 1 meets a zero column): 4 MACs per sample.
X = [[0.5, 0.0, 2.0], [0.0, 0.0, 0.0], [0.5, 0.25, 0.0]]
# Spikes (T=3, batch, 2) into W2: input 0 reaches 2 non-zero weights (steps 0, 1), input 1 none:
# 4 ACs per sample. Neuron 0 gets 100 at steps 0-1 and keeps spiking at step 2 on its large
# membrane; neurons 1 (no input) and 2 (inhibited) never spike: 3 of 9 outputs are spikes.
S = [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def two_layers():
    first = torch.nn.Linear(3, 2)
    second = Linear(2, 3, LIF.from_beta(0.9), bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor(W1))
        second.weight.copy_(torch.tensor(W2))
    return first, second


@pytest.mark.parametrize("batch", [1, 2])
def test_metrics_match_hand_counts(batch):
    first, second = two_layers()
    x = torch.tensor(X)[:, None].expand(3, batch, 3)
    s = torch.tensor(S)[:, None].expand(3, batch, 2)
    out = {}

    def run():
        first(x)
        out["spikes"] = second(s)

    m = neurobench_metrics([first, second], run, batch)
    assert set(m) == set(METRIC_KEYS)
    assert out["spikes"][:, 0].tolist() == [[1.0, 0.0, 0.0]] * 3  # the spikes assumed above
    assert m["effective_macs_per_sample"] == 4
    assert m["effective_acs_per_sample"] == 4
    assert m["connection_sparsity"] == pytest.approx(7 / 12)
    assert m["activation_sparsity"] == pytest.approx(6 / 9)
    neuron_bytes = sum(p.numel() * p.element_size() for p in second.neuron_params.values())
    assert m["footprint_bytes"] == 4 * (6 + 2) + 4 * 6 + neuron_bytes


def test_footprint_counts_buffers_once_and_hooks_are_removed():
    first = torch.nn.Linear(3, 2)
    first.register_buffer("scale", torch.zeros(3, dtype=torch.float64))
    m = neurobench_metrics([first, first], lambda: first(torch.ones(1, 3)), 1)
    assert m["footprint_bytes"] == 4 * (6 + 2) + 8 * 3
    assert m["effective_macs_per_sample"] == 0 and m["effective_acs_per_sample"] == 6  # ones are spikes
    assert m["activation_sparsity"] != m["activation_sparsity"]  # NaN: no spiking layer
    assert not first._forward_hooks
    _, second = two_layers()
    neurobench_metrics([second], lambda: second(torch.tensor(S)[:, None]), 1)
    assert "synapses" not in vars(second) and "dynamics" not in vars(second)


def test_bad_sample_count():
    with pytest.raises(ValueError, match="n_samples"):
        neurobench_metrics([torch.nn.Linear(2, 2)], lambda: None, 0)


def test_layers_the_pass_never_calls_are_not_measured_as_zero_operations():
    import math

    layer = torch.nn.Linear(3, 2)
    out = neurobench_metrics([layer], lambda: layer.weight.sum(), n_samples=1)
    assert math.isnan(out["effective_macs_per_sample"]) and math.isnan(out["effective_acs_per_sample"])
    assert out["footprint_bytes"] == 8 * 4
