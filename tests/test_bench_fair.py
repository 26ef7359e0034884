"""The snntorch-bptt row of ``bench rules`` runs the bptt row's network in snnTorch's code."""

import pytest
import torch

from rules.bench import _snntorch_twin
from rules.bptt import BPTT, mlp
from snn.encoding import DECODERS


def test_snntorch_row_has_our_architecture_and_li_readout():
    pytest.importorskip("snntorch")
    sizes = [64, 40, 10]
    ours = BPTT.build(sizes, steps=12, seed=4)  # the bptt row's network
    torch.manual_seed(4)
    twin = _snntorch_twin(sizes, mlp(sizes, beta=0.9, readout="li"), 0.9, 25.0, readout="li")
    for fc, layer in zip(twin.fcs, ours.net, strict=True):
        assert torch.equal(fc.weight, layer.weight) and torch.equal(fc.bias, layer.bias)
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(12, 8, 64, generator=gen) < 0.3).float()
    y = torch.arange(8) % 10
    a = ours.decode(ours.net(x))
    b = twin(x)
    assert ours.decode is DECODERS["max_membrane"]
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    torch.nn.functional.cross_entropy(a, y).backward()
    torch.nn.functional.cross_entropy(b, y).backward()
    for fc, layer in zip(twin.fcs, ours.net, strict=True):
        torch.testing.assert_close(fc.weight.grad, layer.weight.grad, rtol=1e-4, atol=1e-6)


def test_peak_memory_counts_saved_tensors_and_state_on_every_device():
    from rules.base import cuda_peak_bytes, peak_training_bytes

    w = torch.ones(100, 50, requires_grad=True)
    x = torch.ones(8, 100)

    def step():
        ((x @ w).tanh().sum()).backward()  # saves x (3200 B) and tanh's output (1600 B)

    assert peak_training_bytes(step, "cpu", state_bytes=1000) == 3200 + 1600 + 1000
    with pytest.raises(ValueError, match="needs a CUDA device"):
        cuda_peak_bytes(step, "cpu")
    if torch.cuda.is_available():
        wc, xc = w.detach().cuda().requires_grad_(), x.cuda()
        cuda_step = lambda: ((xc @ wc).tanh().sum()).backward()  # noqa: E731
        assert peak_training_bytes(cuda_step, "cuda", 1000) == 3200 + 1600 + 1000
        assert cuda_peak_bytes(cuda_step, "cuda") > 0
