"""The Tempotron: its kernel and potentials in closed form, the error-driven update at t_max,
learning random latency patterns to 100%, learnable intrinsics, and digits (slow)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import rules  # noqa: E402
from rules.tempotron import Tempotron, TempotronConfig, kernel_peak_scale  # noqa: E402
from snn.datasets import load_digits  # noqa: E402
from snn.datasets.record import Dataset  # noqa: E402
from snn.encoding import latency  # noqa: E402


def latency_task(n_in=200, patterns=100, classes=2, seed=0):
    """Random latency patterns (each input fires once at a random time) with random labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(1, 256, size=(patterns, 1, n_in), dtype=np.uint8)
    labels = rng.integers(0, classes, size=patterns)
    return Dataset(images, labels, "random-latency", classes)


def single_spikes(n_in, steps, times):
    """One sample, input i firing once at step times[i] (None: silent)."""
    x = torch.zeros(steps, 1, n_in)
    for i, k in enumerate(times):
        if k is not None:
            x[k, 0, i] = 1.0
    return x


def test_registered_and_no_autograd():
    assert rules.get("tempotron") is Tempotron
    assert Tempotron.uses_autograd is False


def test_kernel_peak_is_one_and_potential_is_the_psp_sum():
    tau, tau_s = 15e-3, 15e-3 / 4
    u = np.linspace(0, 0.1, 200_001)
    v0 = kernel_peak_scale(tau, tau_s)
    assert np.max(v0 * (np.exp(-u / tau) - np.exp(-u / tau_s))) == pytest.approx(1.0, abs=1e-8)
    t = Tempotron.build([3, 1], steps=40, momentum=0.0)
    with torch.no_grad():
        t.net.weight.copy_(torch.tensor([[0.7, -0.4, 1.1]]))
    x = single_spikes(3, 40, [2, 9, None])
    vmax, tmax, _ = t.potentials(x)
    k = np.arange(40) * 1e-3

    def psp(t0):
        lag = k - t0 * 1e-3
        return np.where(lag > 0, v0 * (np.exp(-lag / tau) - np.exp(-lag / tau_s)), 0.0)

    v = 0.7 * psp(2) - 0.4 * psp(9)
    assert int(tmax) == int(np.argmax(v))
    assert float(vmax) == pytest.approx(v.max(), rel=1e-5)
    # neurons with their own (learned) time constants: tau_s / tau stays 1/4
    two = Tempotron.build([3, 2], steps=40)
    with torch.no_grad():
        two.net.weight.copy_(torch.tensor([[0.7, -0.4, 1.1], [0.7, -0.4, 1.1]]))
        two.net.log_tau.copy_(torch.log(torch.tensor([15e-3, 25e-3])))
    vmax2, _, _ = two.potentials(x)
    tau, tau_s = 25e-3, 25e-3 / 4
    v_slow = 0.7 * psp(2) - 0.4 * psp(9)
    assert float(vmax2[0, 0]) == pytest.approx(v.max(), rel=1e-5)
    assert float(vmax2[0, 1]) == pytest.approx(v_slow.max(), rel=1e-5)
    assert v_slow.max() != pytest.approx(v.max(), rel=1e-3)


def test_update_on_a_miss_and_on_a_false_alarm():
    """dw_i = +-lr K(t_max - t_i) for inputs that fired before t_max, nothing otherwise; the
    threshold moves the other way when intrinsics are learned."""
    t = Tempotron.build([3, 1], steps=40, momentum=0.0, lr=0.01, learn_intrinsics=True)
    with torch.no_grad():
        t.net.weight.copy_(torch.tensor([[0.3, 0.2, 0.1]]))
    x = single_spikes(3, 40, [2, 6, 35])
    _, tmax, _ = t.potentials(x)
    tmax = int(tmax)
    assert tmax < 35
    lag = (tmax - np.array([2, 6])) * 1e-3
    v0 = kernel_peak_scale(15e-3, 15e-3 / 4)
    kern = v0 * (np.exp(-lag / 15e-3) - np.exp(-lag / (15e-3 / 4)))
    w0, theta0 = t.net.weight.clone(), float(t.net.threshold())
    t.train_batch(x, torch.tensor([1]))  # missed: V stays below theta = 1
    dw = (t.net.weight - w0)[0].numpy()
    np.testing.assert_allclose(dw, [0.01 * kern[0], 0.01 * kern[1], 0.0], rtol=1e-5, atol=1e-9)
    assert float(t.net.threshold()) < theta0
    with torch.no_grad():
        t.net.weight.fill_(2.0)
    theta1 = float(t.net.threshold())
    t.train_batch(x, torch.tensor([0]))  # false alarm
    assert torch.all(t.net.weight[0, :2] < 2.0) and t.net.weight[0, 2] == 2.0
    assert float(t.net.threshold()) > theta1
    w2 = t.net.weight.clone()
    t.train_batch(x, torch.tensor([1]))  # correct: no change
    assert torch.equal(t.net.weight, w2)


