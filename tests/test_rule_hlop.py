"""HLOP (rules.hlop) and the continual-learning harness (rules.continual)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import rules
from rules.bptt import BPTT, BPTTConfig
from rules.continual import acc_bwt, permuted_tasks, run_sequence, spiking_cnn, split_tasks, write_report
from rules.hlop import HLOP, HLOPConfig, SubspaceNeurons, presynaptic_rows, projected_layers
from snn.datasets import load_digits

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def one_thread():
    """These networks are tiny: on a busy 2-core host, two torch threads make each small op
    wait for a descheduled thread (measured 70x slower Hebbian steps)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _low_rank_inputs(n: int, k: int, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs whose covariance has ``k`` large eigenvalues (9, 7, ...) and a small floor."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((n, n)))[0]
    scales = np.full(n, 0.1)
    scales[:k] = np.sqrt(np.linspace(9.0, 3.0, k))
    x = (rng.standard_normal((samples, n)) * scales) @ basis.T
    return x.astype(np.float32), basis[:, :k]


def test_hebbian_subspace_converges_to_principal_subspace():
    n, k = 24, 4
    x, _ = _low_rank_inputs(n, k, 4000, seed=1)
    sub = SubspaceNeurons(n)
    sub.add(k, torch.Generator().manual_seed(0))
    cfg = HLOPConfig(lateral=k)
    xt = torch.from_numpy(x)
    for _epoch in range(3):
        for start in range(0, len(x), 64):
            sub.hebbian(xt[start:start + 64], cfg)
    # principal subspace from numpy's SVD of the same samples
    u = np.linalg.svd(x, full_matrices=False)[2][:k].T
    H = sub.H.numpy().astype(np.float64)
    assert np.abs(H @ H.T - np.eye(k)).max() < 0.02  # orthonormal rows
    assert np.linalg.norm(H.T @ H - u @ u.T) < 0.05  # same projector
    # before learning, the random rows were far from it
    fresh = SubspaceNeurons(n)
    fresh.add(k, torch.Generator().manual_seed(0))
    F = fresh.H.numpy().astype(np.float64)
    assert np.linalg.norm(F.T @ F - u @ u.T) > 1.0


def test_old_neurons_stay_frozen_and_new_ones_learn_the_rest():
    n = 16
    x, _ = _low_rank_inputs(n, 6, 3000, seed=2)
    sub = SubspaceNeurons(n)
    gen = torch.Generator().manual_seed(0)
    sub.add(3, gen)
    cfg = HLOPConfig(lateral=3)
    xt = torch.from_numpy(x)
    for start in range(0, len(x), 64):
        sub.hebbian(xt[start:start + 64], cfg)
    sub.consolidate()
    old = sub.H.clone()
    sub.add(3, gen)
    for _ in range(2):
        for start in range(0, len(x), 64):
            sub.hebbian(xt[start:start + 64], cfg)
    assert torch.equal(sub.H[:3], old)
    u = np.linalg.svd(x, full_matrices=False)[2][:6].T
    H = sub.H.numpy().astype(np.float64)
    assert np.linalg.norm(H.T @ H - u @ u.T) < 0.08  # together: the top-6 subspace


def test_projected_update_is_orthogonal_to_the_subspace():
    n = 20
    sub = SubspaceNeurons(n)
    sub.add(5, torch.Generator().manual_seed(3))
    delta = torch.randn(7, n, generator=torch.Generator().manual_seed(4))
    assert torch.equal(sub.project(delta), delta)  # nothing old yet: unchanged
    sub.consolidate()
    projected = sub.project(delta)
    H = sub.H
    assert (projected @ H.T).abs().max() < 1e-5
    # the component outside the subspace is kept
    outside = delta - (delta @ H.T) @ H
    torch.testing.assert_close(projected, outside)


def _step_and_measure(rule, guard, x, y):
    """One training step; per layer ``|dW H^T| / |dW|`` (H: all lateral neurons), and whether
    the other parameters stayed put."""
    before = {name: p.detach().clone() for name, p in rule.net.named_parameters()}
    rule.train_batch(x, y)
    ratios, others_fixed = [], True
    for name, p in rule.net.named_parameters():
        delta = p.detach() - before[name]
        if name.endswith("weight"):
            H = guard.subspaces[int(name.split(".")[0])].H
            ratios.append(float((delta @ H.T).norm() / delta.norm()))
        else:
            others_fixed &= bool(torch.equal(delta, torch.zeros_like(delta)))
    return ratios, others_fixed


def test_hlop_projects_a_rules_weight_updates_and_freezes_the_rest():
    tasks = split_tasks(load_digits(), seed=0)
    rule = rules.get("bptt").build([64, 30, 2], steps=4, seed=0, spiking=True, batch_size=32)
    guard = HLOP(rule, HLOPConfig(lateral=[6, 5], hebbian_steps=200)).attach()
    rule.fit(tasks[0].train, epochs=1)
    guard.end_task(tasks[0].train)
    x, y = rule._inputs(tasks[1].train)
    enc = rule._encode(x[:32], torch.Generator().manual_seed(0))
    ratios, fixed = _step_and_measure(rule, guard, enc, y[:32])
    assert max(ratios) < 0.02 and fixed  # H is orthonormal to ~3e-3 after 200 steps
    guard.detach()
    assert rule.train_batch.__func__ is type(rule).train_batch
    ratios, fixed = _step_and_measure(rule, guard, enc, y[:32])
    assert min(ratios) > 0.1 and not fixed  # the rule's own step is not projected


def test_acc_bwt_hand_computed():
    R = np.array([[0.9, 0.1, 0.2], [0.7, 0.8, 0.1], [0.6, 0.5, 0.9]])
    acc, bwt = acc_bwt(R)
    assert acc == pytest.approx((0.6 + 0.5 + 0.9) / 3)
    assert bwt == pytest.approx(((0.6 - 0.9) + (0.5 - 0.8)) / 2)
    with pytest.raises(ValueError, match="square"):
        acc_bwt(np.zeros((2, 3)))


def test_task_builders():
    ds = load_digits()
    tasks = split_tasks(ds, seed=0)
    assert [t.name for t in tasks] == ["0-1", "2-3", "4-5", "6-7", "8-9"]
    assert all(t.train.n_classes == 2 and set(np.unique(t.test.labels)) == {0, 1} for t in tasks)
    perm = permuted_tasks(ds, 3, seed=0)
    a, b = (p.train.images.reshape(len(p.train), -1) for p in perm[:2])
    assert np.array_equal(np.sort(a, 1), np.sort(b, 1)) and not np.array_equal(a, b)
    with pytest.raises(ValueError, match="classes_per_task"):
        split_tasks(ds, seed=0, classes_per_task=3)
    with pytest.raises(ValueError, match="lateral"):
        HLOPConfig(lateral=-1)
    with pytest.raises(TypeError, match="network in .net"):
        HLOP(object())
    rule = rules.get("bptt").build([64, 10, 2], steps=2, seed=0)
    with pytest.raises(ValueError, match="lateral lists 3 sizes"):
        HLOP(rule, HLOPConfig(lateral=[1, 2, 3]))
    guard = HLOP(rule, HLOPConfig(lateral=[40, 4], hebbian_steps=5))
    guard.end_task(tasks[0].train)
    with pytest.raises(ValueError, match="exceed the layer's 64 inputs"):
        guard.end_task(tasks[0].train)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hlop_forgets_far_less_than_finetuning_on_split_digits(seed, tmp_path):
    """Domain-incremental split digits (5 tasks of 2 classes, one shared head), ReLU MLP.
    Measured (seeds 0/1/2): fine-tuning BWT -14/-12/-17 points, HLOP -1.1/-0.3/-0.8."""
    tasks = split_tasks(load_digits(), seed)

    def make():
        return rules.get("bptt").build([64, 100, 2], seed=seed, spiking=False, batch_size=32)

    ft = run_sequence(make, tasks, "finetune", epochs=3)
    hl = run_sequence(make, tasks, "hlop", epochs=3,
                      hlop=HLOPConfig(lateral=[5, 8], hebbian_steps=200, seed=seed))
    assert ft.bwt < -0.07
    assert hl.bwt > -0.04
    assert hl.bwt - ft.bwt > 0.07
    assert hl.lateral == [20, 32]
    if seed == 0:
        write_report([ft, hl], tmp_path / "r.json", tmp_path / "r.png")
        assert (tmp_path / "r.png").stat().st_size > 1000
        assert not list(tmp_path.glob(".*tmp"))


def test_conv_presynaptic_rows_are_the_im2col_patches():
    """Rows of a 3x3 / stride 2 / padding 1 conv's presynaptic activity, against patches cut
    out by hand from the zero-padded map (order: sample, then output row, then column)."""
    from snn.layers import Conv2d
    from snn.models import LIF

    layer = Conv2d(2, 3, 3, LIF.from_beta(0.9), stride=2, padding=1)
    rate = torch.arange(2 * 2 * 5 * 5, dtype=torch.float32).reshape(2, 2, 5, 5)
    rows = presynaptic_rows(layer, rate)
    padded = np.pad(rate.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = [padded[b, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].reshape(-1)
                for b in range(2) for i in range(3) for j in range(3)]
    assert rows.shape == (18, 18)
    np.testing.assert_array_equal(rows.numpy(), np.array(expected))
    with pytest.raises(ValueError, match="fully connected and 2-d convolutional"):
        projected_layers([torch.nn.Conv1d(2, 3, 3)])


def _conv_rule(seed: int) -> BPTT:
    torch.manual_seed(seed)
    return BPTT(spiking_cnn((8, 8), 2, channels=(8,)), BPTTConfig(steps=4, lr=5e-3, batch_size=32, seed=seed))


def test_hlop_projects_conv_updates_onto_the_patch_complement():
    """After a task, a conv layer's update (as a C_out x C_in kh kw matrix) is orthogonal to
    the lateral neurons, which span the principal subspace of the task's input patches."""
    tasks = split_tasks(load_digits(), seed=0)
    rule = _conv_rule(0)
    guard = HLOP(rule, HLOPConfig(lateral=[2, 6], hebbian_steps=200)).attach()
    assert [s.n for s in guard.subspaces] == [9, 128]
    rule.fit(tasks[0].train, epochs=1)
    guard.end_task(tasks[0].train)
    x, _ = rule._inputs(tasks[0].train)
    patches = guard.presynaptic(rule._encode(x, torch.Generator().manual_seed(1)))[0].double().numpy()
    top = np.linalg.svd(patches, full_matrices=False)[2][:2].T  # numpy's top-2 patch subspace
    H = guard.subspaces[0].H.double().numpy()
    assert np.linalg.norm(H.T @ H - top @ top.T) < 0.1
    xs, ys = rule._inputs(tasks[1].train)
    enc = rule._encode(xs[:32], torch.Generator().manual_seed(0))
    conv = rule.net[1]
    w0 = conv.weight.detach().clone()
    rule.train_batch(enc, ys[:32])
    delta = (conv.weight.detach() - w0).reshape(8, -1)
    assert delta.norm() > 0
    assert float((delta @ guard.subspaces[0].H.T).norm() / delta.norm()) < 0.02


def test_hlop_conv_forgets_far_less_than_finetuning_on_split_digits():
    """Spiking CNN (1x8x8 -> conv 8 @ 3x3 -> pool -> LI 2), T = 4, split digits, 3 epochs a
    task. Measured (seeds 0/1/2): fine-tuning BWT -23.0/-27.7/-25.8 points, HLOP
    -4.7/-0.5/-3.3 (ACC 77.8/75.4/75.8 -> 81.5/73.7/85.1)."""
    tasks = split_tasks(load_digits(), 0)
    ft = run_sequence(lambda: _conv_rule(0), tasks, "finetune", epochs=3)
    hl = run_sequence(lambda: _conv_rule(0), tasks, "hlop", epochs=3,
                      hlop=HLOPConfig(lateral=[1, 8], hebbian_steps=200, seed=0))
    assert ft.bwt < -0.15
    assert hl.bwt > -0.07
    assert hl.bwt - ft.bwt > 0.12
    assert hl.lateral == [4, 32]


@pytest.mark.slow
@pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"MNIST test files not present in {MNIST_DIR}")
def test_hlop_permuted_mnist_well_above_finetuning():
    """The benchmark's spiking setting (784-256-10 LIF, T = 4, 5 tasks, 2 epochs each).
    Measured: fine-tuning ACC 85.1 / BWT -8.6, HLOP 91.9 / -0.3 (multitask 91.7)."""
    from snn.datasets import load_mnist

    tasks = permuted_tasks(load_mnist(MNIST_DIR, split="test"), 5, seed=0)

    def make():
        return rules.get("bptt").build([784, 256, 10], steps=4, seed=0, lr=1e-3, batch_size=64)

    ft = run_sequence(make, tasks, "finetune", epochs=2)
    hl = run_sequence(make, tasks, "hlop", epochs=2, hlop=HLOPConfig(lateral=[60, 40], seed=0))
    assert ft.bwt < -0.04
    assert hl.bwt > -0.02
    assert hl.acc > ft.acc + 0.03
    assert hl.acc > 0.88
