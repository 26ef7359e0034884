"""On-chip STDP (sPyNNaker's deferred pair rule, shared/design/spinnaker.md §5, §8.11) against
hand-computed numbers."""

import math

import numpy as np
import pytest

from plasticity import PairSTDP, TripletSTDP
from snn import IF, Network, SpikeSource

PEV = "Number of plastic pre-synaptic events"


def _pairing_net(pre_steps, teacher_steps, rule, w0=0.005):
    """Pre -> IF post (plastic, delay 1) and a teacher that makes the post fire one tick after
    each teacher spike (2 V onto a 1 V threshold)."""
    net = Network()
    pre = net.population(1, SpikeSource(spike_steps=[pre_steps]), name="pre")
    teach = net.population(1, SpikeSource(spike_steps=[teacher_steps]), name="teach")
    post = net.population(1, IF(v_thresh=1.0, reset="value"), name="post")
    net.connect(teach, post, weight=2.0)
    net.connect(pre, post, weight=w0, plasticity=rule, name="plastic")
    net.spike_monitor(post)
    return net


def _lut(k, tau=20.0):
    return math.floor(2048 * math.exp(-k / tau)) if k < 154 else 0


def test_one_pairing_potentiates_and_depresses_by_the_hand_computed_amount():
    rule = PairSTDP(a_plus=0.002, a_minus=0.001, w_min=0.0, w_max=0.01)
    sim = _pairing_net([10, 40], [14], rule).build(dt=1e-3, backend="spinnaker",
                                                    machine="spinn3", seed=1)
    # exc bound: teacher 2000 mV + plastic w_max 10 mV -> r = 11; 5 mV -> w16 = 80
    assert sim.weight_shifts("post") == (11, 0)
    res = sim.run(0.03)
    assert res["post_spikes"].steps.tolist() == [15]
    assert sim.weights("plastic")[0] == 0.005            # deferred: no pre spike since the post
    res = sim.run(0.02)
    # at t = 40: post at 15 (+1 dendritic delay) - last pre 10 = 6: LUT[6] = 1517,
    # w = 80 << 11 = 163840 + (65536 * 1517 >> 11 = 48544) = 212384;
    # depression: 40 - 16 = 24: LUT[24] = 616, 32768 * 616 >> 11 = 9856 -> 202528 >> 11 = 98
    assert _lut(6) == 1517 and _lut(24) == 616
    assert sim.weights("plastic")[0] == pytest.approx(98 / 16 * 1e-3, abs=1e-15)
    assert res.provenance["cores"][-1][PEV] == 1


def test_flush_applies_the_pending_potentiation_and_nothing_twice():
    rule = PairSTDP(a_plus=0.002, a_minus=0.001, w_min=0.0, w_max=0.01)
    sim = _pairing_net([10, 40], [14], rule).build(dt=1e-3, backend="spinnaker",
                                                    machine="spinn3", seed=1)
    sim.run(0.03)
    assert sim.weights("plastic")[0] == 0.005            # deferred: pending since the post
    sim.flush_plasticity()
    # the potentiation the pre spike at 40 would apply, without its depression:
    # 163840 + 48544 = 212384 -> 212384 >> 11 = 103 (16-bit LSB 1/16 mV)
    assert sim.weights("plastic")[0] == pytest.approx(103 / 16 * 1e-3, abs=1e-15)
    sim.run(0.02)
    # the pre spike at 40 no longer pairs with the post at 15 (flushed at 30: its window
    # starts at 29), so only the depression by LUT[24] is left:
    # (103 << 11 = 210944) - 9856 = 201088 >> 11 = 98
    assert sim.weights("plastic")[0] == pytest.approx(98 / 16 * 1e-3, abs=1e-15)


