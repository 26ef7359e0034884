"""The SpiNNaker target against hand-computed numbers and a plain-Python reimplementation of
sPyNNaker's C arithmetic (shared/design/spinnaker.md §3, §7, §8)."""

import math

import numpy as np
import pytest

from hardware.spinnaker import timing
from hardware.spinnaker.fixed import expk, expulr, lif_exp_tc
from hardware.spinnaker.mapping import MappingError
from snn import IF, LIF, Network, SpikeSource
from snn.connect import FixedProbability, OneToOne
from snn.models import AdaptiveLIF

SAT = "Times_synaptic_weights_have_saturated"
LOST = "Times_the_input_buffer_lost_packets"


def _c_lif_trace(ticks, arrivals, w16, r, tau_m=20.0, tau_s=5.0, dt=1.0, v_rest=-65.0,
                 v_reset=-70.0, v_thresh=-50.0, t_ref=3, i_offset=0.0, cm=1.0):
    """sPyNNaker's IF_curr_exp written out in plain Python ints (one neuron, excitatory
    input ``w16`` arriving at each tick in ``arrivals``): returns the V recorded at the start
    of every tick and the spike ticks."""
    def enc(x):
        return round(x * 32768)  # ties to even, as the host tools

    def sat(x):
        return min(max(x, -(2**31)), 2**31 - 1)

    def kdivk(a, b):  # maths-util.h: (a << 15) / b, unsigned, truncating
        return (a << 15) // b

    ts = enc(dt)
    exp_tc = expk(-kdivk(ts, enc(tau_m)))                            # spinn_common's expk
    decay = expulr(-kdivk(ts, enc(tau_s)))                           # and expulr
    init = (kdivk(enc(tau_s), ts) * (2**32 - 1 - decay)) >> 15      # decay_s1615_to_u032
    R = enc(tau_m / cm)
    V, i_syn, refract = enc(v_rest), 0, 0
    vs, spikes = [], []
    for t in range(ticks):
        vs.append(V)
        inp = (w16 * arrivals.count(t)) << r
        i_syn = i_syn + ((inp * init) >> 32)
        if refract <= 0:
            alpha = sat((sat(i_syn + enc(i_offset)) * R + 16384) >> 15) + enc(v_rest)
            V = alpha - sat((exp_tc * (alpha - V) + 16384) >> 15)
        else:
            refract -= 1
        if V >= enc(v_thresh):
            V = enc(v_reset)
            refract = t_ref
            spikes.append(t)
        i_syn = (i_syn * decay) >> 32
    return vs, spikes


def test_single_lif_v_trace_equals_the_c_arithmetic_bit_for_bit():
    # one SpikeSource neuron -> one LIF, delay 2 ticks, weight 0.1 V = 5 nA (R = 20 MOhm)
    spikes_in = [3, 4, 5, 6, 7, 20, 21, 22, 23, 24, 25]
    net = Network()
    src = net.population(1, SpikeSource(spike_steps=[spikes_in]), name="src")
    P = net.population(1, LIF(v_reset=-70e-3, tau_ref=3e-3, i_bias=1e-3), name="P")
    net.connect(src, P, weight=0.1, delay=2)
    net.spike_monitor(P)
    net.state_monitor(P, "v")
    sim = net.build(dt=1e-3, backend="spinnaker", seed=1, machine="spinn3")
    res = sim.run(0.06)
    # bound = 1 spike x 5 nA x fan-in 1 -> r = ceil(log2 5) = 3, w16 = 5 * 2**12 = 20480
    assert sim.weight_shifts("P") == (3, 0)
    vs, out = _c_lif_trace(60, [t + 2 for t in spikes_in], 20480, 3, i_offset=1e-3 * 1e3 / 20)
    got = np.rint(res["P_state"]["v"][:, 0] * 32768e3).astype(np.int64)
    assert got.tolist() == vs
    assert res["P_spikes"].steps.tolist() == out and len(out) >= 2
    # reset and refractory: V = v_reset, held for ceil(3 ms / 1 ms) = 3 ticks after the spike
    s = out[0]
    assert vs[s + 1] == vs[s + 2] == vs[s + 3] == vs[s + 4] == round(-70 * 32768)
    assert vs[s + 5] != vs[s + 4]


