"""NIR export and import (hardware.nir): the graph we write, its round trip through a file back
into our layers and networks, and what we refuse. Peer libraries: tests/test_nir_peers.py."""

import argparse

import numpy as np
import pytest

nir = pytest.importorskip("nir")
torch = pytest.importorskip("torch")

from hardware.nir import from_nir, read_nir, synaptica_metadata, to_nir, write_nir  # noqa: E402
from snn.layers import (  # noqa: E402
    AvgPool2d,
    Conv2d,
    Dense,
    Flatten,
    Linear,
    MaxPool2d,
    RecurrentLinear,
    Sequential,
)
from snn.models import IF, LI, LIF, AdaptiveLIF  # noqa: E402


def lif(beta, **kw):
    return LIF.from_beta(beta, reset="value", **kw)


def stacks():
    """Feed-forward (LIF read-out), LI read-out, exponential synapses with per-neuron time
    constants, convolutional with pooling, recurrent: (net, input_shape or None, one step's shape)."""
    torch.manual_seed(3)
    exp_syn = LIF(tau_m=np.linspace(5e-3, 20e-3, 12), v_rest=0.0, v_reset=0.0, v_thresh=1.0,
                  tau_ref=0.0, tau_syn_exc=3e-3, tau_syn_inh=3e-3, i_bias=0.2)
    nets = {
        "ff": (Sequential(Linear(20, 16, lif(0.9)), Linear(16, 5, lif(0.8))), None, (20,)),
        "li": (Sequential(Linear(20, 16, lif(0.9), bias=False), Linear(16, 5, LI.from_beta(0.7))),
               None, (20,)),
        "expsyn": (Sequential(Linear(20, 12, exp_syn), Linear(12, 5, lif(0.85))), None, (20,)),
        "conv": (Sequential(Conv2d(1, 4, 3, lif(0.9), stride=2, padding=1), AvgPool2d(2), Flatten(),
                            Linear(16, 5, lif(0.8))), (1, 8, 8), (1, 8, 8)),
        "recurrent": (Sequential(RecurrentLinear(20, 16, lif(0.9)), Linear(16, 5, lif(0.8))), None, (20,)),
    }
    for net, _, _ in nets.values():
        with torch.no_grad():
            for layer in net:
                if hasattr(layer, "weight"):
                    layer.weight.mul_(4.0)
    return nets


def spikes_in(shape, steps=30, batch=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, *shape, generator=gen) < 0.3).float()


@pytest.mark.parametrize("kind", ["ff", "li", "expsyn", "conv", "recurrent"])
def test_stack_round_trip_through_a_file_is_identical(kind, tmp_path):
    net, input_shape, step_shape = stacks()[kind]
    path = write_nir(net, tmp_path / f"{kind}.nir", input_shape=input_shape)
    graph = read_nir(path)  # nir.read with type checking
    back = from_nir(graph, dt=synaptica_metadata(graph)["dt_export"])
    x = spikes_in(step_shape)
    with torch.no_grad():
        ours, theirs = net(x), back(x)
    assert torch.equal(ours, theirs)
    if kind != "li":
        assert 20 <= float(ours.sum()) < 0.9 * ours.numel()  # active outputs: the comparison can fail


def test_graph_has_explicit_ports_array_parameters_and_metadata():
    net, _, _ = stacks()["ff"]
    g = to_nir(net)
    assert isinstance(g.nodes["input"], nir.Input) and isinstance(g.nodes["output"], nir.Output)
    assert list(g.nodes["input"].input_type["input"]) == [20]
    neuron = g.nodes["neuron_0"]
    for field in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        assert np.shape(getattr(neuron, field)) == (16,)
    meta = synaptica_metadata(g)
    assert meta["dt_export"] == 1e-4 and meta["dt_model"] == [1e-3]
    assert meta["reset"] == {"neuron_0": "value", "neuron_1": "value"}
    assert meta["models"]["neuron_0"]["model"] == "LIF"
    assert synaptica_metadata(nir.NIRGraph(nodes={}, edges=[], type_check=False)) == {}


def test_lif_layer_maps_to_hand_computed_euler_parameters():
    """beta = 0.9 at the export step dt = 1e-4 s: tau = dt / (1 - beta) = 1e-3 s, r = 1, and
    the incoming weights times 1 / (1 - beta) = 10, so Euler's v += dt/tau (r W x - v) is
    v = 0.9 v + W x (NIR's LIF equation, forward Euler)."""
    layer = Linear(2, 1, lif(0.9), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.25]]))
    g = to_nir(Sequential(layer))
    node = g.nodes["neuron_0"]
    assert node.tau == pytest.approx([1e-3], rel=1e-9)
    assert node.r == pytest.approx([1.0]) and node.v_threshold == pytest.approx([1.0])
    assert isinstance(g.nodes["linear_0"], nir.Linear)  # no bias: Linear, not Affine
    assert g.nodes["linear_0"].weight == pytest.approx(np.array([[5.0, -2.5]]), rel=1e-6)


