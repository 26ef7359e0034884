"""STDP on the engine: closed-form windows, the event-driven backends against a per-step
reference, numba against torch, weight bounds, custom rules and argument checks."""

from dataclasses import dataclass

import numpy as np
import pytest

import plasticity as pl
import snn
from plasticity.reference import reference_weights

DT = 1e-4


def pairs_network(rule, pre_steps, post_steps, w0=0.01, connector=None):
    """SpikeSource ``pre`` connects through the plastic projection ``plastic`` (one-to-one by
    default) to IF neurons ``post``; a second source forces post neuron ``p`` to fire exactly
    at ``post_steps[p]`` (weight 2 above threshold 1, one step of delay). Every test network
    of one rule has this structure, so they share one compiled kernel."""
    drive = [[s - 1 for s in steps] for steps in post_steps]
    net = snn.Network()
    pre = net.population(len(pre_steps), snn.SpikeSource(spike_steps=pre_steps), name="pre")
    drv = net.population(len(drive), snn.SpikeSource(spike_steps=drive), name="drv")
    post = net.population(len(post_steps), snn.IF(v_thresh=1.0, v_reset=0.0, reset="value"),
                          name="post")
    net.connect(pre, post, connector or snn.OneToOne(), weight=w0, plasticity=rule, name="plastic")
    net.connect(drv, post, snn.OneToOne(), weight=2.0, name="drive")
    net.spike_monitor(post, name="post_spikes")
    return net


def run_pairs(rule, pre_steps, post_steps, n_steps, w0=0.01):
    """Final weights, one per pair. A silent extra pair keeps every projection at >= 2
    synapses (a 1-synapse scalar-weight projection would compile another kernel)."""
    sim = pairs_network(rule, [*pre_steps, []], [*post_steps, []], w0).build(dt=DT, seed=0)
    fired = sim.run(n_steps * DT)["post_spikes"]
    for p, steps in enumerate(post_steps):  # the drive makes exactly the intended spikes
        assert fired.steps[fired.indices == p].tolist() == list(steps)
    return sim.weights("plastic")[:-1]


DELTAS = np.array([-300, -120, -40, -7, -1, 1, 2, 9, 40, 150, 300])
PRE1, POST1 = [[500] for _ in DELTAS], [[500 + int(d)] for d in DELTAS]


def window(deltas, rule):
    """The pair window of additive PairSTDP, dt_pair = (k_post - k_pre) dt."""
    t = deltas * DT
    return np.where(t > 0, rule.a_plus * np.exp(-t / rule.tau_plus),
                    -rule.a_minus * np.exp(t / rule.tau_minus))


@pytest.mark.parametrize("interaction", ["all", "nearest"])
def test_pair_window_additive(interaction):
    rule = pl.PairSTDP(tau_plus=17e-3, tau_minus=34e-3, a_plus=0.01, a_minus=0.012, w_min=-1.0,
                       interaction=interaction)
    w = run_pairs(rule, PRE1, POST1, 1000)
    np.testing.assert_allclose(w - 0.01, window(DELTAS, rule), rtol=0, atol=1e-12)


def test_pair_window_multiplicative_soft_bounds():
    rule = pl.PairSTDP(a_plus=0.1, a_minus=0.2, weight_dependence="multiplicative", w_min=0.0, w_max=0.5)
    w0, t = 0.2, DELTAS * DT
    want = np.where(t > 0, w0 + 0.1 * (0.5 - w0) * np.exp(-t / rule.tau_plus),
                    w0 - 0.2 * (w0 - 0.0) * np.exp(t / rule.tau_minus))
    np.testing.assert_allclose(run_pairs(rule, PRE1, POST1, 1000, w0=w0), want, rtol=0, atol=1e-12)


def test_simultaneous_spikes_do_not_pair_and_bounds_hold():
    rule = pl.PairSTDP(a_plus=0.3, a_minus=0.3, w_min=0.0, w_max=0.05)
    train = [100 + 20 * m for m in range(20)]
    w = run_pairs(rule, [[300], train, train], [[300], [s + 2 for s in train], [s - 2 for s in train]],
                  600)
    assert w.tolist() == [0.01, 0.05, 0.0]


