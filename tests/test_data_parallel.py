"""Data-parallel training (rules.distributed): two CPU processes (gloo) give the weights one
process gives with the same global batch and seed, for every rule (including SoftHebb's
Hebbian updates, the Tempotron's summed corrections and CCL's batch-coupled losses);
checkpoints are written by rank 0 and a two-process run resumes from them."""

import numpy as np
import pytest
import torch

import rules
from rules import distributed
from snn.datasets import load_digits

SIZES = [64, 32, 10]

# name -> (rule, samples, sizes, build options). Sample counts that are not a multiple of the
# batch give a last batch of odd size, split unequally over the two processes. FF's spike-count
# goodness turns rounding differences into different spikes after a few steps, so it is
# compared over two.
CASES = {
    "bptt": ("bptt", 128, SIZES, {}),
    "tess": ("tess", 128, SIZES, {}),
    "ff": ("ff", 64, SIZES, {}),
    # Hebbian layers (summed Δw all-reduced before max-normalisation) and an Adam read-out
    "softhebb": ("softhebb", 45, SIZES, {"batch_size": 16}),
    # summed corrections and momentum
    "tempotron": ("tempotron", 45, [64, 10], {}),
    # spiking default: the similarity loss centred over the global batch, Adam
    "ccl-spiking": ("ccl", 45, SIZES, {"batch_size": 16}),
    # normalised loss: the Gram matrix of the global batch's rows
    "ccl-normalized": ("ccl", 45, SIZES, {"spiking": False, "loss": "normalized",
                                          "batch_size": 16}),
}
# The other code paths of the same reductions, under -m slow.
SLOW_CASES = {
    "softhebb-numba": ("softhebb", 77, SIZES, {"batch_size": 32, "backend": "numba",
                                               "dtype": "float64"}),
    # stochastic WTA: winners drawn per sample for the global batch
    "softhebb-spiking": ("softhebb", 77, SIZES, {"spiking": True, "batch_size": 32}),
    "tempotron-numba": ("tempotron", 77, [64, 10], {"backend": "numba", "dtype": "float64",
                                                   "learn_intrinsics": True}),
    # non-spiking: similarity loss, gradient centralisation, clipping after the all-reduce
    "ccl": ("ccl", 121, SIZES, {"spiking": False}),
}


def weights(rule) -> dict[str, np.ndarray]:
    modules = {name: getattr(rule, name) for name in ("net", "modules", "layers", "readout")
               if isinstance(getattr(rule, name, None), torch.nn.Module)}
    return {f"{m}.{k}": v.detach().cpu().numpy().copy()
            for m, module in modules.items() for k, v in module.state_dict().items()}


def train(case: str, epochs: int = 1, checkpoint=None, resume: bool = False) -> dict:
    """Train ``case`` (a key of CASES) on the first digits; its weights and history."""
    torch.set_num_threads(1)
    name, samples, sizes, options = {**CASES, **SLOW_CASES}[case]
    rule = rules.get(name).build(sizes, steps=8, seed=3, **options)
    rule.fit(load_digits()[:samples], epochs=epochs, checkpoint=checkpoint, resume=resume)
    return {"w": weights(rule), "loss": [h.train_loss for h in rule.history],
            "acc": [h.train_accuracy for h in rule.history], "world": distributed.world()}


def everything(tmp: str, cases: list[str]) -> dict:
    """Run in each process: the rules, then checkpointed epochs and their resumption, and the
    batch-coupled losses."""
    out = {case: train(case) for case in cases}
    if tmp:
        for case in ("bptt", "tempotron"):
            out[f"{case}-first"] = train(case, 1, checkpoint=f"{tmp}/{case}.h5")
            out[f"{case}-resumed"] = train(case, 2, checkpoint=f"{tmp}/{case}.h5", resume=True)
        out["coupled"] = _shared_batch_losses(0)
    return out


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    return distributed.launch(everything, 2, (str(tmp_path_factory.mktemp("dp")), list(CASES)))


@pytest.fixture(scope="module")
def two_slow():
    return distributed.launch(everything, 2, ("", list(SLOW_CASES)))


def compare(one: dict, two: dict, samples: int) -> None:
    assert one["world"] == (0, 1) and two["world"] == (0, 2)
    assert one["w"].keys() == two["w"].keys()
    for key, value in one["w"].items():
        np.testing.assert_allclose(two["w"][key], value, rtol=0, atol=2e-5, err_msg=key)
    # the epoch's loss and accuracy are the whole batch's, summed over ranks
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)
    np.testing.assert_allclose(two["acc"], one["acc"], atol=1.5 / samples)


@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_give_the_weights_of_one(two, case):
    compare(train(case), two[case], CASES[case][1])


@pytest.mark.slow
@pytest.mark.parametrize("case", list(SLOW_CASES))
def test_two_processes_give_the_weights_of_one_slow(two_slow, case):
    compare(train(case), two_slow[case], SLOW_CASES[case][1])


