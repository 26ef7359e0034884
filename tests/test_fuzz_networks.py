"""Fuzzing random small networks: every model, every connector, delays, per-neuron parameters,
batch and random chunking. No crash; numba and torch (float64) give identical spikes and
states; the same seed gives the same spikes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import snn
from tests.fuzzing import examples

pytest.importorskip("torch")


def _lin(n, lo, hi, per_neuron):
    return np.linspace(lo, hi, n) if per_neuron else (lo + hi) / 2


# name -> (factory(n, per_neuron), weight on port exc, init)
MODELS = {
    "LIF": (lambda n, pn: snn.LIF(tau_m=_lin(n, 10e-3, 30e-3, pn), tau_ref=1e-3), 4e-3,
            {"v": snn.Uniform(-65e-3, -52e-3)}),
    "AdaptiveLIF": (lambda n, pn: snn.AdaptiveLIF(tau_theta=50e-3, theta_plus=_lin(n, 1e-3, 3e-3, pn)),
                    4e-3, {"v": snn.Uniform(-65e-3, -52e-3)}),
    "MetaNeuron": (lambda n, pn: snn.MetaNeuron(kappa=_lin(n, 0.5e-3, 2e-3, pn)), 3e-3,
                   {"v": snn.Uniform(-65e-3, -55e-3)}),
    "UltraLIF": (lambda n, pn: snn.UltraLIF(eps=0.5, tau=0.9, theta=_lin(n, 0.8, 1.2, pn)), 0.5, {}),
    "UltraDLIF": (lambda n, pn: snn.UltraDLIF(eps=0.3, tau=0.95, theta=_lin(n, 1.0, 1.4, pn)), 0.5,
                  {}),
    "IF": (lambda n, pn: snn.IF(v_thresh=_lin(n, 0.8, 1.2, pn), tau_ref=1e-3), 0.4, {}),
    "LI": (lambda n, pn: snn.LI(tau_m=_lin(n, 5e-3, 20e-3, pn)), 0.1, {}),
    "ConductanceLIF": (lambda n, pn: snn.ConductanceLIF(tau_m=_lin(n, 10e-3, 30e-3, pn)), 0.6,
                       {"v": snn.Uniform(-65e-3, -55e-3)}),
    "AdaptiveConductanceLIF": (lambda n, pn: snn.AdaptiveConductanceLIF(), 0.6,
                               {"v": snn.Uniform(-65e-3, -55e-3)}),
}
CONNECTORS = ["AllToAll", "OneToOne", "FixedProbability", "FixedInDegree", "FromList", "FromMatrix"]


@st.composite
def networks(draw):
    net = snn.Network()
    batch = draw(st.sampled_from([None, None, 2]))
    n_src = draw(st.integers(1, 8))
    if draw(st.booleans()):
        rate = np.linspace(50.0, 400.0, n_src) if draw(st.booleans()) else 200.0
        src = net.population(n_src, snn.PoissonSource(rate=rate), name="src")
    else:
        trains = [sorted(draw(st.sets(st.integers(0, 40), max_size=8))) for _ in range(n_src)]
        src = net.population(n_src, snn.SpikeSource(spike_steps=trains), name="src")
    pops = [src]
    weights = {}
    for p in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(sorted(MODELS)))
        factory, w, init = MODELS[kind]
        n = draw(st.integers(1, 8))
        pop = net.population(n, factory(n, draw(st.booleans())), name=f"p{p}", init=init)
        pops.append(pop)
        weights[pop.name] = (w, pop.population.model.nonnegative_weights)
    for _ in range(draw(st.integers(1, 5))):
        pre = draw(st.sampled_from(pops))
        post = draw(st.sampled_from(pops[1:]))
        if draw(st.booleans()) and post.n > 1:  # a view
            post = post[: draw(st.integers(1, post.n))]
        n_pre, n_post = len(pre), len(post)
        w, nonneg = weights[post.name]
        synapse = draw(st.sampled_from(["exc", "inh"]))
        sign = -1.0 if synapse == "inh" and not nonneg else 1.0
        kind = draw(st.sampled_from(CONNECTORS))
        weight = sign * w if draw(st.booleans()) else snn.Uniform(*sorted((0.3 * sign * w, sign * w)))
        delay = draw(st.sampled_from([1, 2, 5, snn.UniformInt(1, 4), snn.UniformInt(2, 9)]))
        if kind == "OneToOne" and n_pre != n_post:
            kind = "AllToAll"
        if kind == "FixedInDegree":
            conn = snn.FixedInDegree(draw(st.integers(0, n_pre)))
        elif kind == "FixedProbability":
            conn = snn.FixedProbability(draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])))
        elif kind == "FromList":
            m = draw(st.integers(0, 6))
            pre_i = np.array(draw(st.lists(st.integers(0, n_pre - 1), min_size=m, max_size=m)), int)
            post_i = np.array(draw(st.lists(st.integers(0, n_post - 1), min_size=m, max_size=m)), int)
            conn = snn.FromList(pre_i, post_i)
        elif kind == "FromMatrix":
            rng = np.random.default_rng(draw(st.integers(0, 99)))
            matrix = (rng.random((n_pre, n_post)) < 0.5) * sign * w
            conn, weight = snn.FromMatrix(matrix), None
        else:
            conn = getattr(snn, kind)()
        net.connect(pre, post, conn, weight=weight, delay=delay, synapse=synapse)
    for pop in pops:
        net.spike_monitor(pop, name=f"{pop.name}_spikes")
    for pop in pops[1:]:
        var = draw(st.sampled_from([v.name for v in pop.model.state_vars]))
        net.state_monitor(pop, var, every=draw(st.integers(1, 3)), name=f"{pop.name}_state")
    steps = draw(st.integers(20, 60))
    chunk = draw(st.integers(1, 25))
    pieces = draw(st.integers(1, 3))
    return net, batch, steps, chunk, pieces


def _run(net, backend, batch, steps, pieces, seed, **options):
    sim = net.build(dt=1e-4, seed=seed, backend=backend, batch=batch, **options)
    sizes = [steps // pieces] * (pieces - 1)
    sizes.append(steps - sum(sizes))
    results = [sim.run(k * 1e-4) for k in sizes]
    return results


def _key(results, name):
    rec = [r[name] for r in results]
    if hasattr(rec[0], "indices") and hasattr(rec[0], "counts"):
        return [np.concatenate([r.steps for r in rec]), np.concatenate([r.indices for r in rec])] + \
            ([np.concatenate([r.samples for r in rec])] if rec[0].samples is not None else [])
    return [np.concatenate([r.steps for r in rec]), np.concatenate([r.data for r in rec])]


@examples(ci=6)
@given(networks(), st.integers(0, 2**31))
def test_random_networks_agree_across_backends_chunking_and_reruns(case, seed):
    net, batch, steps, chunk, pieces = case
    a = _run(net, "numba", batch, steps, pieces, seed, exact_input=True, chunk_steps=chunk)
    b = _run(net, "torch", batch, steps, 1, seed, dtype="float64")
    again = _run(net, "numba", batch, steps, 1, seed, exact_input=True)
    for name in [*a[0].spikes, *a[0].states]:
        for x, y, z in zip(_key(a, name), _key(b, name), _key(again, name), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"numba vs torch: {name}")
            np.testing.assert_array_equal(x, z, err_msg=f"rerun: {name}")