def test_recurrent_layer_is_a_nested_cubalif_subgraph():
    """tau_syn = dt (alpha = 0), tau_mem = dt / (1 - beta), w_in = tau_syn / dt = 1,
    r = tau_mem / dt = 10 for beta = 0.9 (nir.md section 6)."""
    net, _, _ = stacks()["recurrent"]
    g = to_nir(net)
    sub = g.nodes["rec_0"]
    assert isinstance(sub, nir.NIRGraph)
    assert set(sub.nodes) == {"input", "lif", "w_rec", "output"}
    assert {tuple(e) for e in sub.edges} == {("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
                                             ("lif", "output")}
    cuba = sub.nodes["lif"]
    assert isinstance(cuba, nir.CubaLIF)
    assert cuba.tau_syn == pytest.approx(np.full(16, 1e-4))
    assert cuba.tau_mem == pytest.approx(np.full(16, 1e-3))
    assert cuba.w_in == pytest.approx(np.ones(16)) and cuba.r == pytest.approx(np.full(16, 10.0))
    np.testing.assert_allclose(sub.nodes["w_rec"].weight, net[0].recurrent.detach().numpy(), rtol=1e-6)


def test_from_nir_rescales_time_constants_for_layer_dt():
    net, _, shape = stacks()["expsyn"]
    g = to_nir(net)
    back = from_nir(g, dt=1e-4, layer_dt=1e-3)
    assert back[0].dt == 1e-3
    assert np.allclose(back[0].neuron.tau_m, net[0].neuron.tau_m)
    x = spikes_in(shape)
    with torch.no_grad():
        assert torch.equal(net(x), back(x))


def test_subtract_reset_is_refused_unless_accepted():
    net = Sequential(Linear(4, 3, LIF.from_beta(0.9)))  # from_beta resets by subtraction
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\).*subtract.*accept"):
        to_nir(net)
    g = to_nir(net, accept=["subtract"])
    meta = synaptica_metadata(g)
    assert meta["accepted"] == ["subtract"] and meta["reset"]["neuron_0"] == "subtract"
    back = from_nir(g, dt=1e-4)
    assert back[0].neuron.reset == "subtract"  # our own importer reads the recorded mode
    assert from_nir(g, dt=1e-4, reset="value")[0].neuron.reset == "value"


@pytest.mark.parametrize("layers, shape, match", [
    (lambda: [Linear(4, 3, AdaptiveLIF.from_beta(0.9))], None, r"layer 0 .*AdaptiveLIF has no NIR node"),
    (lambda: [Conv2d(1, 2, 3, lif(0.9)), MaxPool2d(2)], (1, 6, 6), r"layer 1 .*no max pooling"),
    (lambda: [Dense(4, 3)], (4,), r"layer 0 \(Dense\).*non-spiking"),
    (lambda: [Linear(4, 3, LIF(v_rest=-0.065, v_reset=-0.065, v_thresh=-0.05, tau_ref=0.0))], None,
     "layer 0 .*v_rest"),
])
def test_what_nir_cannot_carry_is_refused_with_the_layer_named(layers, shape, match):
    with pytest.raises(ValueError, match=match):
        to_nir(Sequential(*layers()), input_shape=shape, accept=["subtract"])


def test_bad_arguments():
    net, _, _ = stacks()["ff"]
    with pytest.raises(ValueError, match="accept"):
        to_nir(net, accept=["nonsense"])
    with pytest.raises(ValueError, match="dt"):
        to_nir(net, dt=-1.0)
    with pytest.raises(TypeError, match="Sequential or a snn.Network"):
        to_nir(object())
    with pytest.raises(ValueError, match="input_shape"):
        to_nir(stacks()["conv"][0])
    g = to_nir(net)
    with pytest.raises(TypeError):
        from_nir(g)  # dt is required: NIR stores none
    with pytest.raises(ValueError, match="neuron_0.*larger than its tau"):
        from_nir(g, dt=2e-3)
    with pytest.raises(TypeError, match="NIRGraph or the path"):
        from_nir(42, dt=1e-4)


def test_if_nodes_import_as_networks_only():
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2])}),
        "fc": nir.Linear(weight=np.eye(2)), "if": nir.IF(r=np.ones(2), v_threshold=np.ones(2)),
        "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "fc"), ("fc", "if"), ("if", "output")])
    with pytest.raises(ValueError, match="'if'.*as_network=True"):
        from_nir(g, dt=1e-3)
    net = from_nir(g, dt=1e-3, as_network=True)
    assert [type(p.model).__name__ for p in net.populations] == ["SpikeSource", "IF"]


