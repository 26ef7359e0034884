"""TESS: the online updates equal the paper's eligibility formulas, nothing crosses layers or
time steps, training memory is flat in T, and it learns (digits; MNIST and the BPTT comparison
are slow tests)."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import rules  # noqa: E402
from rules.base import SavedTensorMeter, peak_training_bytes  # noqa: E402
from rules.bptt import BPTT, mlp  # noqa: E402
from rules.tess import TESS, TESSConfig, square_wave_basis  # noqa: E402
from snn.datasets import load_digits, load_mnist  # noqa: E402
from snn.encoding import DECODERS, rate  # noqa: E402

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(scope="module")
def digits():
    return load_digits().stratified_split(0.2, seed=0)


def batch(steps=12, n=64, size=16, seed=0, p=0.3):
    g = torch.Generator().manual_seed(seed)
    x = rate(torch.rand(size, n, generator=g) * p / 0.3 * 0.6, steps, generator=g)
    y = torch.randint(0, 10, (size,), generator=g)
    return x, y


def grads(t):
    return {k: v.grad.clone() for k, v in t.net.named_parameters()}


def test_registered_and_no_autograd():
    assert rules.get("tess") is TESS
    assert TESS.uses_autograd is False


def test_square_wave_basis():
    b = square_wave_basis(10, 512)
    assert b.shape == (10, 512)
    assert torch.all(b[:, 0] == 0)  # sin(0)
    assert torch.all(b[:, 1:].abs() == 1)
    gram = (b @ b.t()) / 512
    off = gram - torch.diag(torch.diag(gram))
    assert off.abs().max() < 0.1  # rows nearly orthogonal (about 0.05, tess.md)
    assert torch.equal(b, square_wave_basis(10, 512))


@pytest.mark.parametrize("readout,decoder", [("li", "mean_membrane"), ("li", "max_membrane"),
                                             ("lif", "count"), ("lif", "first_spike")])
def test_time_loop_equals_the_network(readout, decoder):
    """TESS's step-by-step forward and online decoding equal the engine's layers and decoder."""
    t = TESS.build([64, 32, 10], readout=readout, decoder=decoder)
    x, _ = batch()
    with torch.no_grad():
        expected = DECODERS[decoder](t.net(x))
    torch.testing.assert_close(t.scores(x), expected, rtol=1e-5, atol=1e-5)


def test_readout_update_is_the_exact_gradient_of_the_per_step_loss():
    """The LI read-out's presynaptic trace gives the exact gradient of sum_t CE(v[t]) on its
    (detached) input, without unrolling time."""
    t = TESS.build([64, 32, 10], steps=12)
    x, y = batch()
    t.accumulate(x, y)
    hidden, readout = t.net[0], t.net[1]
    with torch.no_grad():
        h = hidden(x)
    v = readout(h)
    loss = sum(torch.nn.functional.cross_entropy(v[k], y) for k in range(len(v)))
    gw, gb = torch.autograd.grad(loss, [readout.weight, readout.bias])
    torch.testing.assert_close(readout.weight.grad, gw, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(readout.bias.grad, gb, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("factors", [(0.2, 0.5, 1.0, 1.0), (0.3, 0.75, -1.0, 1.0)])
def test_hidden_update_follows_the_eligibility_formula(factors):
    """G = sum_t m[t] (alpha_pre psi[t] q[t] + alpha_post p[t-1] x[t]) with q including x[t],
    p the trace of psi, m the derivative of the layer's square-wave CE (computed here from
    stored sequences, independently of the rule's online loop)."""
    lam_post, lam_pre, a_post, a_pre = factors
    t = TESS.build([64, 48, 10], steps=12, factors=factors, window=9, temperature=0.25)
    x, y = batch()
    t.accumulate(x, y)
    layer = t.net[0]
    with torch.no_grad():
        cur = x @ layer.weight.t() + layer.bias
    basis = square_wave_basis(10, 48)
    u = torch.zeros(16, 48)
    q, p = torch.zeros(16, 64), torch.zeros(16, 48)
    gw, gb = torch.zeros_like(layer.weight), torch.zeros_like(layer.bias)
    for k in range(12):
        v = 0.9 * u + cur[k]
        o = (v > 1.0).float()
        psi = 1.0 / (1.0 + 100.0 * (v - 1.0).abs()) ** 2
        q = lam_pre * q + x[k]
        if k >= 3:  # window: the last 9 steps
            leaf = o.clone().requires_grad_(True)
            ce = torch.nn.functional.cross_entropy(leaf @ basis.t() / 48 / 0.25, y)
            (m,) = torch.autograd.grad(ce, leaf)
            gw += a_pre * (m * psi).t() @ q + a_post * (m * p).t() @ x[k]
            gb += (m * psi).sum(0)
        p = lam_post * p + psi
        u = v - o
    torch.testing.assert_close(layer.weight.grad, gw, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(layer.bias.grad, gb, rtol=1e-4, atol=1e-7)


def test_no_gradient_crosses_layers():
    """A layer's update does not change when the weights of any later layer do."""
    t = TESS.build([64, 40, 30, 10])
    x, y = batch()
    t.accumulate(x, y)
    before = grads(t)
    for changed in (2, 1):
        with torch.no_grad():
            t.net[changed].weight.mul_(-3.0).add_(0.1)
        t.accumulate(x, y)
        after = grads(t)
        for n in range(changed):
            assert torch.equal(before[f"{n}.weight"], after[f"{n}.weight"])
            assert torch.equal(before[f"{n}.bias"], after[f"{n}.bias"])
        assert not torch.equal(before[f"{changed}.weight"], after[f"{changed}.weight"])


def test_no_autograd_graph_at_any_T_or_depth():
    """Autograd holds nothing during a training step, whatever T and the depth (a graph
    spanning time or layers would)."""
    for sizes, steps in (([64, 32, 10], 5), ([64, 32, 32, 32, 10], 60)):
        t = TESS.build(sizes, steps=steps)
        x, y = batch(steps=steps)
        with SavedTensorMeter() as meter:
            t.train_batch(x, y)
        assert meter.peak == 0


def test_memory_flat_in_T_while_bptt_grows():
    sizes, size = [64, 32, 10], 32

    def peak(rule, steps):
        x, y = batch(steps=steps, size=size)
        state = rule.state_bytes(size, steps) if isinstance(rule, TESS) else 0
        return peak_training_bytes(lambda: rule.train_batch(x, y), state_bytes=state)

    tess = TESS.build(sizes)
    bptt = BPTT.build(sizes)
    t10, t400 = peak(tess, 10), peak(tess, 400)
    assert t10 > 0 and t400 <= 1.2 * t10
    assert peak(bptt, 400) >= 10 * peak(bptt, 10)


@pytest.mark.parametrize("readout,floor", [("li", 0.7), ("lif", 0.5)])
def test_learns_digits_far_above_chance(digits, readout, floor):
    train, test = digits
    t = TESS.build([64, 64, 10], steps=8, lr=1e-2, batch_size=64, readout=readout)
    # 5 epochs: the default cosine schedule averages half the rate (after 3, a LIF read-out is
    # at 0.42 with it, 0.74 with lr_schedule="constant")
    hist = t.fit(train[::2], test, epochs=5)
    assert hist[-1].test_accuracy > floor  # chance is 0.1
    assert hist[-1].train_accuracy > hist[0].train_accuracy


def test_meta_neuron_intrinsic_updates_are_exact_local_gradients():
    """The forward traces of the meta-neuron's intrinsics give the gradient of
    sum_t m[t] s[t] (straight-through, detached reset) that autograd finds through time."""
    t = TESS.build([64, 24, 10], steps=10, neuron="meta", factors=(0.2, 0.5, 0.0, 1.0), temperature=0.5)
    layer = t.net[0]
    with torch.no_grad():  # spread the intrinsics so every term matters
        g = torch.Generator().manual_seed(1)
        for p in layer.neuron_params.values():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    x, y = batch(steps=10)
    t.accumulate(x, y, generator=torch.Generator().manual_seed(5))
    mine = {k: v.grad.clone() for k, v in layer.neuron_params.items()}
    assert set(mine) == {"beta_logit", "v_thresh", "v_reset", "log_kappa"}

    params = dict(layer.neuron_params)
    consts = dict(layer.impl.constants(layer.neuron, layer.dt), generator=torch.Generator().manual_seed(5))
    signal = t.layers[0].signal
    cur = (x @ layer.weight.t() + layer.bias).detach()
    state = layer.impl.initial_state(layer.neuron, cur[0])
    total = 0.0
    onehot = torch.nn.functional.one_hot(y, 10).float()
    for k in range(10):
        s, state = layer.impl.step(layer.neuron, consts, cur[k], {"u": state["u"]}, None, True, params)
        logits = s.detach() @ signal.t() / 0.5
        m = (torch.softmax(logits, 1) - onehot) / (len(y) * 0.5) @ signal
        total = total + (m * s).sum()
    ref = torch.autograd.grad(total, list(params.values()))
    for (name, got), want in zip(mine.items(), ref, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6, msg=name)


def test_meta_neuron_network_learns_and_changes_intrinsics(digits):
    train, test = digits
    t = TESS.build([64, 64, 10], steps=8, neuron="meta", batch_size=32)
    start = {k: v.clone() for k, v in t.net[0].neuron_params.items()}
    hist = t.fit(train[::2], test, epochs=2)
    assert hist[-1].test_accuracy > 0.6
    for name, value in t.net[0].neuron_params.items():
        assert not torch.equal(value, start[name]), name


def test_same_seed_same_run(digits):
    train, _ = digits
    a, b = (TESS.build([64, 32, 10], steps=6, seed=3, neuron="meta") for _ in range(2))
    ha, hb = a.fit(train[:300], epochs=1), b.fit(train[:300], epochs=1)
    assert ha[0].train_loss == hb[0].train_loss
    for p, q in zip(a.net.parameters(), b.net.parameters(), strict=True):
        assert torch.equal(p, q)
    c = TESS.build([64, 32, 10], steps=6, seed=4, neuron="meta")
    assert not torch.equal(c.net[0].weight, a.net[0].weight)


def test_save_load_and_resume(digits, tmp_path):
    train, test = digits
    small = train[:256]
    # a learning-rate schedule spans schedule_epochs (default: the epochs of the fit call), so a
    # run that is resumed fixes it
    whole = TESS.build([64, 32, 10], steps=6, seed=5, schedule_epochs=2)
    whole.fit(small, epochs=2)
    ckpt = tmp_path / "tess.h5"
    first = TESS.build([64, 32, 10], steps=6, seed=5, schedule_epochs=2)
    first.fit(small, epochs=1, checkpoint=ckpt)
    resumed = TESS.build([64, 32, 10], steps=6, seed=99)
    resumed.fit(small, epochs=2, checkpoint=ckpt, resume=True)
    for p, q in zip(whole.net.parameters(), resumed.net.parameters(), strict=True):
        assert torch.equal(p, q)
    assert resumed.evaluate(test) == whole.evaluate(test)
    assert [h.epoch for h in resumed.history] == [1, 2]


def test_learning_rate_schedules(digits):
    cos = TESSConfig(lr=4e-3, lr_schedule="cosine")
    assert cos.lr_at(0.0) == pytest.approx(4e-3)
    assert cos.lr_at(0.5) == pytest.approx(2e-3)
    assert cos.lr_at(1.0) == pytest.approx(0.0, abs=1e-12)
    step = TESSConfig(lr=4e-3, lr_schedule="step")
    assert [step.lr_at(f) for f in (0.0, 0.4, 0.7)] == pytest.approx([4e-3, 2e-3, 1e-3])
    assert TESSConfig(lr=4e-3, lr_schedule="constant").lr_at(0.9) == 4e-3
    train, _ = digits
    t = TESS.build([64, 16, 10], steps=4, lr=4e-3, lr_schedule="cosine")
    t.fit(train[:256], epochs=2)  # two batches per epoch: the last one starts at 3/4 of the run
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(cos.lr_at(0.75))
    with pytest.raises(ValueError, match="lr_schedule 'linear' is unknown"):
        TESSConfig(lr_schedule="linear")


def test_clear_errors(digits, tmp_path):
    with pytest.raises(ValueError, match="factors must be four"):
        TESSConfig(factors=(0.2, 0.5, 1.0))
    with pytest.raises(ValueError, match="lam_post and lam_pre"):
        TESSConfig(factors=(1.5, 0.5, 1.0, 1.0))
    with pytest.raises(ValueError, match="window must be >= 1"):
        TESSConfig(window=0)
    with pytest.raises(ValueError, match="encoder 'poisson' is unknown"):
        TESS.build([64, 10, 10], encoder="poisson")
    with pytest.raises(ValueError, match="spiking=False is not available for tess"):
        TESS.build([64, 10, 10], spiking=False)
    with pytest.raises(ValueError, match="choose 'lif' or 'meta'"):
        TESS.build([64, 10, 10], neuron="adaptive")
    from snn.layers import relu_mlp

    with pytest.raises(TypeError, match="Dense: TESS trains feed-forward"):
        TESS(relu_mlp([64, 10, 10]))
    with pytest.raises(ValueError, match="at least one hidden layer"):
        TESS(mlp([64, 10]))
    t = TESS.build([64, 16, 10])
    with pytest.raises(ValueError, match=r"shape \(T, batch, 64\)"):
        t.train_batch(torch.zeros(5, 64), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        t.train_batch(torch.zeros(5, 3, 64), torch.full((3,), 10))
    ckpt = tmp_path / "bptt.h5"
    BPTT.build([64, 16, 10]).save(ckpt)
    with pytest.raises(ValueError, match="checkpoint of rule 'bptt', not tess"):
        t.load(ckpt)


def test_synaptic_ops_per_sample():
    t = TESS.build([64, 32, 10], steps=10)
    x, _ = batch(steps=10, size=8)
    ops = t.synaptic_ops(x)
    assert ops > 0
    n_params = sum(p.numel() for p in t.net.parameters())
    # per sample: the same except for the update, shared by twice the samples
    assert ops - t.synaptic_ops(torch.cat([x, x], 1)) == pytest.approx(n_params / 8 - n_params / 16)
    # denser input, more operations; the non-causal term costs per input event
    assert t.synaptic_ops(torch.ones_like(x)) > ops
    causal_only = TESS.build([64, 32, 10], steps=10, factors=(0.2, 0.5, 0.0, 1.0))
    assert causal_only.synaptic_ops(x) < ops


@pytest.mark.slow
def test_within_1_5_points_of_bptt_on_digits(digits):
    train, test = digits
    sizes, common = [64, 128, 10], dict(steps=25, batch_size=64)
    bptt = BPTT.build(sizes, **common).fit(train, test, epochs=30)[-1].test_accuracy
    tess = TESS.build(sizes, **common).fit(train, test, epochs=30)[-1].test_accuracy
    assert tess >= bptt - 0.015, (tess, bptt)


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.exists(), reason="MNIST not present in shared/data/mnist")
def test_mnist_10k_far_above_chance():
    ds = load_mnist(directory=MNIST, split="test")
    t = TESS.build([784, 500, 10], steps=25)
    hist = t.fit(ds[:8000], ds[8000:], epochs=3)
    assert hist[-1].test_accuracy > 0.9



@pytest.mark.parametrize("readout, window, factors", [("li", None, (0.2, 0.5, 1.0, 1.0)),
                                                      ("lif", 4, (0.3, 0.6, 0.5, 1.0)),
                                                      ("li", 6, (0.2, 0.5, 0.0, 1.0))])
def test_numba_backend_equals_torch(digits, readout, window, factors):
    """In float64 the numba backend's local updates equal torch's to round-off, on one batch
    and after an epoch on a digits subset (same weights, losses and accuracies). Adam turns
    the round-off of near-cancelling updates into small steps, so the two runs drift apart
    slowly (about five-fold a batch); an epoch of eight batches stays far below 1e-9."""
    train, test = digits
    sub, held = train[:256], test[:120]
    runs = [TESS.build([64, 24, 10], steps=10, readout=readout, batch_size=32, window=window,
                       factors=factors, lr_schedule="constant", backend=backend, dtype="float64")
            for backend in ("torch", "numba")]
    a, b = runs
    assert a.net[0].weight.dtype == b.net[0].weight.dtype == torch.float64
    x = a._encode(torch.as_tensor(sub.to_float32()[:32]), torch.Generator().manual_seed(1))
    y = torch.tensor(list(sub.labels[:32]), dtype=torch.long)
    (la, sa), (lb, sb) = a.accumulate(x, y), b.accumulate(x, y)
    assert abs(la.item() - lb.item()) < 1e-12 and torch.allclose(sa, sb, atol=1e-12, rtol=0)
    ga, gb = grads(a), grads(b)
    for name, value in ga.items():
        assert torch.allclose(value, gb[name], atol=1e-12, rtol=0), name
    hists = [t.fit(sub, held, epochs=1) for t in runs]
    for name, value in a.net.state_dict().items():
        assert torch.allclose(value, b.net.state_dict()[name], atol=1e-9, rtol=0), name
    ha, hb = hists[0][-1], hists[1][-1]
    assert abs(ha.train_loss - hb.train_loss) < 1e-9
    assert ha.train_accuracy == hb.train_accuracy and ha.test_accuracy == hb.test_accuracy
    assert a.evaluate(held) == b.evaluate(held)


def test_numba_backend_float32_runs_and_learns(digits):
    train, test = digits
    t = TESS.build([64, 32, 10], steps=10, batch_size=32, backend="numba", lr_schedule="constant")
    t.fit(train[:512], epochs=2)
    assert t.net[0].weight.dtype == torch.float32
    assert t.evaluate(test) > 0.3  # chance is 0.1


def test_backend_and_dtype_errors():
    with pytest.raises(ValueError, match="backend must be 'torch' or 'numba'"):
        TESSConfig(backend="jax")
    with pytest.raises(ValueError, match="dtype must be one of"):
        TESSConfig(dtype="float16")
    with pytest.raises(ValueError, match="backend='numba' runs on the CPU"):
        TESS.build([64, 16, 10], backend="numba", device="cuda")
    with pytest.raises(ValueError, match="backend='numba' trains LIF hidden layers"):
        TESS.build([64, 16, 10], neuron="meta", backend="numba")
