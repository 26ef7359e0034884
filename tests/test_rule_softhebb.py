"""The SoftHebb rule: learns without autograd in its Hebbian layers, the numba backend equals
the torch one, runs are reproducible and resume exactly, and (slow) it reaches >= 90% on the
digits and on MNIST 10k with one Hebbian layer and a linear read-out."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import rules  # noqa: E402
from rules.base import peak_training_bytes  # noqa: E402
from rules.softhebb import SoftHebb, SoftHebbConfig  # noqa: E402
from snn.datasets import load_digits, load_mnist  # noqa: E402

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

# Small and quick on the digits: 1,437 training images give too few updates to anneal the
# official initial radius of 35, so start near the unit sphere.
FAST = dict(init_radius=2.0, hebbian_epochs=1, batch_size=32, lr=1e-2, activation="triangle")


@pytest.fixture(scope="module")
def digits():
    return load_digits().stratified_split(0.2, seed=0)


def small(hidden=128, seed=0, **kw):
    return SoftHebb.build([64, hidden, 10], seed=seed, **{**FAST, **kw})


def test_registered_by_name():
    assert rules.get("softhebb") is SoftHebb
    assert SoftHebb.uses_autograd is False


def test_learns_digits_far_above_chance(digits):
    train, test = digits
    rule = small()
    hist = rule.fit(train, test, epochs=2)
    assert hist[-1].test_accuracy > 0.8  # chance is 0.1
    assert hist[-1].train_loss < hist[0].train_loss


def test_hebbian_layer_never_touched_by_autograd(digits):
    """The Hebbian weight is a buffer without gradient, its update records no graph, and the
    only tensors autograd saves during a training step are the read-out's."""
    train, _ = digits
    rule = small()
    x = torch.as_tensor(train.to_float32()[:32]).unsqueeze(0)
    y = torch.tensor(train.labels[:32], dtype=torch.long)
    weight = rule.layers[0].weight
    before = weight.clone()
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        rule.train_batch(x, y)
    assert not torch.equal(weight, before)  # it learned ...
    assert weight.grad is None and not weight.requires_grad  # ... without autograd
    assert saved  # the read-out's input and weight, the loss's scores and labels
    assert not any((s.dim() and s.shape[-1] == 64) or s.data_ptr() in (weight.data_ptr(), x.data_ptr())
                   for s in saved)
    feats = rule.features(x, learn=True)
    assert feats.grad_fn is None and not feats.requires_grad
    # what autograd holds is at most the read-out's input and weights
    held = peak_training_bytes(lambda: rule.train_batch(x, y))
    assert 0 < held <= 4 * (32 * 128 + 10 * 128 + 32 * 10)


def test_numba_backend_equals_torch(digits):
    train, test = digits
    sub = train[:400]
    a = small(backend="torch", dtype="float64", hebbian_epochs=1)
    b = small(backend="numba", dtype="float64", hebbian_epochs=1)
    ha, hb = a.fit(sub, epochs=1), b.fit(sub, epochs=1)
    assert torch.allclose(a.layers[0].weight, b.layers[0].weight, atol=1e-9, rtol=0)
    assert torch.allclose(a.readout.weight, b.readout.weight, atol=1e-9, rtol=0)
    assert abs(ha[0].train_loss - hb[0].train_loss) < 1e-9
    assert a.evaluate(test) == b.evaluate(test)


def test_same_seed_same_run(digits):
    train, test = digits
    sub = train[:500]
    a, b, c = small(seed=3), small(seed=3), small(seed=4)
    ha, hb = a.fit(sub, test, epochs=2), b.fit(sub, test, epochs=2)
    c.fit(sub, epochs=1)
    assert [h.train_loss for h in ha] == [h.train_loss for h in hb]
    assert torch.equal(a.layers[0].weight, b.layers[0].weight)
    assert torch.equal(a.readout.weight, b.readout.weight)
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)
    assert a.evaluate(test) == a.evaluate(test)


def test_resume_continues_exactly(digits, tmp_path):
    train, test = digits
    sub = train[:500]
    whole = small(seed=5)
    whole.fit(sub, epochs=3)
    ckpt = tmp_path / "run.h5"
    small(seed=5).fit(sub, epochs=2, checkpoint=ckpt)
    resumed = small(seed=99)  # different init: everything must come from the checkpoint
    resumed.fit(sub, epochs=3, checkpoint=ckpt, resume=True)
    assert [h.epoch for h in resumed.history] == [1, 2, 3]
    assert torch.equal(whole.layers[0].weight, resumed.layers[0].weight)
    assert torch.equal(whole.readout.weight, resumed.readout.weight)
    assert [p.name for p in tmp_path.iterdir()] == ["run.h5"]
    with pytest.raises(ValueError, match="does not fit this network"):
        SoftHebb.build([64, 32, 10]).load(ckpt)


def test_spiking_variant_learns(digits):
    train, test = digits
    rule = small(hidden=100, spiking=True, steps=8, t_invert=30.0)
    assert rule.config.encoder == "rate"
    hist = rule.fit(train, test, epochs=2)
    assert hist[-1].test_accuracy > 0.6
    radius = rule.layers[0].radius()
    assert float((radius - 1).abs().max()) < 0.3  # from about 2 towards the unit sphere


def test_synaptic_ops_closed_form(digits):
    train, _ = digits
    rule = small(hidden=128, hebbian_epochs=1)
    x = torch.as_tensor(train.to_float32()[:16]).unsqueeze(0)
    syn, out = 64 * 128, 128 * 10
    assert rule.synaptic_ops(x) == pytest.approx(syn + syn + syn / 16 + 2 * out + out / 16)
    rule.fit(train[:32], epochs=1)  # the Hebbian phase is over: forward pass and read-out only
    assert rule.synaptic_ops(x) == pytest.approx(syn + 2 * out + out / 16)


def test_config_errors():
    with pytest.raises(ValueError, match="sizes must list"):
        SoftHebb.build([64, 10])
    with pytest.raises(ValueError, match="activation must be one of"):
        SoftHebbConfig(activation="tanh")
    with pytest.raises(ValueError, match="backend must be 'torch' or 'numba'"):
        SoftHebbConfig(backend="jax")
    with pytest.raises(ValueError, match="t_invert must be > 0"):
        SoftHebbConfig(t_invert=-1.0)
    with pytest.raises(ValueError, match="runs on the CPU"):
        SoftHebb([64, 16, 10], SoftHebbConfig(backend="numba"), device="cuda")


@pytest.mark.slow
def test_digits_reach_90_percent(digits):
    train, test = digits
    rule = SoftHebb.build([64, 512, 10], **{**FAST, "hebbian_epochs": 3})
    hist = rule.fit(train, test, epochs=8)
    assert hist[-1].test_accuracy >= 0.90


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.exists(), reason="MNIST not found in shared/data/mnist")
def test_mnist_10k_reaches_90_percent():
    """One Hebbian layer of 2000 neurons and a linear read-out, 8k/2k split; the learned
    features also beat the same network left at its random initial weights."""
    ds = load_mnist(directory=MNIST, split="test")
    train, test = ds[:8000], ds[8000:]
    learned = SoftHebb.build([784, 2000, 10], hebbian_epochs=3).fit(train, test, epochs=10)
    frozen = SoftHebb.build([784, 2000, 10], hebbian_epochs=0).fit(train, test, epochs=10)
    assert learned[-1].test_accuracy >= 0.90
    assert learned[-1].test_accuracy > frozen[-1].test_accuracy + 0.005