def test_damaged_file_gives_a_clear_error(tmp_path):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable NIR file"):
        read_nir(bad)
    with pytest.raises(FileNotFoundError):
        read_nir(tmp_path / "missing.nir")


def test_snntorch_style_flat_recurrence_is_imported_as_a_recurrent_layer():
    """snnTorch writes a recurrent layer flat ('1.lif' <-> '1.w_rec', an Affine); the recurrent
    bias becomes part of the feed-forward bias (both are added every step)."""
    n = 3
    w_rec = np.array([[0.0, 0.5, -0.2], [0.1, 0.0, 0.3], [0.2, -0.4, 0.0]])
    lif_node = nir.LIF(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n),
                       v_threshold=np.ones(n), v_reset=np.zeros(n))
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2])}),
        "0": nir.Affine(weight=np.array([[1.0, 0.5], [0.2, 0.9], [0.7, 0.7]]),
                        bias=np.array([0.1, 0.0, 0.2])),
        "1.lif": lif_node, "1.w_rec": nir.Affine(weight=w_rec, bias=np.array([0.05, 0.0, -0.05])),
        "output": nir.Output(output_type={"output": np.array([n])})},
        edges=[("input", "0"), ("0", "1.lif"), ("1.lif", "1.w_rec"), ("1.w_rec", "1.lif"),
               ("1.lif", "output")])
    net = from_nir(g, dt=1e-4)
    assert len(net) == 1 and isinstance(net[0], RecurrentLinear)
    np.testing.assert_allclose(net[0].recurrent.detach().numpy(), w_rec, rtol=1e-6)
    np.testing.assert_allclose(net[0].bias.detach().numpy(), [0.15, 0.0, 0.15], rtol=1e-6)
    # by hand: v_k = 0.9 v + W x + b + W_rec s_k-1, reset to 0 (the r dt / tau = 1 gain)
    x = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 1.0]], [[1.0, 1.0]]])
    v, s, expect = np.zeros(n), np.zeros(n), []
    W, b = np.array(g.nodes["0"].weight), np.array([0.15, 0.0, 0.15])
    for k in range(4):
        v = 0.9 * v + W @ x[k, 0].numpy() + b + w_rec @ s
        s = (v > 1.0).astype(float)
        v = np.where(s > 0, 0.0, v)
        expect.append(s)
    with torch.no_grad():
        np.testing.assert_array_equal(net(x)[:, 0].numpy(), np.array(expect))


# -- engine networks ------------------------------------------------------------------------


def engine_network():
    from snn import Network
    from snn.connect import FixedProbability, FromList
    from snn.models import SpikeSource

    rng = np.random.default_rng(1)
    steps = [np.sort(rng.choice(200, size=40, replace=False)) for _ in range(10)]
    net = Network()
    src = net.population(10, SpikeSource(spike_steps=steps), name="src")
    delta = net.population(8, LIF(tau_m=10e-3, v_rest=0.0, v_reset=0.0, v_thresh=10e-3, tau_ref=0.0,
                                  tau_syn_exc=0.0, tau_syn_inh=0.0), name="delta")
    cuba = net.population(6, LIF(tau_m=20e-3, v_rest=-65e-3, v_reset=-65e-3, v_thresh=-55e-3,
                                 tau_ref=0.0, tau_syn_exc=5e-3, tau_syn_inh=5e-3), name="cuba")
    net.connect(src, delta, FixedProbability(0.6), weight=4e-3)
    net.connect(delta, cuba, FixedProbability(0.7), weight=3e-3, delay=np.array(2))
    pre, post = np.nonzero(rng.random((6, 6)) < 0.5)  # recurrent, per-synapse delays of 1 or 2 steps
    net.connect(cuba, cuba, FromList(pre, post, np.full(pre.size, -2e-3), rng.integers(1, 3, pre.size)),
                synapse="inh")
    net.connect(src, cuba, FixedProbability(0.3), weight=2.5e-3, delay=3)
    integrate = net.population(4, IF(v_thresh=8e-3, reset="value"), name="integrate")
    net.connect(delta, integrate, FixedProbability(0.8), weight=3e-3)
    net.spike_monitor(delta)
    net.spike_monitor(cuba)
    net.spike_monitor(integrate)
    return net, src.model


def _spikes(net, dt=1e-4):
    result = net.run(200 * dt, dt=dt, backend="numba", seed=0)
    return {k: (np.asarray(v.steps), np.asarray(v.indices)) for k, v in result.spikes.items()}


