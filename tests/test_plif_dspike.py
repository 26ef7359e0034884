"""The UltraLIF paper's baselines: the DSpike surrogate (Li et al. 2021), the parametric LIF
(PLIF, Fang et al. 2021) and the smooth DSpike neuron of the paper's code, against
hand-derived formulas and finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snn.layers import Linear
from snn.models import PLIF, DSpikeLIF
from snn.surrogate import DSpike, FastSigmoid, surrogate
from snn.training.neurons import TrainingDSpikeLIF, TrainingPLIF


def _dspike_primitive(x: np.ndarray, b: float) -> np.ndarray:
    """Li et al.'s DSpike function on the window |x| <= 1/2 (0 below, 1 above)."""
    inside = np.tanh(b * x) / (2 * np.tanh(b / 2)) + 0.5
    return np.where(x < -0.5, 0.0, np.where(x > 0.5, 1.0, inside))


@pytest.mark.parametrize("b", [0.5, 2.0, 4.0, 10.0])
def test_dspike_is_the_derivative_of_its_primitive_with_unit_area(b):
    x = np.linspace(-0.49, 0.49, 99)
    h = 1e-6
    fd = (_dspike_primitive(x + h, b) - _dspike_primitive(x - h, b)) / (2 * h)
    ours = DSpike(slope=b).derivative(torch.tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(ours, fd, rtol=1e-6, atol=1e-8)
    fine = np.linspace(-0.5, 0.5, 20001)
    area = np.trapezoid(DSpike(slope=b).derivative(torch.tensor(fine)).numpy(), fine)
    assert area == pytest.approx(1.0, abs=1e-6)
    outside = torch.tensor([-3.0, -0.51, 0.51, 2.0], dtype=torch.float64)
    assert torch.equal(DSpike(slope=b).derivative(outside), torch.zeros(4, dtype=torch.float64))
    # peak at the threshold: b / (2 tanh(b/2)); b -> 0 is the unit box
    assert float(DSpike(slope=b).derivative(torch.zeros(1))) == pytest.approx(b / (2 * math.tanh(b / 2)))
    assert float(DSpike(slope=1e-4).derivative(torch.tensor([0.4]))) == pytest.approx(1.0, abs=1e-6)


def test_dspike_spike_forward_and_backward():
    x = torch.tensor([-1.0, -0.3, 0.0, 0.2, 0.7], dtype=torch.float64, requires_grad=True)
    sg = surrogate("dspike")
    assert sg == DSpike(slope=4.0)
    s = sg(x)
    assert s.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    (s * torch.arange(1.0, 6.0, dtype=torch.float64)).sum().backward()
    xv = x.detach().numpy()
    g = np.where(np.abs(xv) <= 0.5, 4 / (2 * np.tanh(2)) / np.cosh(4 * xv) ** 2, 0)
    expected = np.arange(1.0, 6.0) * g
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="DSpike.slope"):
        DSpike(slope=0.0)


def _plif_run(model: PLIF, current: torch.Tensor, w: torch.Tensor | None, sg=None):
    impl = TrainingPLIF()
    sg = FastSigmoid() if sg is None else sg
    params = None if w is None else {"w": w}
    return impl.sequence_with_state(model, current, 1.0, sg, params=params)


def test_plif_steps_by_hand():
    """Three steps of one neuron, tau = 2 (k = 1/2), threshold 1, computed by hand."""
    current = torch.tensor([[1.6], [0.2], [3.0]], dtype=torch.float64)[:, None]  # (T, batch, n)
    # decay_input (Fang): v = u + (I - u)/2. v1 = 0.8 (no spike), v2 = 0.8 - 0.3 = 0.5,
    # v3 = 0.5 + 1.25 = 1.75 -> spike, hard reset to 0.
    out, state = _plif_run(PLIF(learn_tau=False), current, None)
    assert out.flatten().tolist() == [0.0, 0.0, 1.0]
    assert float(state["u"]) == 0.0
    # no input decay: v = u - u/2 + I. v1 = 1.6 -> spike, subtract 1 -> 0.6; v2 = 0.3 + 0.2 = 0.5;
    # v3 = 0.25 + 3 = 3.25 -> spike -> 2.25
    out, state = _plif_run(PLIF(learn_tau=False, decay_input=False, reset="subtract"), current, None)
    assert out.flatten().tolist() == [1.0, 0.0, 1.0]
    assert float(state["u"]) == pytest.approx(2.25)
    # a learned w = -log(tau - 1) gives the same numbers as the fixed tau
    model = PLIF(tau=3.0)
    w0 = TrainingPLIF().parameters(model, (1,), 1.0)["w"]
    assert float(torch.sigmoid(w0)) == pytest.approx(1 / 3)
    a, sa = _plif_run(model, current, w0.double())
    b, sb = _plif_run(PLIF(tau=3.0, learn_tau=False), current, None)
    assert torch.equal(a, b) and torch.allclose(sa["u"], sb["u"])