def _c_window(post_times, pre_prev, pre_now, d, w, a_plus, a_minus, w_max, shift,
              history=16):
    """sPyNNaker's deferred update of one synapse in plain ints: the last ``history - 1``
    post events survive; potentiation per event in the window, then depression."""
    o, traces = 0, []
    last = 0
    for t in post_times:
        o = (o * _lut(t - last) >> 11) + 2048
        traces.append(o)
        last = t
    kept = list(zip(post_times, traces, strict=True))[-(history - 1):]
    w = w << shift
    for t, _tr in kept:
        if pre_prev - d < t <= pre_now - d and t + d - pre_prev > 0:
            w = min(w + (a_plus * (2048 * _lut(t + d - pre_prev) >> 11) >> 11), w_max)
    t, tr = kept[-1]
    if pre_now - (t + d) > 0:
        w = max(w - (a_minus * (tr * _lut(pre_now - (t + d)) >> 11) >> 11), 0)
    return w >> shift


def test_post_history_keeps_15_events():
    rule = PairSTDP(a_plus=0.0002, a_minus=0.0001, w_min=0.0, w_max=0.05)
    teacher = list(range(12, 52, 2))                       # post fires at 13, 15, ..., 51
    sim = _pairing_net([10, 60], teacher, rule).build(dt=1e-3, backend="spinnaker",
                                                       machine="spinn3", seed=1)
    r = sim.weight_shifts("post")[0]
    assert r == 12                                        # 2000 + 50 mV
    res = sim.run(0.07)
    posts = res["post_spikes"].steps.tolist()
    assert posts == [t + 1 for t in teacher]
    w0 = round(5.0 * 2 ** (15 - r))
    args = (10, 60, 1, w0, round(0.2 * 32768), round(0.1 * 32768), round(50 * 32768), r)
    expect15 = _c_window(posts, *args)
    expect20 = _c_window(posts, *args, history=len(posts) + 1)
    assert expect15 != expect20                           # the test can tell them apart
    assert sim.weights("plastic")[0] * 1e3 * 2 ** (15 - r) == pytest.approx(expect15)


def test_multiplicative_dependence_scales_with_the_distance_to_the_bounds():
    rule = PairSTDP(a_plus=0.1, a_minus=0.05, w_min=0.0, w_max=0.01,
                    weight_dependence="multiplicative")
    sim = _pairing_net([10, 40], [14], rule).build(dt=1e-3, backend="spinnaker",
                                                    machine="spinn3", seed=1)
    sim.run(0.05)
    w, w_max = 80 << 11, round(10 * 32768)
    a_p, a_m = round(0.1 * 32768), round(0.05 * 32768)
    w += ((w_max - w) * a_p >> 15) * 1517 >> 11           # (w_max - w) A+ x LUT[6]
    w -= ((w - 0) * a_m >> 15) * 616 >> 11                # (w - w_min) A- x LUT[24]
    assert sim.weights("plastic")[0] == pytest.approx((w >> 11) / 16 * 1e-3, abs=1e-15)
    assert (w >> 11) != 80


def test_lut_zero_beyond_the_table_and_no_pairing_without_post_spikes():
    rule = PairSTDP(a_plus=0.002, a_minus=0.001, w_min=0.0, w_max=0.01)
    # post at 15, next pre 200 ticks later: depression LUT index 184 > 153 -> 0, potentiation
    # index 6 as before
    sim = _pairing_net([10, 200], [14], rule).build(dt=1e-3, backend="spinnaker",
                                                     machine="spinn3", seed=1)
    sim.run(0.21)
    assert sim.weights("plastic")[0] == pytest.approx(((80 << 11) + 48544 >> 11) / 16 * 1e-3)
    sim = _pairing_net([10, 40], [], rule).build(dt=1e-3, backend="spinnaker",
                                                  machine="spinn3", seed=1)
    sim.run(0.05)
    assert sim.weights("plastic")[0] == 0.005