def test_network_round_trip_gives_the_same_spikes(tmp_path):
    net, source = engine_network()
    path = write_nir(net, tmp_path / "net.nir", dt=1e-4, seed=0)
    g = read_nir(path)
    assert isinstance(g.nodes["src"], nir.Input)
    assert isinstance(g.nodes["delta"], nir.LIF) and isinstance(g.nodes["cuba"], nir.CubaLIF)
    assert isinstance(g.nodes["integrate"], nir.IF)
    delays = {k: float(np.unique(v.delay)[0]) for k, v in g.nodes.items() if isinstance(v, nir.Delay)}
    assert sorted(delays.values()) == pytest.approx([1e-4, 1e-4, 1e-4, 2e-4, 2e-4, 3e-4])  # split by delay
    back = from_nir(g, dt=1e-4, as_network=True, inputs={"src": source})
    for name in ("delta", "cuba", "integrate"):
        back.spike_monitor(next(p for p in back.populations if p.name == name), name=f"{name}_spikes")
    ours, theirs = _spikes(net), _spikes(back)
    for name in ("delta", "cuba", "integrate"):
        a, b = ours[f"{name}_spikes"], theirs[f"{name}_spikes"]
        assert a[0].size > 5
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_network_refusals():
    import plasticity
    from snn import Network
    from snn.models import PoissonSource

    net = Network()
    src = net.population(3, PoissonSource(rate=10.0), name="src")
    post = net.population(2, LIF(tau_ref=0.0, tau_syn_inh=10e-3), name="post")
    net.connect(src, post, weight=1e-3, name="p1")
    net.connect(src, post, weight=-1e-3, synapse="inh", name="p2")
    with pytest.raises(ValueError, match="population 'post'.*tau_syn_exc != tau_syn_inh"):
        to_nir(net)
    net = Network()
    src = net.population(3, PoissonSource(rate=10.0), name="src")
    post = net.population(2, LIF(tau_ref=2e-3), name="post")
    net.connect(src, post, weight=1e-3, name="p1")
    with pytest.raises(ValueError, match="population 'post'.*refractory"):
        to_nir(net)
    assert synaptica_metadata(to_nir(net, accept=["refractory"]))["accepted"] == ["refractory"]
    net.connect(src, post, weight=1e-3, name="stdp", plasticity=plasticity.PairSTDP())
    with pytest.raises(ValueError, match="projection 'stdp' has plasticity"):
        to_nir(net, accept=["refractory"])


# -- command line ---------------------------------------------------------------------------


def _export_parser():
    """The ``export`` group's parser as :mod:`hardware.cli_export` builds it (``nir`` only)."""
    from hardware.nir.cli import add_export_nir

    ap = argparse.ArgumentParser(prog="synaptica")
    export = ap.add_subparsers(dest="command", required=True).add_parser("export")
    add_export_nir(export.add_subparsers(dest="format", required=True))
    return ap


def test_cli_exports_a_bptt_checkpoint(tmp_path, capsys):
    from rules.bptt import BPTT

    rule = BPTT.build([12, 8, 3], readout="lif", seed=1)
    ckpt = rule.save(tmp_path / "bptt_digits.h5")
    out = tmp_path / "net.nir"
    args = _export_parser().parse_args(["export", "nir", str(ckpt), "-o", str(out)])
    with pytest.raises(ValueError, match="subtract"):
        args.func(args)
    args = _export_parser().parse_args(["export", "nir", str(ckpt), "-o", str(out), "--accept", "subtract"])
    assert args.func(args) == 0 and "wrote" in capsys.readouterr().out
    back = from_nir(out, dt=1e-4)
    x = spikes_in((12,))
    with torch.no_grad():
        rule.net.eval()
        assert torch.equal(rule.net(x), back(x))


def test_cli_exports_an_engine_network_file(tmp_path):
    script = tmp_path / "mynet.py"
    script.write_text(
        "from snn import Network\n"
        "from snn.models import LIF, PoissonSource\n"
        "def build():\n"
        "    net = Network()\n"
        "    src = net.population(5, PoissonSource(rate=50.0), name='src')\n"
        "    out = net.population(3, LIF(tau_ref=0.0, tau_syn_inh=5e-3), name='out')\n"
        "    net.connect(src, out, weight=2e-3, delay=2, name='feed')\n"
        "    return net\n")
    out = tmp_path / "net.nir"
    args = _export_parser().parse_args(["export", "nir", f"{script}:build", "-o", str(out), "--seed", "3"])
    assert args.func(args) == 0
    g = read_nir(out)
    assert isinstance(g.nodes["out"], nir.CubaLIF) and synaptica_metadata(g)["seed"] == 3
    assert float(np.unique(g.nodes["feed_delay"].delay)[0]) == pytest.approx(2e-4)


def test_partial_flatten_is_refused():
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2, 3, 4])}),
        "flat": nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=1, end_dim=-1),
        "output": nir.Output(output_type={"output": np.array([2, 12])})},
        edges=[("input", "flat"), ("flat", "output")])
    with pytest.raises(ValueError, match="'flat'.*Flatten of all dimensions"):
        from_nir(g, dt=1e-4)
