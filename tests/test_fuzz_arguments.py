"""Fuzzing every public constructor and CLI flag with random invalid arguments: always a
ValueError or TypeError (exit status 2 on the command line) with a message, never another
exception type."""

from __future__ import annotations

import argparse
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import plasticity as pl
import snn
from tests.fuzzing import examples

BAD = st.sampled_from([
    -1.0, 0.0, -0.0, math.nan, math.inf, -math.inf, 1e300, -1e-300, 1j, True, None, "x", "",
    [], [1.0, -1.0], [math.nan], np.array([[1.0, 2.0]]), np.zeros(0), -3, 0, 2**70, object(),
    np.float32("nan"), {"a": 1}, (1, 2, 3),
])
ANY = st.one_of(BAD, st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10),
                st.text(max_size=3))

MODELS = [snn.LIF, snn.AdaptiveLIF, snn.MetaNeuron, snn.UltraLIF, snn.UltraDLIF, snn.IF, snn.LI,
          snn.ConductanceLIF, snn.AdaptiveConductanceLIF, snn.PoissonSource, snn.SpikeSource,
          snn.SettablePoissonSource]
CONNECTORS = [snn.AllToAll, snn.OneToOne, snn.FixedProbability, snn.FixedInDegree, snn.FromList,
              snn.FromMatrix]
DISTRIBUTIONS = [snn.Uniform, snn.Normal, snn.UniformInt]
MECHANISMS = [getattr(pl, name) for name in pl.__all__
              if isinstance(getattr(pl, name), type) and dataclasses.is_dataclass(getattr(pl, name))
              and name not in ("Plasticity", "TraceRule", "WeightRecord")]
CLASSES = MODELS + CONNECTORS + DISTRIBUTIONS + MECHANISMS


def _fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


@examples(ci=60)
@given(st.sampled_from(CLASSES), st.data())
def test_constructors_refuse_bad_arguments_with_value_or_type_errors(cls, data):
    names = _fields(cls)
    if not names:
        return
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    kwargs = {name: data.draw(ANY) for name in chosen}
    try:
        cls(**kwargs)
    except (ValueError, TypeError) as err:
        assert str(err), f"{cls.__name__}({kwargs}) raised {type(err).__name__} without a message"


def _network():
    net = snn.Network()
    a = net.population(5, snn.PoissonSource(rate=100.0), name="a")
    b = net.population(4, snn.LIF(), name="b")
    return net, a, b


CALLS = {
    "population": lambda net, a, b, v: net.population(v, snn.LIF()),
    "population_model": lambda net, a, b, v: net.population(3, v),
    "population_init": lambda net, a, b, v: net.population(3, snn.LIF(), init={"v": v}),
    "population_name": lambda net, a, b, v: net.population(3, snn.LIF(), name=v),
    "connect_weight": lambda net, a, b, v: net.connect(a, b, weight=v),
    "connect_delay": lambda net, a, b, v: net.connect(a, b, weight=1e-3, delay=v),
    "connect_synapse": lambda net, a, b, v: net.connect(a, b, weight=1e-3, synapse=v),
    "connect_connector": lambda net, a, b, v: net.connect(a, b, v, weight=1e-3),
    "connect_plasticity": lambda net, a, b, v: net.connect(a, b, weight=1e-3, plasticity=v),
    "connect_pre": lambda net, a, b, v: net.connect(v, b, weight=1e-3),
    "spike_monitor": lambda net, a, b, v: net.spike_monitor(v),
    "state_monitor_vars": lambda net, a, b, v: net.state_monitor(b, v),
    "state_monitor_every": lambda net, a, b, v: net.state_monitor(b, "v", every=v),
    "build_dt": lambda net, a, b, v: net.build(dt=v, seed=0),
    "build_seed": lambda net, a, b, v: net.build(seed=v),
    "build_batch": lambda net, a, b, v: net.build(seed=0, batch=v),
    "build_backend": lambda net, a, b, v: net.build(seed=0, backend=v),
    "run_duration": lambda net, a, b, v: net.run(v, seed=0),
    "view": lambda net, a, b, v: b[v],
}


@examples(ci=60)
@given(st.sampled_from(sorted(CALLS)), ANY)
def test_network_methods_refuse_bad_arguments_with_value_or_type_errors(call, value):
    net, a, b = _network()
    try:
        CALLS[call](net, a, b, value)
    except (ValueError, TypeError) as err:
        assert str(err)
    except (IndexError, KeyError) as err:  # indexing a view: Python's own index errors
        assert call == "view" and str(err)


def _flag_actions():
    """(command words, option string, action) of every option of every command."""
    from snn.cli import build_parser

    out = []

    def walk(parser, words):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
            elif action.option_strings and (action.type is not None or action.choices):
                out.append((tuple(words), action.option_strings[-1], action))

    walk(build_parser(), [])
    return out


ACTIONS = _flag_actions()
REQUIRED = {("train",): ["tess"], ("export", "nir"): [], ("bench", "rules"): []}


def _invalid_values(action) -> list[str]:
    """Values the option's own type (or choices) must refuse."""
    name = getattr(action.type, "__name__", "")
    junk = ["abc", "", "1x", "0x1g", "--"]
    if action.choices:
        return [*junk, "no-such-choice"]
    if name in ("positive_int", "non_negative_int", "int"):
        return [*junk, "1.5", "nan"] + (["-1"] if name != "int" else []) + \
            (["0"] if name == "positive_int" else [])
    if name in ("positive_float",):
        return [*junk, "-1", "0", "nan", "inf", "-inf"]
    if name == "float":
        return junk
    return ["", "nan", "-1", ",", "x=y=z" if name != "key_value" else "novalue"]


@pytest.mark.filterwarnings("ignore")
@examples(ci=60)
@given(entry=st.sampled_from(ACTIONS), data=st.data())
def test_cli_flags_refuse_bad_values_with_exit_2_and_a_message(entry, data, capsys):
    from snn.cli import main

    words, flag, action = entry
    value = data.draw(st.sampled_from(_invalid_values(action)))
    positional = ["tess"] if words == ("train",) else []
    argv = [*words, *positional, f"{flag}={value}"]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    if code == 0:  # some types accept these strings: nothing ran that should not have
        pytest.fail(f"synaptica {' '.join(argv)} accepted a bad value")
    assert code == 2, (argv, code, err)
    assert err.strip(), argv