def test_unsupported_mechanisms_are_refused_with_the_supported_list():
    net = _pairing_net([10], [14], TripletSTDP())
    with pytest.raises(ValueError, match="supported: PairSTDP"):
        net.build(dt=1e-3, backend="spinnaker", machine="spinn3")
    net = _pairing_net([10], [14], PairSTDP(interaction="nearest"))
    with pytest.raises(ValueError, match="interaction='all'"):
        net.build(dt=1e-3, backend="spinnaker", machine="spinn3")


def test_synaptic_scaling_rescales_16_bit_columns_by_integer_division():
    from plasticity import SynapticScaling

    net = Network()
    pre = net.population(3, SpikeSource(spike_steps=[[], [], []]), name="pre")
    post = net.population(1, IF(v_thresh=1.0), name="post")
    net.connect(pre, post, weight=np.array([1e-3, 2e-3, 3e-3]), name="ff",
                plasticity=SynapticScaling(target=10e-3, every=5))
    sim = net.build(dt=1e-3, backend="spinnaker", machine="spinn3", seed=1)
    # bound 3 mV x fan-in 3 = 9 -> r = 4: w16 = 2048, 4096, 6144 (sum 12288); target 20480
    assert sim.weight_shifts("post") == (4, 0)
    sim.run(0.004)
    assert sim.weights("ff") * 1e3 == pytest.approx([1.0, 2.0, 3.0])
    sim.run(0.001)                                        # end of tick 4: (4 + 1) % 5 == 0
    w16 = [2048 * 20480 // 12288, 4096 * 20480 // 12288, 6144 * 20480 // 12288]
    assert w16 == [3413, 6826, 10240]
    assert sim.weights("ff") * 1e3 * 2048 == pytest.approx(w16)


def test_set_weights_encodes_like_the_host_tools():
    rule = PairSTDP(a_plus=0.002, a_minus=0.001, w_min=0.0, w_max=0.01)
    sim = _pairing_net([10, 40], [14], rule).build(dt=1e-3, backend="spinnaker",
                                                    machine="spinn3", seed=1)
    sim.set_weights("plastic", [0.0071])                  # 7.1 mV * 16 = 113.6 -> 114
    assert sim.weights("plastic")[0] == pytest.approx(114 / 16 * 1e-3, abs=1e-15)
    with pytest.raises(ValueError, match="change sign"):
        sim.set_weights("plastic", [-0.001])
    with pytest.raises(KeyError, match="modulator"):
        sim.set_modulator("dopamine", 1.0)


def test_pattern_detector_on_chip_flushes_before_reading_back(monkeypatch):
    # the reference workload's detector (rules.stdp.pattern) with its builds sent to the chip:
    # the deferred updates are applied one tick before training ends (then that tick's
    # scaling normalises them), once; one pattern is then detected without error
    import snn
    from hardware.spinnaker.backend import SpiNNakerSimulation
    from rules.pattern import PatternConfig, PatternDetector, make_patterns

    build = snn.Network.build
    monkeypatch.setattr(snn.Network, "build", lambda self, dt=1e-3, backend="numba", seed=None,
                        batch=None, **kw: build(self, dt=dt, backend="spinnaker", seed=seed,
                                                machine="spinn3", **kw))
    flush, calls = SpiNNakerSimulation.flush_plasticity, []

    def spy(sim):
        calls.append(sim.step)
        flush(sim)

    monkeypatch.setattr(SpiNNakerSimulation, "flush_plasticity", spy)
    config = PatternConfig(presentations=6)
    rng = np.random.default_rng(np.random.SeedSequence([0, 6]))
    single = make_patterns(32, 16, 1, None, rng)
    model = PatternDetector(32, 1, config, 16, seed=0)
    model.fit(single)
    assert calls == [6 * 100 - 1]
    np.testing.assert_array_equal(model.history["weights"][-1], model.weights)
    # homeostasis normalised the flushed weights: the sum is the set point to 16-bit steps
    assert model.weights.sum() == pytest.approx(model.weight_sum, rel=0.02)
    assert model.evaluate(single, n_negatives=20, repeats=3)["accuracy"] == 1.0
