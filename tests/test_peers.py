"""CUBA against Brian2 and NEST on the same parameters (skipped where a peer is missing)."""

import importlib.util

import pytest

from snn.bench.cuba import run_cuba, run_peer_cuba


@pytest.fixture(scope="module")
def ours():
    return run_cuba(4000, 1.0, seed=1)


def test_cuba_statistics_are_in_the_known_regime(ours):
    # Brian2's CUBA example fires at a few Hz with irregular (CV ~ 0.5) spiking.
    assert 3.0 < ours["rate_hz"] < 10.0
    assert 0.3 < ours["cv_isi"] < 0.8
    assert ours["synapses"] == pytest.approx(320_000, rel=0.01)


@pytest.mark.skipif(importlib.util.find_spec("brian2") is None, reason="brian2 not installed")
def test_cuba_rate_and_cv_agree_with_brian2(ours):
    theirs = run_peer_cuba("brian2-numpy", 4000, 1.0, seed=1)
    assert ours["rate_hz"] == pytest.approx(theirs["rate_hz"], rel=0.10)
    assert ours["cv_isi"] == pytest.approx(theirs["cv_isi"], rel=0.10)


@pytest.mark.skipif(importlib.util.find_spec("nest") is None, reason="NEST not installed")
def test_cuba_rate_and_cv_agree_with_nest(ours):
    theirs = run_peer_cuba("nest", 4000, 1.0, seed=1)
    assert ours["rate_hz"] == pytest.approx(theirs["rate_hz"], rel=0.10)
    assert ours["cv_isi"] == pytest.approx(theirs["cv_isi"], rel=0.10)