@pytest.mark.parametrize("decay_input", [True, False])
def test_plif_membrane_gradient_in_w_matches_finite_differences(decay_input):
    """Below threshold the final membrane is a smooth function of w: autograd against central
    differences in float64 (DSpike's surrogate is 0 far from threshold, so the reset term adds
    no gradient, as it adds nothing to the function)."""
    model = PLIF(tau=2.5, v_thresh=100.0, decay_input=decay_input)
    current = torch.rand(12, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    weights = torch.linspace(0.5, 2.0, 5, dtype=torch.float64)

    def loss(wv):
        return (_plif_run(model, current, wv, DSpike())[1]["u"] * weights).sum()

    loss(w).backward()
    h = 1e-6
    fd = (loss(torch.tensor(0.3 + h, dtype=torch.float64))
          - loss(torch.tensor(0.3 - h, dtype=torch.float64))) / (2 * h)
    assert float(w.grad) == pytest.approx(float(fd), rel=1e-7)
    assert abs(float(w.grad)) > 1e-3


def test_plif_spike_gradient_in_w_is_the_surrogate_chain_rule():
    """One step from rest: v = k I, s = H(k I - 1), so dsum(s)/dw = g(k I - 1) I k (1 - k)."""
    current = torch.tensor([[[1.5, 2.2, 3.0, -1.0]]], dtype=torch.float64)
    w = torch.tensor(-0.2, dtype=torch.float64, requires_grad=True)
    sg = DSpike(slope=3.0)
    out, _ = _plif_run(PLIF(), current, w, sg)
    out.sum().backward()
    k = torch.sigmoid(torch.tensor(-0.2, dtype=torch.float64))
    i = current.flatten()
    expected = (sg.derivative(k * i - 1.0) * i * k * (1 - k)).sum()
    assert float(w.grad) == pytest.approx(float(expected), rel=1e-12)
    assert float(w.grad) != 0.0


def test_plif_layer_learns_its_time_constant_and_rejects_bad_models():
    torch.manual_seed(0)
    layer = Linear(6, 4, PLIF(), surrogate=surrogate("arctan"))
    assert set(dict(layer.named_parameters())) == {"weight", "bias", "neuron_params.w"}
    x = torch.rand(5, 8, 6) * 2
    layer(x).sum().backward()
    assert layer.neuron_params["w"].grad.abs() > 0
    assert Linear(6, 4, PLIF(learn_tau=False)).neuron_params.keys() == set()
    with pytest.raises(ValueError, match="PLIF.tau is in steps and must be above 1"):
        PLIF(tau=1.0)
    with pytest.raises(TypeError, match="PLIF.tau must be a scalar"):
        PLIF(tau=np.array([2.0, 3.0]))
    with pytest.raises(ValueError, match="PLIF.reset"):
        PLIF(reset="zero")
    with pytest.raises(TypeError, match="PLIF.decay_input"):
        PLIF(decay_input=1)


def test_smooth_dspike_neuron_by_hand_and_its_temperature_gradient():
    """The UltraLIF paper's DSpike baseline neuron: spike = the DSpike function of
    v / (2 v_thresh), soft reset; two steps by hand, and d(output)/d(b_raw) against central
    differences (the function is smooth inside the clamp)."""
    impl = TrainingDSpikeLIF()
    model = DSpikeLIF(tau=0.8, v_thresh=0.5, b=3.0, learn_b=False)
    current = torch.tensor([[[0.3, 0.5, 2.0]], [[0.2, -0.1, 0.0]]], dtype=torch.float64)
    out, _ = impl.sequence_with_state(model, current, 1.0, None)

    def dspike(x, b=3.0):
        return min(max((math.tanh(b * (x - 0.5)) + math.tanh(b / 2)) / (2 * math.tanh(b / 2)), 0.0), 1.0)

    for n, i1 in enumerate((0.3, 0.5, 2.0)):
        s1 = dspike(i1)  # x = v / (2 * 0.5) = v
        v2 = 0.8 * i1 * (1 - s1) + float(current[1, 0, n])
        assert float(out[0, 0, n]) == pytest.approx(s1, abs=1e-12)
        assert float(out[1, 0, n]) == pytest.approx(dspike(v2), abs=1e-12)
    assert float(out[0, 0, 1]) == pytest.approx(0.5)  # at threshold
    assert float(out[0, 0, 2]) == 1.0  # clamped above the window

    learned = DSpikeLIF(tau=0.8, b=3.0, learn_tau=True)
    params = {k: v.double().requires_grad_(True) for k, v in impl.parameters(learned, (3,), 1.0).items()}
    assert float(torch.nn.functional.softplus(params["b_raw"].detach())) == pytest.approx(3.0)
    assert float(torch.sigmoid(params["tau_logit"].detach())) == pytest.approx(0.8)
    weights = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    small = current * 0.5  # keep every neuron inside the window (no clamp)

    def loss(b_raw):
        p = {"b_raw": b_raw, "tau_logit": params["tau_logit"]}
        return (impl.sequence_with_state(learned, small, 1.0, None, params=p)[0] * weights).sum()

    loss(params["b_raw"]).backward()
    h = 1e-6
    b0 = float(params["b_raw"].detach())
    fd = (loss(torch.tensor(b0 + h, dtype=torch.float64))
          - loss(torch.tensor(b0 - h, dtype=torch.float64))) / (2 * h)
    assert float(params["b_raw"].grad) == pytest.approx(float(fd.detach()), rel=1e-6)
    assert params["tau_logit"].grad is not None and float(params["tau_logit"].grad) != 0.0
    with pytest.raises(ValueError, match="outside \\[0.5, 50\\]"):
        DSpikeLIF(b=60.0)
    with pytest.raises(ValueError, match="retention per step"):
        DSpikeLIF(tau=1.0)
    with pytest.raises(TypeError, match="DSpikeLIF.b must be a scalar"):
        DSpikeLIF(b=np.array([1.0, 2.0]))
