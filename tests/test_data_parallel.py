"""Data-parallel training (rules.distributed): two CPU processes (gloo) give the weights one
process gives with the same global batch and seed; checkpoints are written by rank 0 and a
two-process run resumes from them."""

import numpy as np
import pytest
import torch

import rules
from rules import distributed
from snn.datasets import load_digits

SIZES = [64, 32, 10]


def weights(rule) -> dict[str, np.ndarray]:
    modules = {name: getattr(rule, name) for name in ("net", "modules")
               if isinstance(getattr(rule, name, None), torch.nn.Module)}
    return {f"{m}.{k}": v.detach().cpu().numpy().copy()
            for m, module in modules.items() for k, v in module.state_dict().items()}


def train(name: str, samples: int, epochs: int, checkpoint=None, resume: bool = False) -> dict:
    """Train rule ``name`` on the first ``samples`` digits; its weights and history."""
    torch.set_num_threads(1)
    rule = rules.get(name).build(SIZES, steps=8, seed=3)
    rule.fit(load_digits()[:samples], epochs=epochs, checkpoint=checkpoint, resume=resume)
    return {"w": weights(rule), "loss": [h.train_loss for h in rule.history],
            "acc": [h.train_accuracy for h in rule.history], "world": distributed.world()}


def everything(tmp: str) -> dict:
    """Run in each process: the rules, then a checkpointed epoch and its resumption."""
    out = {name: train(name, samples, 1) for name, samples in CASES.items()}
    out["first"] = train("bptt", 64, 1, checkpoint=f"{tmp}/b.h5")
    out["resumed"] = train("bptt", 64, 2, checkpoint=f"{tmp}/b.h5", resume=True)
    return out


# Samples per rule: BPTT and TESS stay equal for many steps; FF's spike-count goodness turns
# rounding differences into different spikes after a few steps, so it is compared over two.
CASES = {"bptt": 128, "tess": 128, "ff": 64}


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    return distributed.launch(everything, 2, (str(tmp_path_factory.mktemp("dp")),))


@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_give_the_weights_of_one(two, name):
    one = train(name, CASES[name], 1)
    assert one["world"] == (0, 1) and two[name]["world"] == (0, 2)
    assert one["w"].keys() == two[name]["w"].keys()
    for key, value in one["w"].items():
        np.testing.assert_allclose(two[name]["w"][key], value, rtol=0, atol=2e-5, err_msg=key)
    # the epoch's loss and accuracy are the whole batch's, summed over ranks
    np.testing.assert_allclose(two[name]["loss"], one["loss"], rtol=1e-4)
    np.testing.assert_allclose(two[name]["acc"], one["acc"], atol=1.5 / CASES[name])


def test_checkpoint_written_once_and_resumed(two, tmp_path):
    straight = train("bptt", 64, 2)
    assert len(two["resumed"]["loss"]) == 2 and two["resumed"]["loss"][0] == two["first"]["loss"][0]
    for key, value in straight["w"].items():
        np.testing.assert_allclose(two["resumed"]["w"][key], value, rtol=0, atol=2e-5, err_msg=key)


def test_rules_that_update_outside_an_optimiser_are_refused():
    rule = rules.get("softhebb").build(SIZES, steps=8, seed=3)
    assert distributed.world() == (0, 1)
    with pytest.raises(TypeError, match="does not support data-parallel"):
        distributed.check_rule(rule)
    assert distributed.shard(10, 1, 3) == slice(4, 7)
    with pytest.raises(ValueError, match="cannot be split over 4"):
        distributed.shard(3, 0, 4)


def test_cli_nproc_is_refused_where_it_cannot_apply(tmp_path, capsys):
    from snn.cli import main

    assert main(["train", "softhebb", "--nproc", "2", "--out", str(tmp_path)]) == 2
    assert "--nproc does not apply to softhebb" in capsys.readouterr().err
    assert main(["train", "pattern", "--nproc", "2", "--out", str(tmp_path)]) == 2
    assert "--nproc does not apply to pattern" in capsys.readouterr().err