def test_weight_quantisation_of_100_synapses_of_half_a_nanoamp():
    # §8.2: 0.5 nA onto tau_m 20 ms / 1 nF is 0.5 * 20 mV = 0.01 V; bound 50 -> r = 6 -> 256
    net = Network()
    src = net.population(100, SpikeSource(spike_steps=[[]] * 100), name="src")
    P = net.population(1, LIF(), name="P")
    net.connect(src, P, weight=0.01, name="ff")
    sim = net.build(dt=1e-3, backend="spinnaker", seed=1, machine="spinn3")
    assert sim.weight_shifts("P") == (6, 0)
    w = sim.weights("ff")
    assert np.all(w * 1e3 / 20 * 2**9 == 256)        # back to nA, then to 16-bit units
    assert np.all(w == pytest.approx(0.01, abs=1e-15))


def _if_net(n_src, steps, weight, delay=1, v_thresh=1.0, override=None, dt=1e-3, n_post=1):
    net = Network()
    src = net.population(n_src, SpikeSource(spike_steps=[steps] * n_src), name="src")
    P = net.population(n_post, IF(v_thresh=v_thresh, reset="value"), name="P")
    net.connect(src, P, weight=weight, delay=delay)
    net.spike_monitor(P)
    net.state_monitor(P, "v")
    sim = net.build(dt=dt, backend="spinnaker", seed=1, machine="spinn3",
                    max_expected_summed_weight=override)
    return sim


def test_ring_buffer_saturation_70_adds_of_1000():
    # §8.1 on the core: r = 0 (bound fixed below 1 mV), each weight 1000 / 32768 mV -> w16 1000
    sim = _if_net(70, [2], 1000 / 32768e3, override=0.9e-3)
    assert sim.weight_shifts("P")[0] == 0
    res = sim.run(0.006)
    assert res.provenance["cores"][-1][SAT] == 5
    assert res.provenance["totals"]["saturations"] == 5
    v = np.rint(res["P_state"]["v"][:, 0] * 32768e3)
    assert v[4] == 65535                               # input of tick 3 seen at the start of 4


def test_threshold_is_inclusive_and_delays_land_at_t_plus_d():
    # IF: V += input; two inputs of exactly half the threshold reach it -> spike (V >= theta)
    sim = _if_net(2, [5], 0.5, delay=7)
    res = sim.run(0.02)
    assert res["P_spikes"].steps.tolist() == [12]      # sent at 5, effect at 5 + 7
    v = res["P_state"]["v"][:, 0]
    assert np.all(v[:13] == 0.0) and v[13] == 0.0      # reset to 0 after the spike
    # 256 neurons and 2 types leave 2**5 = 32 slots on the core: delay 40 needs the extension
    sim = _if_net(1, [5], 0.25, delay=40, n_post=256)
    res = sim.run(0.05)
    v = res["P_state"]["v"][:, 0]
    assert np.all(v[:46] == 0.0) and v[46] == pytest.approx(0.25)
    # ... placed as sPyNNaker does: one delay-extension core for the source slice, 1 stage of
    # 32 ticks; the spike enters it once and leaves it once (the one stage holding a synapse)
    (ext,) = sim.mapping.delay_vertices
    assert (ext.population, ext.delay_stages, ext.delay_per_stage) == ("src", 1, 32)
    row = res.provenance["cores"][ext.index]
    assert row["kind"] == "delay" and row["packets_received"] == 1 and row["packets_sent"] == 1
    assert res.provenance["mapping"]["delay_extension_cores"] == 1


def test_delay_beyond_nine_slot_rings_is_refused():
    net = Network()
    src = net.population(1, SpikeSource(spike_steps=[[1]]), name="src")
    P = net.population(256, IF(), name="P")
    net.connect(src, P, weight=0.1, delay=600)
    with pytest.raises(MappingError, match="delay"):
        net.build(dt=1e-3, backend="spinnaker", seed=1)


def test_input_queue_of_256_drops_the_rest_and_counts_them():
    # 300 packets reach one core in one tick: 256 queued, 44 lost; only 256 inputs land
    sim = _if_net(300, [2], 1e-3)
    res = sim.run(0.005)
    core = res.provenance["cores"][-1]
    assert core[LOST] == 44 and core["packets_received"] == 300
    assert core["Max_filled_size_input_buffer"] == 256
    assert res["P_state"]["v"][4, 0] == pytest.approx(0.256)


