"""Mapping onto the SpiNNaker machine: slices, keys, routes, tables, compression, limits,
resources, the ``synaptica map`` command, and (opt-in) sPyNNaker's own mapping."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hardware.spinnaker import Machine, MappingError, map_network, route_key, trace_key
from hardware.spinnaker.routing import RoutingEntry, compress_table, trace
from snn import LIF, FixedProbability, FromList, Network, PoissonSource

ROOT = Path(__file__).resolve().parents[1]


def ff_rec(n=1000, n_src=100, p=0.1, seed_weight=1e-3):
    net = Network()
    src = net.population(n_src, PoissonSource(rate=10.0), name="src")
    pop = net.population(n, LIF(), name="P")
    net.connect(src, pop, FixedProbability(p), weight=seed_weight, name="ff")
    net.connect(pop, pop, FixedProbability(p), weight=seed_weight / 10, name="rec")
    return net


def all_keys_reach_their_targets(mapping, compressed=True, colours=(0, 7, 15)):
    """Follow every key of every core (all neurons, a few colours) hop by hop."""
    hops = defaulted = 0
    for v in mapping.vertices:
        if v.key is None:
            continue
        want = mapping.targets(v.index)
        for colour in colours:
            for key in v.neuron_keys(colour=colour):
                got = trace(mapping.machine, mapping.compressed if compressed else mapping.tables,
                            v.chip, int(key))
                assert got.cores == want, (v.index, hex(int(key)))
                assert got.dropped == 0
                hops += got.link_hops
                defaulted += got.default_routed
    return hops, defaulted


def test_1000_neurons_become_four_cores_with_4096_keys_each():
    m = map_network(ff_rec(), "spinn5", seed=1)
    cores = m.vertices_of("P")
    assert [v.n for v in cores] == [256, 256, 256, 232]
    assert [(v.start, v.stop) for v in cores] == [(0, 256), (256, 512), (512, 768), (768, 1000)]
    # zoned keys: A·P = 1 (the Poisson source is 0), M = core index (2 bits), X = 12 bits
    assert [v.key for v in cores] == [0x4000, 0x5000, 0x6000, 0x7000]
    assert all(v.mask == 0xFFFFF000 for v in cores)
    # the 100 Poisson sources: 1600 keys -> 11 bits (flexible allocator, as sPyNNaker)
    (src,) = m.vertices_of("src")
    assert (src.key, src.mask) == (0x0, 0xFFFFF800)
    # neuron i of a core sends key + (i - start) << 4 | colour (colour = t mod 16)
    v = cores[1]
    assert v.neuron_keys([256, 300], colour=5).tolist() == [0x5005, 0x5000 + (44 << 4) + 5]
    assert v.neuron_keys(colour=21)[0] == 0x5005
    # the generated table of chip (0, 0) is sPyNNaker's: 2 entries, the 4 cores merged
    assert [(e.key, e.mask) for e in m.tables[(0, 0)]] == [(0x0, 0xFFFFF800), (0x4000, 0xFFFFC000)]
    assert m.tables[(0, 0)][1].cores == (2, 3, 4, 5)


def test_global_allocator_gives_every_core_the_same_mask():
    m = map_network(ff_rec(), "spinn5", seed=1, key_allocator="global")
    assert {v.mask for v in m.vertices} == {0xFFFFF000}
    assert m.vertex_for_key(0x5123).start == 256


def test_poisson_sources_take_500_per_core_and_overrides():
    net = Network()
    src = net.population(1200, PoissonSource(rate=5.0), name="src")
    pop = net.population(300, LIF(), name="P")
    net.connect(src, pop, FixedProbability(0.05), weight=1e-3)
    m = map_network(net, "spinn5", seed=0)
    assert [v.n for v in m.vertices_of("src")] == [500, 500, 200]
    assert [v.n for v in m.vertices_of("P")] == [256, 44]
    m2 = map_network(net, "spinn5", seed=0, neurons_per_core={"P": 100, "src": 600})
    assert [v.n for v in m2.vertices_of("P")] == [100, 100, 100]
    assert [v.n for v in m2.vertices_of("src")] == [600, 600]
    assert [v.n for v in map_network(net, "spinn5", neurons_per_core=64).vertices_of("P")] == \
        [64] * 4 + [44]
    with pytest.raises(ValueError, match="neurons_per_core"):
        map_network(net, "spinn5", neurons_per_core=0)
    with pytest.raises(ValueError, match="not populations"):
        map_network(net, "spinn5", neurons_per_core={"Q": 10})


def test_every_key_reaches_exactly_its_targets_across_chips():
    # 3 populations spread over 16 chips of a 4 x 4 torus, random connectivity
    net = Network()
    a = net.population(300, PoissonSource(rate=5.0), name="A")
    b = net.population(500, LIF(), name="B")
    c = net.population(400, LIF(), name="C")
    net.connect(a, b, FixedProbability(0.02), weight=1e-3)
    net.connect(b, c, FixedProbability(0.01), weight=1e-3)
    net.connect(c, b, FixedProbability(0.01), weight=1e-3, synapse="inh")
    net.connect(c, c, FixedProbability(0.005), weight=1e-3)
    m = map_network(net, Machine.board(4, 4, wrap=True), seed=3,
                    neurons_per_core={"A": 10, "B": 10, "C": 10})
    assert m.n_cores == 30 + 50 + 40 and len(m.chips_used) == 8
    for compressed in (False, True):
        hops, _ = all_keys_reach_their_targets(m, compressed)
        assert hops > 0
    s = m.summary()
    assert s["router_entries_after"] < s["router_entries_before"]
    assert 0 < s["compression_ratio"] < 1
    assert s["max_entries_per_chip_after"] <= 1023


def test_straight_through_hops_are_default_routed():
    # A on chip (0, 0), B on chip (5, 0) of a 6 x 1 line: 4 chips pass the packet on by
    # default routing and need no entry
    net = Network()
    a = net.population(10, PoissonSource(rate=5.0), name="A")
    net.population(79, LIF(), name="filler")
    b = net.population(10, LIF(), name="B")
    net.connect(a, b, FixedProbability(1.0), weight=1e-3)
    m = map_network(net, Machine.board(6, 1), neurons_per_core={"filler": 1})
    (va,), (vb,) = m.vertices_of("A"), m.vertices_of("B")
    assert va.chip == (0, 0) and vb.chip == (5, 0)
    assert sorted(m.tables) == [(0, 0), (5, 0)]
    route = trace_key(m, va.key | 0x35)
    assert route.cores == {vb.core}
    assert route.link_hops == 5 and route.default_routed == 4
    assert route.routers == ((0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0))
    assert route_key(m, va.key) == frozenset({vb.core})
    # a key nobody sends has no source core
    with pytest.raises(ValueError, match="belongs to no core"):
        trace_key(m, 0xFFFF0000)


def test_compression_is_order_aware_and_keeps_default_routed_keys():
    # two blocks with route R, one with route S between them; merging the R blocks into
    # 0x0/0xFFFFC000 would catch S's keys, so the R group is written after S
    r, s = 1 << 7, 1 << 8
    table = [RoutingEntry(0x0000, 0xFFFFF000, r), RoutingEntry(0x1000, 0xFFFFF000, s),
             RoutingEntry(0x2000, 0xFFFFF000, r), RoutingEntry(0x3000, 0xFFFFF000, r)]
    out = compress_table(table)
    assert out[0] == RoutingEntry(0x1000, 0xFFFFF000, s)
    assert len(out) == 2 and out[1].route == r and out[1].mask == 0xFFFFC000
    # a key crossing the chip by default routing must not be caught by a merged entry
    out = compress_table([e for e in table if e.route == r], transit=[(0x1000, 0xFFFFF000)])
    assert len(out) == 2
    assert not any(0x1000 & e.mask == e.key for e in out)
    for key in (0x0, 0x2000, 0x3FFF):
        assert any(key & e.mask == e.key for e in out)


def test_failed_cores_and_chips_are_avoided():
    machine = Machine.spinn5().with_failed(cores=[(0, 0, 1), (0, 0, 2)], chips=[(1, 0), (1, 1)])
    m = map_network(ff_rec(2000, p=0.05), machine, seed=2, neurons_per_core=64)
    used = {v.core for v in m.vertices}
    assert not used & {(0, 0, 1), (0, 0, 2)}
    assert not {v.chip for v in m.vertices} & {(1, 0), (1, 1)}
    assert not set(m.tables) & {(1, 0), (1, 1)}
    all_keys_reach_their_targets(m, colours=(0,))
    # a column of failed chips cuts a 4 x 1 line in two: the far chip cannot be reached
    cut = Machine.board(4, 1).with_failed(chips=[(1, 0)])
    with pytest.raises(MappingError, match="cannot be reached") as err:
        map_network(ff_rec(2000, p=0.05), cut, seed=2, neurons_per_core=64)
    assert err.value.limit == "routing"


def test_row_longer_than_256_synapses_fails():
    net = Network()
    a = net.population(10, LIF(), name="A")
    b = net.population(300, LIF(), name="B")
    net.connect(a, b, FixedProbability(1.0), weight=1e-3, name="wide")
    with pytest.raises(MappingError, match="300 synapses onto one core") as err:
        map_network(net, "spinn5", neurons_per_core={"B": 300})
    assert err.value.limit == "row_length"
    assert "neurons_per_core" in str(err.value)
    assert map_network(net, "spinn5").n_cores == 3        # 256 per core: rows fit


def test_router_table_over_1023_entries_after_compression_fails():
    # 1100 single-neuron source cores, each reaching its own set of the 16 target cores on
    # chip (0, 0): 1100 different routes that no merge can join
    n_src, n_tgt = 1100, 16
    pre, post = [], []
    for i in range(n_src):
        for j in range(n_tgt):
            if (i + 1) >> j & 1:
                pre.append(i)
                post.append(j)
    net = Network()
    tgt = net.population(n_tgt, LIF(), name="T")
    src = net.population(n_src, PoissonSource(rate=1.0), name="S")
    net.connect(src, tgt, FromList(np.array(pre), np.array(post)), weight=1e-3)
    with pytest.raises(MappingError, match="1023") as err:
        map_network(net, Machine.board(9, 9), neurons_per_core={"T": 1, "S": 1})
    assert err.value.limit == "router_entries"
    assert "chip (0, 0)" in str(err.value)


def test_machine_too_small_ring_buffer_dtcm_and_delay_limits():
    with pytest.raises(MappingError, match="application cores") as err:
        map_network(ff_rec(5000, p=0.01), "spinn3", neurons_per_core=64)
    assert err.value.limit == "machine_size"
    net = Network()
    pop = net.population(4096, LIF(), name="P")
    net.connect(pop, pop, FixedProbability(0.001), weight=1e-4)
    with pytest.raises(MappingError, match="DTCM") as err:
        map_network(net, "spinn5", neurons_per_core=4096)
    assert err.value.limit == "dtcm"
    big = Network()
    q = big.population(16384, LIF(), name="Q")
    big.connect(q, q, FixedProbability(0.0001), weight=1e-4)
    with pytest.raises(MappingError, match="ring-buffer") as err:
        map_network(big, "16x16", neurons_per_core=16384)
    assert err.value.limit == "ring_buffer"
    far = Network()
    a = far.population(100, LIF(), name="A")
    far.connect(a, a, FixedProbability(0.1), weight=1e-4, delay=300)
    with pytest.raises(MappingError, match="delay-extension core reaches 288") as err:
        map_network(far, "spinn5")
    assert err.value.limit == "delay"


def test_resources_per_core_hand_computed():
    net = Network()
    pop = net.population(256, LIF(), name="P")
    net.connect(pop, pop, FixedProbability(0.1), weight=1e-4, delay=1)
    m = map_network(net, "spinn5", seed=0)
    (core,) = m.resources.cores
    # ring buffers: 2 synapse types x 2 delay slots (bits(1) = 1) x 256 neurons x 2 bytes
    assert core.delay_slots == 2 and core.ring_buffer_bytes == 2 * 2 * 256 * 2
    assert core.dtcm["input_queue"] == 256 * 4
    assert core.sdram["neuron_params"] == 4 + 256 * 15 * 4
    assert core.sdram["neuron_core_params"] == 28 + 4 * 256
    (edge,) = m.edges
    # 8 B header, then the block aligned to 16 B: 256 rows of 3 header words + the longest row
    assert core.sdram["synaptic_matrix"] == 16 + 256 * (3 + edge.max_row_length) * 4
    # delay 20 needs 32 slots: 14 - 8 neuron bits - 1 type bit leaves 5 bits = 32 KiB
    slow = Network()
    q = slow.population(256, LIF(), name="Q")
    slow.connect(q, q, FixedProbability(0.1), weight=1e-4, delay=20)
    (c20,) = map_network(slow, "spinn5").resources.cores
    assert c20.delay_slots == 32 and c20.ring_buffer_bytes == 32 * 1024
    assert not c20.needs_delay_extension
    longer = Network()
    r = longer.population(256, LIF(), name="R")
    longer.connect(r, r, FixedProbability(0.1), weight=1e-4, delay=100)
    c100, ext = map_network(longer, "spinn5").resources.cores
    assert c100.delay_slots == 32 and c100.needs_delay_extension
    assert ext.kind == "delay" and ext.sdram == {"setup": 12, "delay_params": 36,
                                                 "provenance": 72}
    # pair STDP onto the core: 4 B + two LUTs of 154 entries (tau 20 ms, dt 1 ms) + 16 B a type
    import plasticity

    stdp = Network()
    s_src = stdp.population(50, PoissonSource(rate=5.0), name="S")
    s_out = stdp.population(10, LIF(), name="O")
    stdp.connect(s_src, s_out, FixedProbability(0.5), weight=1e-4,
                 plasticity=plasticity.PairSTDP(w_min=0.0, w_max=2e-4))
    c_stdp = map_network(stdp, "spinn5", dt=1e-3).resources.cores[1]
    assert c_stdp.sdram["stdp_params"] == 4 + 2 * (4 + 154 * 2) + 2 * 16
    d = m.resources.to_dict()
    assert d["cores_used"] == 1 and d["router_entries_after_compression"] == 1
    json.dumps(d)


def test_mapping_accepts_a_built_network_and_validates():
    built = ff_rec(300).instantiate(1e-3, 4)
    m = map_network(built, Machine.spinn3())
    assert m.n_cores == 3 and m.machine.name == "spinn3"
    json.dumps(m.to_dict())
    with pytest.raises(TypeError, match="Network"):
        map_network("cuba", "spinn5")
    with pytest.raises(ValueError, match="key_allocator"):
        map_network(built, "spinn5", key_allocator="zoned")


def test_map_command_json_and_plot(tmp_path):
    out = tmp_path / "map.png"
    proc = subprocess.run(
        [sys.executable, "-m", "snn.cli", "map", "cuba", "--neurons", "2000", "--machine", "spinn5",
         "--neurons-per-core", "64", "--json", "--plot", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["summary"]["cores"] == 32
    assert result["summary"]["router_entries_after"] <= result["summary"]["router_entries_before"]
    assert out.stat().st_size > 1000
    net_file = tmp_path / "net.py"
    net_file.write_text("from snn import LIF, Network, FixedProbability\n"
                        "def build_network():\n"
                        "    net = Network()\n"
                        "    p = net.population(600, LIF(), name='P')\n"
                        "    net.connect(p, p, FixedProbability(0.05), weight=1e-4)\n"
                        "    return net\n")
    proc = subprocess.run([sys.executable, "-m", "snn.cli", "map", str(net_file), "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["cores"] == 3
    bad = subprocess.run([sys.executable, "-m", "snn.cli", "map", "nosuchnet"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode == 1 and "cuba" in bad.stderr


SPYNNAKER = os.environ.get("SYNAPTICA_SPYNNAKER_PYTHON") or (
    sys.executable if importlib.util.find_spec("spynnaker") else None)


@pytest.mark.skipif(not SPYNNAKER, reason="needs sPyNNaker: pip install synaptica[spinnaker], or "
                    "set SYNAPTICA_SPYNNAKER_PYTHON to an interpreter with spynnaker and "
                    "pyNN 0.13.0 (e.g. /work/venvs/spynnaker/bin/python)")
@pytest.mark.parametrize("network", ["ffrec1k", "delays1k", "songabbott",
                                     pytest.param("cuba4k", marks=pytest.mark.slow),
                                     pytest.param("stdp1k", marks=pytest.mark.slow)])
def test_mapping_equals_spynnakers_own(network, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import spynnaker_mapping
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    r = spynnaker_mapping.compare(network, SPYNNAKER)
    assert r["cores"]["slices_equal"]
    assert r["cores"]["placement_equal_with_system_cores"]
    assert r["keys"]["equal"], r["keys"]["differences"]
    assert r["router_entries"]["before_equal_per_chip"]
    assert r["router_entries"]["after_equal_per_chip"]
    assert r["ring_buffer_shifts"]["equal"]
    assert r["ring_buffer_shifts"]["backend_equal"]
    assert all(r["sdram_regions"]["equal_per_core"].values())
    assert r["delay_extension_cores"]["equal"], r["delay_extension_cores"]


def _long_delay_net(delay=40, other=None):
    net = Network()
    src = net.population(200, PoissonSource(rate=10.0), name="src")
    pop = net.population(300, LIF(), name="P")
    net.connect(src, pop, FixedProbability(0.2), weight=1e-3, delay=delay, name="ff")
    if other is not None:
        q = net.population(64, LIF(), name="Q")
        net.connect(src, q, FixedProbability(0.2), weight=1e-3, delay=other, name="fq")
    return net


def test_delay_extension_cores_placed_keyed_and_routed_as_spynnaker():
    m = map_network(_long_delay_net(40), "spinn5", seed=3)
    # 256 neurons per core and 2 synapse types leave 2**(14 - 8 - 1) = 32 slots; delay 40
    # needs one delay-extension core for the source's one slice: ceil(40 / 32) - 1 = 1 stage
    src, p0, p1, ext = m.vertices
    assert [v.kind for v in m.vertices] == ["neurons"] * 3 + ["delay"]
    assert (ext.population, ext.start, ext.stop) == ("src", 0, 200)
    assert (ext.delay_stages, ext.delay_per_stage) == (1, 32)
    assert ext.core == (0, 0, p1.p + 1)                # placed after every neuron core
    # keys: src and its delay vertex send (P does not); 200 atoms x 1 stage x 16 colours
    # need 12 bits each, one core each: A·P at bit 12
    assert (src.key, src.mask) == (0x0, 0xFFFFF000)
    assert (ext.key, ext.mask) == (0x1000, 0xFFFFF000)
    assert ext.neuron_keys([5], colour=3, stage=1).tolist() == [0x1000 | 5 << 4 | 3]
    # every synapse has delay 40 > 32: nothing goes direct, src feeds its delay core only
    kinds = {(e.kind, e.pre, e.post) for e in m.edges}
    assert kinds == {("to_delay", src.index, ext.index), ("delayed", ext.index, p0.index),
                     ("delayed", ext.index, p1.index)}
    assert route_key(m, int(src.neuron_keys([5])[0])) == {ext.core}
    assert route_key(m, int(ext.neuron_keys([5])[0])) == {p0.core, p1.core}
    # resources: the delayed block of each P core is 200 rows x (3 + longest delayed row)
    # words x 1 stage, after the 8 B header aligned to 16 B; 20 B a source in the population
    # table counts the delay vertex as a source of its own
    longest = max(e.max_row_length for e in m.edges_to(p0.index))
    c0 = m.resources.cores[p0.index]
    assert c0.sdram["synaptic_matrix"] == 16 + 200 * (3 + longest) * 4
    assert c0.sdram["master_pop_table"] == 8 + 20 * 2 + 4 * 2
    # bit fields: 8 B + per incoming edge (16 B + 7 words) twice (the delayed atoms: 200 x 1)
    assert c0.sdram["bit_field"] == 8 + 2 * (16 + 4 * 7)
    assert m.resources.cores[ext.index].sdram_bytes == 12 + 36 + 72
    assert m.summary()["delay_extension_cores"] == 1
    json.dumps(m.to_dict())
    # delay 30 fits the 32 slots: no delay core
    assert not map_network(_long_delay_net(30), "spinn5", seed=3).delay_vertices


def test_delay_extension_needs_one_stage_length_per_source():
    # P's cores hold 32 slots, Q's (64 neurons: 14 - 6 - 1 = 7 bits) 128: a source with long
    # delays to both would need two stage lengths, which sPyNNaker's delay extension refuses
    with pytest.raises(MappingError, match="stage") as err:
        map_network(_long_delay_net(40, other=200), "spinn5", neurons_per_core={"Q": 64})
    assert err.value.limit == "delay"
