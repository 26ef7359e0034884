"""Rate-based Hebbian terms: each single update against its formula written out by hand, Oja's
convergence to the first principal component, SoftHebb's convergence to the unit sphere, the
numba kernels against the torch path, and that no autograd graph is ever recorded."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from plasticity.hebbian import (  # noqa: E402
    HebbTerm,
    OjaTerm,
    SoftHebbTerm,
    hebb_update,
    modulated_hebb_update,
    oja_update,
    radius_lr,
    soft_wta,
    softhebb_update,
)

F64 = torch.float64


def t(a):
    return torch.tensor(a, dtype=F64)


def test_hebb_single_step_by_hand():
    w = t([[0.5, -1.0, 2.0], [0.0, 1.0, 1.0]])
    x = t([1.0, 2.0, 0.5])
    y = t([2.0, -1.0])
    dw = hebb_update(HebbTerm(lr=0.1, decay=0.5), w, x, y)
    # lr * (y_k x_i - decay w_ki)
    expected = t([[0.1 * (2.0 * 1.0 - 0.25), 0.1 * (2.0 * 2.0 + 0.5), 0.1 * (2.0 * 0.5 - 1.0)],
                  [0.1 * (-1.0 - 0.0), 0.1 * (-2.0 - 0.5), 0.1 * (-0.5 - 0.5)]])
    assert torch.allclose(dw, expected, atol=1e-12, rtol=0)


def test_hebb_sums_the_batch(rng):
    w, x, y = t(rng.normal(size=(4, 6))), t(rng.normal(size=(5, 6))), t(rng.normal(size=(5, 4)))
    term = HebbTerm(lr=0.03, decay=0.2)
    one_by_one = sum(hebb_update(HebbTerm(lr=0.03), w, x[n], y[n]) for n in range(5)) - 0.03 * 0.2 * w
    assert torch.allclose(hebb_update(term, w, x, y), one_by_one, atol=1e-12, rtol=0)


def test_modulated_hebb_gates_the_eligibility(rng):
    w, x, y = t(rng.normal(size=(3, 4))), t(rng.normal(size=(5, 4))), t(rng.normal(size=(5, 3)))
    term = HebbTerm(lr=0.1)
    m_sample, m_post = t(rng.normal(size=5)), t(rng.normal(size=3))
    ref = np.einsum("nk,ni->ki", y.numpy(), x.numpy())
    assert np.allclose(modulated_hebb_update(term, w, x, y, 2.0).numpy(), 0.2 * ref, atol=1e-12)
    per_sample = 0.1 * np.einsum("n,nk,ni->ki", m_sample.numpy(), y.numpy(), x.numpy())
    assert np.allclose(modulated_hebb_update(term, w, x, y, m_sample).numpy(), per_sample, atol=1e-12)
    per_post = 0.1 * m_post.numpy()[:, None] * ref
    assert np.allclose(modulated_hebb_update(term, w, x, y, m_post).numpy(), per_post, atol=1e-12)
    with pytest.raises(ValueError, match="m must be a scalar"):
        modulated_hebb_update(term, w, x, y, torch.ones(7, dtype=F64))


def test_oja_single_step_by_hand():
    w = t([[0.6, 0.8]])
    x = t([2.0, 1.0])
    y = 0.6 * 2.0 + 0.8 * 1.0  # = 2.0
    dw = oja_update(OjaTerm(lr=0.05), w, x)
    expected = t([[0.05 * y * (2.0 - y * 0.6), 0.05 * y * (1.0 - y * 0.8)]])
    assert torch.allclose(dw, expected, atol=1e-12, rtol=0)


def test_oja_finds_the_first_principal_component():
    gen = torch.Generator().manual_seed(0)
    cov = t([[3.0, 1.2], [1.2, 1.0]])
    chol = torch.linalg.cholesky(cov)
    w = t([[0.1, -0.3]])
    term = OjaTerm(lr=0.002)
    for _ in range(1500):
        x = torch.randn(8, 2, generator=gen, dtype=F64) @ chol.t()
        w += oja_update(term, w, x)
    top = torch.linalg.eigh(cov).eigenvectors[:, -1]
    assert abs(float(torch.linalg.vector_norm(w)) - 1.0) < 0.03
    assert abs(float(w[0] @ top)) > 0.995


def _softhebb_by_hand(w, x, lr, t_invert, power, anti, normalize):
    """SoftHebb written out with loops (numpy float64)."""
    batch, post = x.shape[0], w.shape[0]
    u = np.array([[sum(w[k, i] * x[n, i] for i in range(w.shape[1])) for k in range(post)]
                  for n in range(batch)])
    y = np.zeros_like(u)
    for n in range(batch):
        e = [np.exp(t_invert * (u[n, k] - u[n].max())) for k in range(post)]
        for k in range(post):
            y[n, k] = e[k] / sum(e)
            if anti and k != int(np.argmax(u[n])):
                y[n, k] = -y[n, k]
    dw = np.zeros_like(w)
    for k in range(post):
        for n in range(batch):
            dw[k] += y[n, k] * (x[n] - u[n, k] * w[k])
    if normalize:
        dw /= np.abs(dw).max() + 1e-30
    for k in range(post):
        dw[k] *= lr * (abs(np.sqrt((w[k] ** 2).sum()) - 1) + 1e-10) ** power
    return dw, u


@pytest.mark.parametrize("anti", [True, False])
@pytest.mark.parametrize("normalize", [True, False])
def test_softhebb_single_step_by_hand(rng, anti, normalize):
    w, x = rng.uniform(0, 1.5, size=(5, 4)), rng.uniform(0, 1, size=(3, 4))
    term = SoftHebbTerm(lr=0.07, t_invert=2.5, power_lr=0.5, anti_hebbian=anti, normalize=normalize)
    dw, u = softhebb_update(term, t(w), t(x))
    want_dw, want_u = _softhebb_by_hand(w, x, 0.07, 2.5, 0.5, anti, normalize)
    assert np.allclose(u.numpy(), want_u, atol=1e-12, rtol=0)
    assert np.allclose(dw.numpy(), want_dw, atol=1e-12, rtol=0)
    if normalize:  # the largest change of the step is the largest per-neuron rate
        assert float(dw.abs().max()) <= float(radius_lr(term, t(w)).max()) + 1e-12


def test_soft_wta_is_the_tempered_softmax():
    u = t([[1.0, 2.0, 3.0], [1000.0, 1000.0, 999.0]])
    y = soft_wta(SoftHebbTerm(t_invert=2.0), u)
    e = np.exp(2.0 * np.array([1.0, 2.0, 3.0]))
    assert np.allclose(y[0].numpy(), e / e.sum(), atol=1e-12)
    assert np.allclose(y[1].numpy(), [1 / (2 + np.exp(-2)), 1 / (2 + np.exp(-2)),
                                      np.exp(-2) / (2 + np.exp(-2))], atol=1e-12)  # stable at large u
    assert torch.allclose(soft_wta(SoftHebbTerm(t_invert=2.0), u, backend="numba"), y, atol=1e-14, rtol=0)


def test_softhebb_weights_converge_to_the_unit_sphere():
    """With ỹ = y every norm flows to 1 (d‖w_k‖²/dt ∝ Σ y u (1 - ‖w_k‖²)), starting far outside
    and inside the sphere; the radius-dependent rate then vanishes."""
    gen = torch.Generator().manual_seed(1)
    centres = torch.rand(6, 12, generator=gen, dtype=F64)
    w = torch.rand(10, 12, generator=gen, dtype=F64)
    w[:5] *= 8.0 / torch.linalg.vector_norm(w[:5], dim=1, keepdim=True)  # radius 8
    w[5:] *= 0.3 / torch.linalg.vector_norm(w[5:], dim=1, keepdim=True)  # radius 0.3
    term = SoftHebbTerm(lr=0.1, t_invert=1.0, power_lr=0.5, anti_hebbian=False)
    for _ in range(300):
        pick = torch.randint(0, 6, (16,), generator=gen)
        x = centres[pick] + 0.05 * torch.randn(16, 12, generator=gen, dtype=F64)
        w += softhebb_update(term, w, x)[0]
    norms = torch.linalg.vector_norm(w, dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-3), norms


@pytest.mark.parametrize("anti", [True, False])
def test_numba_kernels_equal_torch(rng, anti):
    w, x = t(rng.uniform(0, 2, size=(40, 30))), t(rng.uniform(0, 1, size=(17, 30)))
    y = t(rng.uniform(0, 1, size=(17, 40)))
    for f, args in [(hebb_update, (HebbTerm(0.1, 0.3), w, x, y)),
                    (modulated_hebb_update, (HebbTerm(0.1), w, x, y, t(rng.normal(size=17)))),
                    (oja_update, (OjaTerm(0.01), w, x)),
                    (oja_update, (OjaTerm(0.01), w, x, y))]:
        assert torch.allclose(f(*args, backend="numba"), f(*args), atol=1e-12, rtol=1e-12)
    term = SoftHebbTerm(lr=0.05, t_invert=3.0, anti_hebbian=anti)
    for given in (None, y):
        (a, ua), (b, ub) = softhebb_update(term, w, x, given), softhebb_update(term, w, x, given, "numba")
        assert torch.allclose(ua, ub, atol=1e-12, rtol=0)
        assert torch.allclose(a, b, atol=1e-12, rtol=1e-10)


def test_no_autograd_graph_even_for_parameters(rng):
    w = torch.nn.Parameter(t(rng.uniform(0, 1, size=(4, 3))))
    x = t(rng.uniform(0, 1, size=(2, 3)))
    for dw in (hebb_update(HebbTerm(), w, x, x @ w.t()), oja_update(OjaTerm(), w, x),
               softhebb_update(SoftHebbTerm(), w, x)[0]):
        assert dw.grad_fn is None and not dw.requires_grad
    assert w.grad is None


def test_argument_errors():
    w, x = torch.zeros(3, 4, dtype=F64), torch.zeros(2, 4, dtype=F64)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4\)"):
        hebb_update(HebbTerm(), w, torch.zeros(2, 5, dtype=F64), torch.zeros(2, 3, dtype=F64))
    with pytest.raises(ValueError, match="same number of samples"):
        hebb_update(HebbTerm(), w, x, torch.zeros(3, 3, dtype=F64))
    with pytest.raises(ValueError, match="backend must be one of"):
        oja_update(OjaTerm(), w, x, backend="cuda")
    with pytest.raises(ValueError, match="share one dtype"):
        oja_update(OjaTerm(), w, x.float())
    with pytest.raises(ValueError, match="lr must be >= 0"):
        HebbTerm(lr=-1.0)
    with pytest.raises(ValueError, match="t_invert must be > 0"):
        SoftHebbTerm(t_invert=0.0)
    with pytest.raises(ValueError, match="one number shared by all synapses"):
        OjaTerm(lr=[0.1, 0.2])
    with pytest.raises(TypeError, match="anti_hebbian must be True or False"):
        SoftHebbTerm(anti_hebbian=1)