def test_late_packets_skip_synapses_shorter_than_their_lateness():
    # dt 10 us: a core has 2000 cycles a tick. 20 simultaneous packets: the documented cost
    # model (timing.py) makes packet p start at max(previous end, arrival) and be late by
    # start // budget ticks; its delay-1 synapse is skipped when late.
    n, budget = 20, timing.budget_cycles(1e-5, 1)
    busy, late = 0, []
    for p in range(n):
        arrival = timing.TIMER_CYCLES + 30 * (p + 1)  # SpikeSource: 30 cycles per neuron
        start = max(busy, arrival)
        late.append(start // budget)
        busy = start + timing.PACKET_CYCLES + timing.ROW_CYCLES
        busy += timing.SYNAPSE_CYCLES if late[-1] < 1 else 0
    sim = _if_net(n, [2], 1e-3, dt=1e-5)
    res = sim.run(0.0001)
    core = res.provenance["cores"][-1]
    n_late = sum(1 for x in late if x > 0)
    assert n_late > 0
    assert core["Late spikes"] == n_late and core["Skipped synapses"] == n_late
    assert core["Max late spike"] == max(late)
    assert res["P_state"]["v"][4, 0] == pytest.approx((n - n_late) * 1e-3)
    assert core["Times_the_timer_tic_over_ran"] == 1


def test_multichip_packets_follow_the_router_tables():
    rng = np.random.default_rng(3)
    trains = [np.sort(rng.choice(200, 10, replace=False)).tolist() for _ in range(40)]
    net = Network()
    src = net.population(40, SpikeSource(spike_steps=trains), name="src")
    P = net.population(400, LIF(), name="P")
    net.connect(src, P, FixedProbability(0.3), weight=2e-3)
    net.connect(P, P, FixedProbability(0.05), weight=1e-3)
    sim = net.build(dt=1e-3, backend="spinnaker", seed=2, machine="spinn5",
                    neurons_per_core=16)
    res = sim.run(0.2)
    prov = res.provenance
    m = sim.mapping
    assert len(m.chips_used) >= 2
    sent = np.array([c["packets_sent"] for c in prov["cores"]])
    expect = np.zeros(len(m.vertices), np.int64)
    for v in m.vertices:
        for core in m.targets(v.index):
            expect[[u.index for u in m.vertices if u.core == core][0]] += sent[v.index]
    assert [c["packets_received"] for c in prov["cores"]] == expect.tolist()
    ext = sum(r["External_Multicast_Packets"] for r in prov["routers"].values())
    assert ext > 0 and prov["totals"]["packets_sent"] == sent.sum() > 0


def test_energy_follows_the_published_model():
    sim = _if_net(2, [5], 0.5, delay=7)
    res = sim.run(0.02)
    e, chips, cores = res.provenance["energy"], 1, len(sim.mapping.vertices)
    packets = res.provenance["totals"]["router_packets"]
    assert e["total_J"] == pytest.approx(0.35 * chips * 0.02 + 0.034 * cores * 0.02 + 1e-9 * packets)
    assert e["J_per_synaptic_event"] == pytest.approx(e["total_J"] / 2)


def test_unsupported_model_lists_the_supported_ones_and_host_range_errors():
    net = Network()
    net.population(3, AdaptiveLIF(), name="A")
    with pytest.raises(ValueError, match="supported: IF, LIF, PoissonSource, SpikeSource"):
        net.build(dt=1e-3, backend="spinnaker")
    net = Network()
    net.population(3, LIF(v_rest=70.0, v_reset=60.0, v_thresh=80.0), name="B")
    with pytest.raises(ValueError, match="LIF.v_rest"):
        net.build(dt=1e-3, backend="spinnaker")
    net = Network()
    net.population(3, LIF(), name="C")
    with pytest.raises(ValueError, match="whole microseconds"):
        net.build(dt=1.5e-7, backend="spinnaker")


def _ff(trains, tau_m, n_out=100, p=0.05, w=0.05):
    net = Network()
    src = net.population(len(trains), SpikeSource(spike_steps=trains), name="src")
    P = net.population(n_out, LIF(tau_m=tau_m), name="P")
    net.connect(src, P, FixedProbability(p), weight=w)
    net.spike_monitor(P)
    return net


def _within_one_step(ref, emu) -> float:
    matched = 0
    for i in range(ref.n):
        a, b = ref.steps[ref.indices == i], emu.steps[emu.indices == i]
        if a.size and b.size:
            matched += int(np.sum(np.abs(a[:, None] - b[None, :]).min(axis=1) <= 1))
    return matched / ref.count


@pytest.mark.parametrize("dt", [1e-3, 1e-4])
def test_feedforward_spikes_match_the_float_engine_within_one_step(dt):
    # 200 shared Poisson trains (10 Hz) onto 100 LIF, ~10 inputs of 2.5 nA each
    rng = np.random.default_rng(7)
    steps = int(round(1.0 / dt))
    trains = [np.flatnonzero(rng.random(steps) < 10.0 * dt).tolist() for _ in range(200)]
    emu = _ff(trains, 20e-3).run(1.0, dt=dt, seed=5, backend="spinnaker",
                                 machine="spinn3")["P_spikes"]
    # At dt 0.1 ms the core's exp_TC = expk(-kdivk(ts, tau_m)) = expk(-163) = 32605/32768 (the
    # quotient 163.85 truncated), 0.26 % short in 1 - exp_TC: the core charges as a float
    # neuron with tau_m 20.05 ms, so spikes drift late by steps (86 % within one step of
    # tau_m 20 ms; benchmarks/spinnaker_feedforward.py). Against that neuron >= 95 % agree.
    tau = 20e-3 if dt == 1e-3 else -dt / math.log(lif_exp_tc(20.0, 0.1) / 32768)
    ref = _ff(trains, tau).run(1.0, dt=dt, seed=5)["P_spikes"]
    assert ref.count > 3000
    assert _within_one_step(ref, emu) >= 0.95
    assert abs(emu.count - ref.count) / ref.count < 0.02


def test_one_to_one_multiple_populations_keep_their_own_shifts():
    net = Network()
    src = net.population(4, SpikeSource(spike_steps=[[1], [2], [3], [4]]), name="src")
    A = net.population(4, LIF(), name="A")
    B = net.population(4, LIF(), name="B")
    net.connect(src, A, OneToOne(), weight=0.01)
    net.connect(src, B, OneToOne(), weight=-0.1, synapse="inh")
    sim = net.build(dt=1e-3, backend="spinnaker", machine="spinn3")
    assert sim.weight_shifts("A") == (0, 0)            # 0.5 nA -> bound 0.5 -> r 0
    assert sim.weight_shifts("B") == (0, 3)            # 5 nA inhibitory -> r 3
    assert np.all(sim.weights(sim.built.projections[1].name) == pytest.approx(-0.1))


def test_cli_emulate_prints_the_provenance_as_json(capsys):
    import json

    from snn.cli import main

    assert main(["emulate", "cuba", "--neurons", "500", "--duration", "0.02",
                 "--time-scale-factor", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    prov = out["provenance"]
    assert prov["mapping"]["cores"] == 2 and prov["realtime"]["time_scale_factor"] == 10
    assert prov["totals"]["timer_tick_overruns"] == 0
    assert LOST in prov["cores"][0] and "Local_Multicast_Packets" in prov["routers"]["0,0"]
    assert out["spikes"]["spikes"]["spikes"] == prov["totals"]["packets_sent"]


def test_poisson_source_cores_fire_at_their_rate():
    from snn import PoissonSource

    net = Network()
    src = net.population(1000, PoissonSource(rate=20.0), name="src")
    net.connect(src, net.population(1, LIF(), name="P"), weight=1e-5)
    net.spike_monitor(src)
    rec = net.run(2.0, dt=1e-3, seed=3, backend="spinnaker", machine="spinn3")["src_spikes"]
    assert rec.rate(2.0) == pytest.approx(20.0, rel=0.03)     # 40,000 spikes: SD 0.5 %
    # inter-spike intervals (pooled over neurons) of a Bernoulli process at p = 0.02 a tick:
    # geometric, mean 1 / p = 50 ticks, CV sqrt(1 - p) = 0.99
    isi = np.concatenate([np.diff(rec.steps[rec.indices == i]) for i in range(1000)])
    assert isi.mean() == pytest.approx(50.0, rel=0.03)
    assert isi.std() / isi.mean() == pytest.approx(math.sqrt(1 - 0.02), abs=0.02)