def test_tau_update_is_the_derivative_of_v_at_t_max():
    t = Tempotron.build([20, 1], steps=30, momentum=0.0)
    g = torch.Generator().manual_seed(0)
    x = latency(torch.rand(1, 20, generator=g), 30)
    vmax, tmax, current = t.potentials(x)
    lag = tmax.unsqueeze(-1) - torch.arange(30)
    _, dk = t._kernel(lag, t.net.log_tau.exp().view(1, -1, 1))
    analytic = torch.einsum("boj,jbo->bo", dk, current)
    eps = 1e-3
    with torch.no_grad():
        t.net.log_tau.add_(eps)
        up = t._kernel(lag, t.net.log_tau.exp().view(1, -1, 1))[0]
        t.net.log_tau.sub_(2 * eps)
        down = t._kernel(lag, t.net.log_tau.exp().view(1, -1, 1))[0]
    numeric = torch.einsum("boj,jbo->bo", (up - down) / (2 * eps), current)
    torch.testing.assert_close(analytic, numeric, rtol=1e-3, atol=1e-5)


def test_learns_random_latency_patterns_to_100_percent():
    ds = latency_task(n_in=200, patterns=100)
    t = Tempotron.build([200, 1], steps=50, batch_size=10)
    t.fit(ds, epochs=40)
    assert t.evaluate(ds) == 1.0


@pytest.mark.parametrize("per_class", [1, 3])
def test_multiclass_latency_patterns(per_class):
    ds = latency_task(n_in=100, patterns=60, classes=3, seed=1)
    t = Tempotron.build([100, 3], steps=40, batch_size=10, neurons_per_class=per_class)
    t.fit(ds, epochs=25)
    assert t.evaluate(ds) >= 0.95


def test_learnable_intrinsics_change_and_still_learn():
    ds = latency_task(n_in=100, patterns=60, classes=2, seed=2)
    t = Tempotron.build([100, 1], steps=40, batch_size=10, learn_intrinsics=True, intrinsic_lr=1e-2)
    theta, log_tau = t.net.threshold().clone(), t.net.log_tau.clone()
    t.fit(ds, epochs=30)
    assert t.evaluate(ds) >= 0.95
    assert not torch.equal(t.net.threshold(), theta)
    assert not torch.equal(t.net.log_tau, log_tau)
    assert torch.all(t.net.threshold() > 0)


def test_same_seed_same_run_and_save_load(tmp_path):
    ds = latency_task(n_in=50, patterns=40, classes=4, seed=3)
    a = Tempotron.build([50, 4], steps=20, seed=1, learn_intrinsics=True)
    b = Tempotron.build([50, 4], steps=20, seed=1, learn_intrinsics=True)
    a.fit(ds, epochs=3)
    b.fit(ds, epochs=3)
    assert torch.equal(a.net.weight, b.net.weight)
    assert not torch.equal(a.net.weight, Tempotron.build([50, 4], steps=20, seed=2).net.weight)
    ckpt = tmp_path / "tempotron.h5"
    a.save(ckpt)
    c = Tempotron.build([50, 4], steps=20, seed=9)
    c.load(ckpt)
    for name, value in a.net.state_dict().items():
        assert torch.equal(value, c.net.state_dict()[name])
    assert c.evaluate(ds) == a.evaluate(ds)
    assert [h.epoch for h in c.history] == [1, 2, 3]
    a.fit(ds, epochs=4)
    c.fit(ds, epochs=4)  # momentum restored too: the runs continue identically
    assert torch.equal(a.net.weight, c.net.weight)


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"sizes must be \[n_inputs, n_classes\]"):
        Tempotron.build([64, 32, 10])
    with pytest.raises(ValueError, match="spiking=False is not available"):
        Tempotron.build([64, 10], spiking=False)
    with pytest.raises(ValueError, match="tau_s .* must be shorter than tau"):
        TempotronConfig(tau=5e-3, tau_s=10e-3)
    with pytest.raises(ValueError, match="momentum must lie in"):
        TempotronConfig(momentum=1.0)
    with pytest.raises(ValueError, match="encoder 'poisson' is unknown"):
        TempotronConfig(encoder="poisson")
    t = Tempotron.build([64, 10])
    with pytest.raises(ValueError, match=r"shape \(T, batch, 64\)"):
        t.train_batch(torch.zeros(10, 64), torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="the data set has 200 input features"):
        t.evaluate(latency_task())
    ckpt = tmp_path / "t.h5"
    Tempotron.build([64, 5]).save(ckpt)
    with pytest.raises(ValueError, match="does not fit this network"):
        t.load(ckpt)


