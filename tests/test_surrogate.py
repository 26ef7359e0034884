"""Surrogate gradients: Heaviside forward, the documented derivative backward, and the same
gradients as snnTorch for the surrogates both libraries define."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snn.surrogate import SURROGATES, ArcTan, FastSigmoid, Sigmoid, StraightThrough, Triangle, surrogate  # noqa: E402


def grad_of(fn, x):
    x = x.clone().requires_grad_(True)
    out = fn(x)
    out.backward(torch.ones_like(out))
    return out.detach(), x.grad


@pytest.fixture
def x():
    return torch.linspace(-1.0, 1.0, 2001, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_forward_is_heaviside(name, x):
    out, _ = grad_of(surrogate(name), x)
    assert torch.equal(out, (x > 0).to(x.dtype))
    assert out[1000] == 0  # H(0) = 0


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (FastSigmoid(25.0), lambda s: s.fast_sigmoid(slope=25)),
        (FastSigmoid(7.5), lambda s: s.fast_sigmoid(slope=7.5)),
        (ArcTan(2.0), lambda s: s.atan(alpha=2.0)),
        (Sigmoid(25.0), lambda s: s.sigmoid(slope=25)),
    ],
)
def test_gradients_equal_snntorch(ours, theirs, x):
    snn_surrogate = pytest.importorskip("snntorch.surrogate")
    _, g_ours = grad_of(ours, x)
    _, g_theirs = grad_of(theirs(snn_surrogate), x)
    np.testing.assert_allclose(g_ours.numpy(), g_theirs.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("slope", [0.5, 1.0, 4.0])
@pytest.mark.parametrize("cls", [StraightThrough, Triangle])
def test_windowed_surrogates_have_unit_area_and_bounded_support(cls, slope):
    xs = torch.linspace(-3.0, 3.0, 600_001, dtype=torch.float64)
    _, g = grad_of(cls(slope), xs)
    area = torch.trapezoid(g, xs).item()
    assert area == pytest.approx(1.0, abs=1e-3)
    half_width = 0.5 / slope if cls is StraightThrough else 1.0 / slope
    assert torch.all(g[xs.abs() > half_width + 1e-9] == 0)
    assert g[300_000].item() == pytest.approx(slope)  # peak at x = 0


def test_arctan_is_derivative_of_its_smooth_step(x):
    s = ArcTan(3.0)
    xr = x.clone().requires_grad_(True)
    smooth = torch.atan(torch.pi / 2 * 3.0 * xr) / torch.pi
    smooth.sum().backward()
    np.testing.assert_allclose(s.derivative(x).numpy(), xr.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("slope", [0.0, -1.0, float("nan")])
def test_bad_slope_is_named(slope):
    with pytest.raises(ValueError, match="FastSigmoid.slope"):
        FastSigmoid(slope)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="fast_sigmoid, arctan"):
        surrogate("erf")