@pytest.mark.parametrize("interaction", ["all", "nearest"])
def test_all_to_all_and_nearest_differ_as_defined(interaction):
    rule = pl.PairSTDP(w_min=-1.0, interaction=interaction)
    e = rule.a_plus * np.exp(-np.array([300, 200]) * DT / rule.tau_plus)
    want = e.sum() if interaction == "all" else e[1]
    np.testing.assert_allclose(run_pairs(rule, [[100, 200]], [[400]], 600) - 0.01, want, atol=1e-12)


def test_symmetric_window():
    rule = pl.SymmetricSTDP(tau_pre=20e-3, tau_post=30e-3, eta=0.02, increment=0.1)
    t = DELTAS * DT
    want = 0.1 * 0.02 * np.where(t > 0, np.exp(-t / 20e-3), np.exp(t / 30e-3))
    np.testing.assert_allclose(run_pairs(rule, PRE1, POST1, 1000) - 0.01, want, rtol=0, atol=1e-12)


def test_triplet_closed_form():
    """Pair (pre then post), and the post-pre-post triplet where potentiation reads the
    second post trace o2 left by the first post spike."""
    rule = pl.TripletSTDP(w_min=-1.0, w_max=1.0, a2_plus=4e-3)
    tp, tm, ty = rule.tau_plus, rule.tau_minus, rule.tau_y
    w = run_pairs(rule, [[100], [300]], [[150], [200, 450]], 700) - 0.01
    pair = rule.a2_plus * np.exp(-50 * DT / tp)
    triplet = (-np.exp(-100 * DT / tm) * rule.a2_minus
               + np.exp(-150 * DT / tp) * (rule.a2_plus + rule.a3_plus * np.exp(-250 * DT / ty)))
    np.testing.assert_allclose(w, [pair, triplet], rtol=0, atol=1e-12)


def test_diehl_cook_rule_closed_form():
    # post at 100 and 180, pre at 150 and 190: the pre spike at 150 depresses by nu_pre y1(50
    # steps); the post spike at 180 potentiates by nu_post x(30 steps) y2(80 steps); the pre
    # spike at 190 depresses by nu_pre y1(10 steps).
    rule = pl.DiehlCookSTDP(nu_pre=1e-3, nu_post=1e-2)
    x, y2 = np.exp(-30 * DT / 20e-3), np.exp(-80 * DT / 40e-3)
    want = 0.5 - 1e-3 * np.exp(-50 * DT / 20e-3) + 1e-2 * x * y2 - 1e-3 * np.exp(-10 * DT / 20e-3)
    w = run_pairs(rule, [[150, 190]], [[100, 180]], 400, w0=0.5)
    np.testing.assert_allclose(w, want, rtol=0, atol=1e-12)


RULES = {
    "additive": pl.PairSTDP(w_min=0.0, w_max=0.02),
    "multiplicative": pl.PairSTDP(weight_dependence="multiplicative", w_min=0.0, w_max=0.02,
                                  a_plus=0.05, a_minus=0.06),
    "nearest": pl.PairSTDP(interaction="nearest", w_min=0.0, w_max=0.02, a_plus=1e-3, a_minus=1e-3),
    "symmetric": pl.SymmetricSTDP(eta=0.01, w_max=0.02),
    "triplet": pl.TripletSTDP(w_min=0.0, w_max=0.02, a2_plus=5e-4, a3_plus=1e-3, a2_minus=6e-4,
                              a3_minus=1e-4),
    "triplet_nearest": pl.TripletSTDP(interaction="nearest", w_min=0.0, w_max=0.02, a2_plus=5e-4,
                                      a3_plus=1e-3, a2_minus=6e-4, a3_minus=1e-4),
    "diehl_cook": pl.DiehlCookSTDP(w_max=0.02),
}


@dataclass(frozen=True, eq=False)
class ScaledPair(pl.TraceRule):
    """A user rule: potentiation scaled by the distance to w_max, depression by w."""

    eta: float = 0.05
    on_pre = "-eta * y * w"
    on_post = "eta * x * (w_max - w)"

    def pre_traces(self):
        return {"x": pl.Trace(15e-3)}

    def post_traces(self):
        return {"y": pl.Trace(25e-3, mode="set")}


RULES["custom"] = ScaledPair(w_max=0.02)
TORCH_RULES = {k: RULES[k] for k in ("additive", "triplet")}
N_PRE, N_POST, STEPS = 30, 10, 3000


