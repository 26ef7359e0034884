"""SpikingJelly as a peer of ``bench bptt`` (snn.peers.spikingjelly_bptt): its multi-step LIF
network with our weights gives our outputs and gradients where the surrogate is the same
function, and the benchmark row runs on the CPU."""

import json
import math

import pytest
import torch

pytest.importorskip("spikingjelly.activation_based.neuron")

from rules.bench import bench_bptt  # noqa: E402
from rules.bptt import mlp  # noqa: E402
from snn.peers import spikingjelly_bptt  # noqa: E402
from snn.surrogate import ArcTan, FastSigmoid, Sigmoid, StraightThrough  # noqa: E402

SIZES = [12, 9, 4]


@pytest.mark.parametrize("surrogate", [Sigmoid(4.0), ArcTan(2.0)], ids=["sigmoid", "arctan"])
def test_same_outputs_and_gradients_as_ours(surrogate):
    torch.manual_seed(0)
    ours = mlp(SIZES, beta=0.9, readout="lif", surrogate=surrogate, chunk_steps=None)
    with torch.no_grad():  # strong enough that every layer spikes
        for layer in ours:
            layer.weight.mul_(3.0)
    jelly, exact = spikingjelly_bptt.twin(SIZES, ours, 0.9, surrogate)
    assert exact
    x = (torch.rand(15, 5, SIZES[0], generator=torch.Generator().manual_seed(1)) < 0.4).float()
    y = torch.tensor([0, 1, 2, 3, 1])
    counts = ours(x).sum(0)
    assert counts.sum() > 10  # the comparison sees spikes and resets
    theirs = jelly(x)
    torch.testing.assert_close(theirs, counts, rtol=0, atol=0)
    torch.nn.functional.cross_entropy(counts, y).backward()
    torch.nn.functional.cross_entropy(theirs, y).backward()
    for layer, fc in zip(ours, jelly.fcs, strict=True):
        assert layer.weight.grad.abs().max() > 1e-3
        torch.testing.assert_close(fc.weight.grad, layer.weight.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fc.bias.grad, layer.bias.grad, rtol=1e-5, atol=1e-5)
    # a second call starts from rest again
    torch.testing.assert_close(jelly(x), counts, rtol=0, atol=0)


def test_fast_sigmoid_maps_to_softsign_of_the_same_shape():
    """SoftSign(alpha) has gradient alpha / (2 (1 + alpha |x|)^2): our fast sigmoid's shape
    times alpha / 2 (hand-computed at x = 0 and x = 0.1)."""
    fn, exact = spikingjelly_bptt.jelly_surrogate(FastSigmoid(25.0))
    assert not exact
    x = torch.tensor([0.0, 0.1], requires_grad=True)
    fn(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([12.5, 12.5 / 3.5 ** 2]))
    with pytest.raises(ValueError, match="no built-in surrogate for StraightThrough"):
        spikingjelly_bptt.jelly_surrogate(StraightThrough())


def test_bench_row_runs_on_the_cpu():
    report = bench_bptt(arch="16-12-4", steps=6, batch=8, repeat=1, vs=("snntorch", "spikingjelly"))
    row = report["spikingjelly"]
    assert row["implementation"] == "torch (CPU)" and row["surrogate"] == "SoftSign(alpha=25)"
    assert row["version"].startswith("2.")
    assert row["time_per_step_s"] > 0 and row["peak_memory_bytes"] > 0
    assert math.isfinite(report["time_ratio"])


def test_cli_bench_bptt_vs_spikingjelly(capsys):
    from snn.cli import main

    assert main(["bench", "bptt", "--arch", "16-12-4", "--T", "4", "--batch", "4", "--repeat", "1",
                 "--vs", "spikingjelly", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["spikingjelly"]["time_per_step_s"] > 0
    assert main(["bench", "bptt", "--vs", "jelly"]) == 2
    assert "choose from snntorch, spikingjelly" in capsys.readouterr().err