def test_synaptic_ops():
    t = Tempotron.build([20, 3], steps=10)
    x = single_spikes(20, 10, [k % 10 for k in range(20)])
    assert t.synaptic_ops(x) == 20 * 3 + 2 * 10 * 3 + 20 * 3
    assert t.synaptic_ops(torch.cat([x, x], 1)) == t.synaptic_ops(x)


@pytest.mark.slow
def test_digits_far_above_chance():
    train, test = load_digits().stratified_split(0.2, seed=0)
    t = Tempotron.build([64, 10], steps=25, neurons_per_class=5)
    hist = t.fit(train, test, epochs=10)
    assert hist[-1].test_accuracy > 0.85  # chance is 0.1
    assert math.isfinite(hist[-1].train_loss)


@pytest.mark.parametrize("learn_intrinsics", [False, True])
@pytest.mark.parametrize("encoder", ["latency", "rate"])
def test_numba_backend_equals_torch(learn_intrinsics, encoder):
    """Trained on a digits subset in float64, the numba backend gives the torch weights (and
    intrinsics, momentum, losses and accuracies)."""
    train, test = load_digits().stratified_split(0.2, seed=0)
    sub, held = train[:300], test[:150]
    runs = [Tempotron.build([64, 10], steps=20, encoder=encoder, neurons_per_class=2, batch_size=16,
                            learn_intrinsics=learn_intrinsics, intrinsic_lr=1e-2, backend=backend,
                            dtype="float64")
            for backend in ("torch", "numba")]
    hists = [t.fit(sub, held, epochs=2) for t in runs]
    a, b = runs
    assert a.net.weight.dtype == b.net.weight.dtype == torch.float64
    for name, value in a.net.state_dict().items():
        assert torch.allclose(value, b.net.state_dict()[name], atol=1e-9, rtol=0), name
    assert torch.allclose(a.velocity, b.velocity, atol=1e-9, rtol=0)
    for ha, hb in zip(*hists, strict=True):
        assert abs(ha.train_loss - hb.train_loss) < 1e-9
        assert ha.train_accuracy == hb.train_accuracy and ha.test_accuracy == hb.test_accuracy
    if learn_intrinsics:
        assert not torch.equal(a.net.log_tau, torch.full_like(a.net.log_tau, math.log(15e-3)))
    x = a._encode(torch.as_tensor(held.to_float32()[:32]), torch.Generator().manual_seed(0))
    va, ta, ca = a.potentials(x)
    vb, tb, cb = b.potentials(x)
    assert torch.equal(ta, tb)
    assert torch.allclose(va, vb, atol=1e-9, rtol=0) and torch.allclose(ca, cb, atol=1e-9, rtol=0)


def test_numba_backend_float32_and_one_step():
    ds = latency_task(n_in=50, patterns=40, classes=2, seed=4)
    a, b = (Tempotron.build([50, 1], steps=20, backend=backend) for backend in ("torch", "numba"))
    a.fit(ds, epochs=3)
    b.fit(ds, epochs=3)
    assert b.net.weight.dtype == torch.float32
    assert torch.allclose(a.net.weight, b.net.weight, atol=1e-4)
    x = single_spikes(3, 1, [0, 0, None])
    one = Tempotron.build([3, 1], steps=1, backend="numba")
    vmax, tmax, _ = one.potentials(x)
    assert float(vmax) == 0.0 and int(tmax) == 0


def test_backend_and_dtype_errors():
    with pytest.raises(ValueError, match="backend must be 'torch' or 'numba'"):
        TempotronConfig(backend="jax")
    with pytest.raises(ValueError, match="dtype must be one of"):
        TempotronConfig(dtype="float16")
    with pytest.raises(ValueError, match="backend='numba' runs on the CPU"):
        Tempotron.build([64, 10], backend="numba", device="cuda")


def test_checkpoint_keeps_the_loading_runs_backend(tmp_path):
    ds = latency_task(n_in=30, patterns=20, classes=2, seed=5)
    a = Tempotron.build([30, 1], steps=15, backend="numba", dtype="float64")
    a.fit(ds, epochs=2)
    a.save(tmp_path / "t.h5")
    b = Tempotron.build([30, 1], steps=15)
    b.load(tmp_path / "t.h5")
    assert b.config.backend == "torch" and b.config.dtype == "float32"
    assert b.velocity.dtype == b.net.weight.dtype == torch.float32
    assert torch.allclose(b.net.weight, a.net.weight.float())
    assert b.evaluate(ds) == a.evaluate(ds)