def random_trains(n, seed):
    rng = np.random.default_rng(seed)
    return [np.unique(rng.integers(1, STEPS, rng.integers(20, 60))).tolist() for _ in range(n)]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "triplet_nearest"
                                  else n for n in sorted(RULES)])
def test_event_driven_equals_per_step_reference(name):
    """All-to-all synapses between random pre and post trains (the closed-form tests' network,
    so no new kernel), against the per-step NumPy reference."""
    rule = RULES[name]
    pre, post = random_trains(N_PRE, 1), random_trains(N_POST, 2)
    net = pairs_network(rule, pre, post, w0=snn.Uniform(0.004, 0.016), connector=snn.AllToAll())
    sim = net.build(dt=DT, seed=1)
    w0 = sim.weights("plastic").copy()
    fired = sim.run(STEPS * DT)["post_spikes"]  # the drive's spikes and those the inputs cause
    assert fired.count >= sum(map(len, post))
    proj = sim.built.projections[0]
    rows = np.repeat(np.arange(N_PRE), np.diff(proj.indptr))
    post_trains = [fired.steps[fired.indices == j] for j in range(N_POST)]
    want = reference_weights(rule, rows, proj.indices, w0, pre, post_trains, STEPS, DT)
    got = sim.weights("plastic")
    assert np.abs(got - w0).max() > 1e-4  # the rule did something
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def rescaling_run(backend, steps):
    """Traces of 1 and 1.5 ms at dt = 0.1 ms are rescaled to a new epoch every 5000 steps."""
    rule = pl.PairSTDP(tau_plus=1e-3, tau_minus=1.5e-3, a_plus=1e-3, a_minus=1e-3, w_min=-1.0)
    rng = np.random.default_rng(7)
    pre = [np.unique(rng.integers(1, steps, steps // 40)).tolist() for _ in range(4)]
    post = [np.unique(rng.integers(1, steps, steps // 40)).tolist() for _ in range(3)]
    net = pairs_network(rule, pre, post, w0=0.0, connector=snn.AllToAll())
    kw = {"dtype": "float64"} if backend == "torch" else {}
    sim = net.build(dt=DT, seed=0, backend=backend, **kw)
    fired = sim.run(steps * DT)["post_spikes"]
    proj = sim.built.projections[0]
    rows = np.repeat(np.arange(4), np.diff(proj.indptr))
    post_trains = [fired.steps[fired.indices == j] for j in range(3)]
    return sim, reference_weights(rule, rows, proj.indices, np.zeros(12), pre, post_trains, steps, DT)


def test_trace_rescaling_keeps_results_exact():
    sim, want = rescaling_run("numba", 12_000)
    assert sim._plastic["plastic"][1][0][2]["epoch"][0] == 10_000  # rescaled twice
    np.testing.assert_allclose(sim.weights("plastic"), want, rtol=0, atol=1e-12)
    assert np.abs(want).max() > 1e-3


@pytest.mark.slow
def test_trace_rescaling_numba_equals_torch():
    pytest.importorskip("torch")
    a, want = rescaling_run("numba", 5_500)
    b, _ = rescaling_run("torch", 5_500)
    np.testing.assert_array_equal(a.weights("plastic"), b.weights("plastic"))


def driven_network(rules, seed=0):
    """Random pre trains into one LIF population per rule through plastic projections with
    mixed delays; the post spikes follow from the changing weights."""
    trains = random_trains(N_PRE, seed)
    net = snn.Network()
    pre = net.population(N_PRE, snn.SpikeSource(spike_steps=trains), name="pre")
    for name, rule in rules.items():
        post = net.population(N_POST, snn.LIF(tau_m=10e-3, v_rest=-60e-3, v_reset=-65e-3,
                                              v_thresh=-54e-3, tau_ref=1e-3), name=f"{name}_post")
        net.connect(pre, post, snn.FixedProbability(0.7), weight=snn.Uniform(0.004, 0.016),
                    delay=snn.UniformInt(1, 4), plasticity=rule, name=name)
        net.spike_monitor(post, name=f"{name}_spikes")
    return net, trains


def test_numba_and_torch_identical():
    pytest.importorskip("torch")
    net, _ = driven_network(TORCH_RULES, seed=2)
    a = net.build(dt=DT, seed=4, backend="numba", exact_input=True)
    b = net.build(dt=DT, seed=4, backend="torch", dtype="float64")
    for _ in range(2):  # continued runs keep traces and weights
        ra, rb = a.run(0.04), b.run(0.04)
        for name in TORCH_RULES:
            x, y = ra[f"{name}_spikes"], rb[f"{name}_spikes"]
            assert x.count > 10
            assert np.array_equal(x.steps, y.steps) and np.array_equal(x.indices, y.indices)
            np.testing.assert_array_equal(a.weights(name), b.weights(name))


def test_weights_are_writable_between_runs():
    net, _ = driven_network(TORCH_RULES, seed=3)  # the torch test's kernel: no new compilation
    sim = net.build(dt=DT, seed=0, exact_input=True)
    sim.run(0.02)
    w = sim.weights("additive")
    proj = next(p for p in sim.built.projections if p.name == "additive")
    sums = np.bincount(proj.indices, weights=w, minlength=N_POST)
    sim.set_weights("additive", w * (0.1 / sums[proj.indices]))  # Diehl & Cook's normalisation
    np.testing.assert_allclose(np.bincount(proj.indices, weights=sim.weights("additive"),
                                           minlength=N_POST), 0.1, rtol=1e-12)
    assert sim.weights("additive") is not proj.weights and np.array_equal(sim.weights("additive"),
                                                                          proj.weights)
    sim.run(0.01)
    with pytest.raises(ValueError, match="shape"):
        sim.set_weights("additive", np.zeros(3))
    with pytest.raises(KeyError, match="no projection named 'nope'"):
        sim.weights("nope")


def test_weight_recording_matches_an_unbroken_run():
    rule = pl.PairSTDP(w_min=-1.0)
    net = pairs_network(rule, [[100, 200], [300], []], [[150, 260], [280], []])
    whole = net.build(dt=DT, seed=0)
    whole.run(0.04)
    sim = net.build(dt=DT, seed=0)
    rec = pl.record_weights(sim, "plastic", 0.04, 0.005, synapses=[0, 1])
    assert rec.weights.shape == (9, 2) and np.allclose(rec.times, np.arange(9) * 0.005)
    np.testing.assert_array_equal(rec.weights[-1], whole.weights("plastic")[:2])
    assert rec.weights[0].tolist() == [0.01, 0.01] and rec.weights[4, 0] > 0.01  # after step 150
    assert sum(r["post_spikes"].count for r in rec.results) == 3
    with pytest.raises(ValueError, match="must divide"):
        pl.record_weights(sim, "plastic", 0.01, 0.003)


def test_rule_errors_name_the_argument():
    with pytest.raises(ValueError, match="weight_dependence"):
        pl.PairSTDP(weight_dependence="power")
    with pytest.raises(ValueError, match="w_min=1.0 is above w_max=0.5"):
        pl.PairSTDP(w_min=1.0, w_max=0.5)
    with pytest.raises(ValueError, match="tau_plus must be a positive"):
        pl.PairSTDP(tau_plus=-1.0)
    with pytest.raises(ValueError, match="finite w_min and w_max"):
        pl.PairSTDP(weight_dependence="multiplicative", w_max=float("inf"))

    @dataclass(frozen=True, eq=False)
    class Bad(pl.TraceRule):
        on_pre = "w * z"

    with pytest.raises(ValueError, match="unknown name 'z'"):
        Bad()

    @dataclass(frozen=True, eq=False)
    class Sneaky(pl.TraceRule):
        on_post = "w.__class__"

    with pytest.raises(ValueError, match="uses Attribute"):
        Sneaky()
    net = snn.Network()
    a = net.population(2, snn.LIF(), name="a")
    with pytest.raises(TypeError, match="plasticity must be"):
        net.connect(a, a, weight=0.1, plasticity="stdp")


def test_hardware_spec_has_lookup_tables():
    spec = pl.PairSTDP(tau_plus=20e-3).hardware_spec(1e-3)
    lut = spec["pre_traces"]["x"]["lut_s4_11"]
    assert lut.dtype == np.int16 and lut.size == 154 and lut[0] == 2048
    assert lut[1] == int(np.floor(2048 * np.exp(-1 / 20)))
    assert spec["on_post"] == "a_plus * x" and spec["constants"]["a_plus"] == 0.01