def test_the_comparison_can_fail(two):
    """The weights move in training, so equal weights are not a tautology."""
    start = weights(rules.get("tempotron").build([64, 10], steps=8, seed=3))
    assert max(np.abs(two["tempotron"]["w"][k] - start[k]).max() for k in start) > 1e-3
    start = weights(rules.get("softhebb").build(SIZES, steps=8, seed=3))
    assert np.abs(two["softhebb"]["w"]["layers.0.weight"] - start["layers.0.weight"]).max() > 1e-3


@pytest.mark.parametrize("case", ["bptt", "tempotron"])
def test_checkpoint_written_once_and_resumed(two, case):
    straight = train(case, 2)
    resumed = two[f"{case}-resumed"]
    assert len(resumed["loss"]) == 2 and resumed["loss"][0] == two[f"{case}-first"]["loss"][0]
    for key, value in straight["w"].items():
        np.testing.assert_allclose(resumed["w"][key], value, rtol=0, atol=2e-5, err_msg=key)


class _NoDataParallel:
    """A third-party rule that does not declare data_parallel."""


def test_rules_that_do_not_declare_data_parallel_are_refused():
    assert distributed.world() == (0, 1)
    for name in rules.available():
        if name == "tess-spinnaker":  # trains on emulated cores, in one process
            with pytest.raises(TypeError, match="does not support data-parallel"):
                distributed.check_rule(rules.get(name))
            continue
        distributed.check_rule(rules.get(name))  # every other built-in rule declares it
    with pytest.raises(TypeError, match="does not support data-parallel"):
        distributed.check_rule(_NoDataParallel())
    assert distributed.shard(10, 1, 3) == slice(4, 7)
    with pytest.raises(ValueError, match="cannot be split over 4"):
        distributed.shard(3, 0, 4)


def test_one_process_helpers_are_the_plain_operations():
    a = torch.randn(5, 3)
    torch.testing.assert_close(distributed.batch_mean(a), a.mean(0, keepdim=True), rtol=0, atol=0)
    rows, start = distributed.gather_rows(a)
    assert rows is a and start == 0
    b = a.clone()
    distributed.all_reduce_sum(b)
    torch.testing.assert_close(b, a, rtol=0, atol=0)
    gen = torch.Generator().manual_seed(0)
    drawn = distributed.per_sample(lambda n: torch.rand(4, n, generator=gen), 5, dim=1)
    assert drawn.shape == (4, 5)


def _shared_batch_losses(seed: int) -> dict:
    """Gradients of CCL-style batch-coupled losses on a fixed batch of 7 rows (run in every
    process of a group, on this rank's share)."""
    torch.manual_seed(seed)
    a_all = torch.randn(7, 4, dtype=torch.float64)
    w = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    rank, size = distributed.world()
    part = distributed.shard(7, rank, size)
    sync = distributed.GradientSync(None)
    distributed._ACTIVE.append(sync)
    try:
        sync.start_batch(part, 7)
        a = a_all[part] @ w
        centred = a - distributed.batch_mean(a)
        everyone, start = distributed.gather_rows(a)
        loss = (centred ** 2).mean() + ((a @ everyone.t()) ** 3).mean()
        loss.backward()
    finally:
        distributed._ACTIVE.remove(sync)
    grad = w.grad * sync.share
    if size > 1:
        torch.distributed.all_reduce(grad)
    return {"grad": grad, "start": start}


def test_batch_coupled_losses_get_the_one_process_gradient(two):
    """batch_mean and gather_rows on 4 + 3 rows: the share-weighted all-reduce of the two
    processes' gradients equals autograd on the whole batch in one process."""
    one = _shared_batch_losses(0)
    assert two["coupled"]["start"] == 0 and one["start"] == 0
    torch.testing.assert_close(two["coupled"]["grad"], one["grad"], rtol=1e-12, atol=1e-12)


def test_cli_nproc_is_refused_where_it_cannot_apply(tmp_path, capsys):
    from snn.cli import main

    assert main(["train", "pattern", "--nproc", "2", "--out", str(tmp_path)]) == 2
    assert "--nproc does not apply to pattern" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_train_nproc_resumes_and_matches_one_process(tmp_path, capsys):
    """`synaptica train tempotron --nproc 2`: one epoch, then --resume to two, gives the
    weights of two epochs in one process; rank 0 alone wrote the checkpoint."""
    from rules.base import read_rule_checkpoint
    from snn.cli import main

    common = ["train", "tempotron", "--no-progress", "--json", "--seed", "2"]
    assert main([*common, "--nproc", "2", "--epochs", "1", "--out", str(tmp_path / "two")]) == 0
    assert main([*common, "--nproc", "2", "--epochs", "2", "--resume",
                 "--out", str(tmp_path / "two")]) == 0
    assert main([*common, "--epochs", "2", "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    two, meta = read_rule_checkpoint(tmp_path / "two" / "tempotron_digits.h5", "tempotron")
    one, _ = read_rule_checkpoint(tmp_path / "one" / "tempotron_digits.h5", "tempotron")
    assert len(meta["history"]) == 2
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.suffix == ".h5") == \
        ["tempotron_digits.h5"]
    for key, value in one.items():
        np.testing.assert_allclose(two[key], value, rtol=0, atol=1e-5, err_msg=key)
