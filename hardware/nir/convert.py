"""NIR conversion: layer stacks and engine networks to ``nir.NIRGraph`` and back (see
:mod:`hardware.nir`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

DT_REF = 1e-4
"""The export step (s) that snnTorch's NIR importer and exporter hard-code."""

ACCEPTABLE = ("subtract", "refractory")
"""Approximations :func:`to_nir` makes only when ``accept`` names them."""

_FORMAT = "synaptica"


def _nir():
    try:
        import nir
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("NIR export/import needs the 'nir' package: pip install 'synaptica[nir]'"
                          ) from err
    return nir


def _check_dt(dt: float, what: str = "dt") -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating)):
        raise TypeError(f"{what} must be a time step in seconds (e.g. 1e-4), got {dt!r}")
    dt = float(dt)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"{what} must be a positive time step in seconds, got {dt}")
    return dt


def _check_accept(accept: Iterable[str]) -> frozenset[str]:
    if isinstance(accept, str):
        accept = (accept,)
    accept = frozenset(accept)
    unknown = accept - set(ACCEPTABLE)
    if unknown:
        raise ValueError(f"accept has unknown item(s) {sorted(unknown)}; choose from {list(ACCEPTABLE)}")
    return accept


def _arr(value, shape) -> np.ndarray:
    """``value`` broadcast to ``shape`` as a new, writable float64 array (NIR wants arrays,
    never scalars; the importers hand them to torch, which warns on read-only ones)."""
    return np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), shape))


def _is_zero(value) -> bool:
    return bool(np.all(np.asarray(value) == 0))


# -- neuron models -> NIR ---------------------------------------------------------------------


def _reset_check(model, name: str, accept: frozenset[str]) -> None:
    """Refuse a subtract reset or a refractory period unless ``accept`` names it."""
    if getattr(model, "reset", "value") == "subtract" and "subtract" not in accept:
        raise ValueError(
            f"{name}: reset by subtraction cannot be written to NIR (it declares reset to v_reset, "
            "and snnTorch's and Norse's importers reset to zero); pass accept=('subtract',) "
            "(CLI: --accept subtract) to export it anyway, recorded in the metadata, or train "
            "with reset='value'")
    if np.any(np.asarray(getattr(model, "tau_ref", 0.0)) > 0) and "refractory" not in accept:
        raise ValueError(
            f"{name}: NIR has no refractory period (tau_ref > 0); pass accept=('refractory',) "
            "to export without it, or set tau_ref=0")


def _neuron_node(model, name: str, shape: tuple[int, ...], dt_model: float, dt: float,
                 carrier: bool, accept: frozenset[str]):
    """The NIR node for ``model`` (run at ``dt_model``) over neurons of ``shape``, Euler-
    equivalent at ``dt``, and the factor (per neuron) the incoming weights and biases are
    multiplied by. ``carrier`` asks for a CubaLIF even for delta synapses (recurrent layers)."""
    nir = _nir()
    from snn.backends.constants import li_constants, lif_constants
    from snn.models import IF, LI, LIF

    kind = type(model)
    if kind is LI:
        beta = _arr(li_constants(model, 1, dt_model)["em"], shape)
        return nir.LI(tau=dt / (1 - beta), r=_arr(1.0, shape), v_leak=_arr(0.0, shape)), 1 / (1 - beta)
    if kind is IF:
        _reset_check(model, name, accept)
        if not _is_zero(model.i_bias):
            raise ValueError(f"{name}: IF.i_bias has no NIR form (IF nodes have no bias); set it to 0")
        node = nir.IF(r=_arr(1.0 / dt, shape), v_threshold=_arr(model.v_thresh, shape),
                      v_reset=_arr(model.v_reset, shape))
        return node, np.ones(shape)
    if kind is not LIF:
        raise ValueError(
            f"{name}: {kind.__name__} has no NIR node (NIR carries LIF, CubaLIF, LI and IF; "
            "meta-neurons, adaptive thresholds, conductance synapses and ultradiscretized neurons "
            "are not representable)")
    _reset_check(model, name, accept)
    if not np.allclose(np.asarray(model.tau_syn_exc), np.asarray(model.tau_syn_inh)):
        raise ValueError(f"{name}: tau_syn_exc != tau_syn_inh: NIR's CubaLIF has one synaptic "
                         "current; use equal synaptic time constants")
    c = lif_constants(model, 1, dt_model)
    beta, alpha, ke = _arr(c["em"], shape), _arr(c["de"], shape), _arr(c["ke"], shape)
    v_leak = _arr(np.asarray(model.v_rest) + np.asarray(model.i_bias), shape)
    thresh, v_reset = _arr(model.v_thresh, shape), _arr(model.v_reset, shape)
    if not carrier and _is_zero(alpha):
        node = nir.LIF(tau=dt / (1 - beta), r=_arr(1.0, shape), v_leak=v_leak,
                       v_threshold=thresh, v_reset=v_reset)
        return node, 1 / (1 - beta)
    tau_syn = dt / (1 - alpha)
    tau_mem = dt / (1 - beta)
    node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=v_leak,
                       w_in=ke * tau_syn / dt, v_threshold=thresh, v_reset=v_reset)
    return node, np.ones(shape)


def _describe(model, dt_model: float) -> dict:
    """A JSON-able record of ``model`` (its class and parameters, SI units) for the metadata."""
    import dataclasses

    fields = {}
    for f in dataclasses.fields(model):
        value = getattr(model, f.name)
        if f.name.startswith("_"):
            continue
        fields[f.name] = np.asarray(value).tolist() if isinstance(value, (np.ndarray, np.generic)) \
            else value
    return {"model": type(model).__name__, "params": fields, "dt": dt_model}


# -- layer stacks -> NIR ----------------------------------------------------------------------


def _conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _input_shape(layers, input_shape) -> tuple[int, ...]:
    from snn.layers import Conv2d, Linear

    if input_shape is not None:
        shape = tuple(int(s) for s in np.atleast_1d(input_shape))
        if not shape or min(shape) < 1:
            raise ValueError(f"input_shape must be positive sizes such as (784,) or (1, 28, 28), got "
                             f"{input_shape!r}")
        return shape
    first = next((m for m in layers if isinstance(m, (Linear, Conv2d))), None)
    if isinstance(first, Linear) and layers[0] is first:
        return (first.in_features,)
    raise ValueError("input_shape is required for a network that does not start with a Linear layer "
                     "(e.g. input_shape=(1, 28, 28) for a Conv2d network)")


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().double().numpy().copy()


def _stack_graph(net, dt: float, input_shape, accept: frozenset[str], cubalif: bool):
    nir = _nir()
    from snn.layers import AvgPool2d, Conv2d, Dense, Flatten, Linear, MaxPool2d, RecurrentLinear, SpikingLayer

    layers = list(net)
    shape = _input_shape(layers, input_shape)
    nodes: dict = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges: list[tuple[str, str]] = []
    models: dict[str, dict] = {}
    prev = "input"

    def add(name: str, node) -> None:
        nonlocal prev
        nodes[name] = node
        edges.append((prev, name))
        prev = name

    for i, layer in enumerate(layers):
        where = f"layer {i} ({type(layer).__name__})"
        if isinstance(layer, SpikingLayer) and not _is_zero(getattr(layer.neuron, "v_rest", 0.0)):
            raise ValueError(f"{where}: v_rest != 0; NIR carries no initial membrane potential, so "
                             "export layers whose neurons rest at 0 (shift voltages by v_rest)")
        if isinstance(layer, SpikingLayer) and len(layer.neuron_params):
            raise ValueError(f"{where}: learnable neuron parameters ({', '.join(layer.neuron_params)}) "
                             f"of {type(layer.neuron).__name__} have no NIR form")
        if isinstance(layer, RecurrentLinear):
            if shape != (layer.in_features,):
                raise ValueError(f"{where} expects {layer.in_features} inputs, the layer before gives "
                                 f"{shape}")
            n = layer.out_features
            if not layer.spiking:
                raise ValueError(f"{where}: a recurrent layer of non-spiking neurons has no NIR form")
            neuron, scale = _neuron_node(layer.neuron, where, (n,), layer.dt, dt, True, accept)
            add(f"linear_{i}", _dense_node(_numpy(layer.weight), layer.bias, scale))
            sub = nir.NIRGraph(
                nodes={"input": nir.Input(input_type={"input": np.array([n])}), "lif": neuron,
                       "w_rec": nir.Linear(weight=_numpy(layer.recurrent) * scale[:, None]),
                       "output": nir.Output(output_type={"output": np.array([n])})},
                edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
            add(f"rec_{i}", sub)
            models[f"rec_{i}.lif"] = _describe(layer.neuron, layer.dt)
            shape = (n,)
        elif isinstance(layer, Linear):
            if shape != (layer.in_features,):
                raise ValueError(f"{where} expects {layer.in_features} inputs, the layer before gives "
                                 f"{shape}; add a Flatten")
            n = layer.out_features
            neuron, scale = _neuron_node(layer.neuron, where, (n,), layer.dt, dt, cubalif, accept)
            add(f"linear_{i}", _dense_node(_numpy(layer.weight), layer.bias, scale))
            add(f"neuron_{i}", neuron)
            models[f"neuron_{i}"] = _describe(layer.neuron, layer.dt)
            shape = (n,)
        elif isinstance(layer, Conv2d):
            w = _numpy(layer.weight)
            if len(shape) != 3 or shape[0] != w.shape[1]:
                raise ValueError(f"{where} expects ({w.shape[1]}, height, width) inputs, gets {shape}")
            (sh, sw), (ph, pw) = layer.stride, layer.padding
            out = (w.shape[0], _conv_out(shape[1], w.shape[2], sh, ph),
                   _conv_out(shape[2], w.shape[3], sw, pw))
            neuron, scale = _neuron_node(layer.neuron, where, out, layer.dt, dt, cubalif, accept)
            per_channel = scale.reshape(out[0], -1)
            if not np.all(per_channel == per_channel[:, :1]):
                raise ValueError(f"{where}: per-neuron time constants in a Conv2d layer have no NIR form")
            s = per_channel[:, 0]
            bias = _numpy(layer.bias) if layer.bias is not None else np.zeros(out[0])
            add(f"conv_{i}", nir.Conv2d(input_shape=np.array(shape[1:]), weight=w * s[:, None, None, None],
                                        stride=np.array([sh, sw]), padding=np.array([ph, pw]),
                                        dilation=np.array([1, 1]), groups=1, bias=bias * s))
            add(f"neuron_{i}", neuron)
            models[f"neuron_{i}"] = _describe(layer.neuron, layer.dt)
            shape = out
        elif isinstance(layer, AvgPool2d):
            pool = layer.module
            k = _pair(pool.kernel_size)
            st = _pair(pool.stride if pool.stride is not None else pool.kernel_size)
            pad = _pair(pool.padding)
            if len(shape) != 3:
                raise ValueError(f"{where} needs (channels, height, width) inputs, gets {shape}")
            if pool.ceil_mode or (pool.padding and not pool.count_include_pad):
                raise ValueError(f"{where}: ceil_mode or padding without count_include_pad has no NIR form")
            add(f"pool_{i}", nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(st),
                                           padding=np.array(pad)))
            shape = (shape[0], _conv_out(shape[1], k[0], st[0], pad[0]),
                     _conv_out(shape[2], k[1], st[1], pad[1]))
        elif isinstance(layer, MaxPool2d):
            raise ValueError(f"{where}: NIR has no max pooling; use AvgPool2d (NIR AvgPool2d) instead")
        elif isinstance(layer, Flatten):
            add(f"flatten_{i}", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1))
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, Dense):
            raise ValueError(f"{where}: a non-spiking ReLU/linear layer has no NIR neuron; export spiking "
                             "layers only")
        else:
            raise ValueError(f"{where}: no NIR form for {type(layer).__name__}")
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges.append((prev, "output"))
    dts = sorted({float(m.dt) for m in layers if isinstance(m, SpikingLayer)})
    return nodes, edges, models, dts


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _dense_node(weight: np.ndarray, bias, scale: np.ndarray):
    """``Linear`` (no bias) or ``Affine``, rows multiplied by ``scale``."""
    nir = _nir()
    scale = np.asarray(scale, dtype=np.float64)
    if bias is None:
        return nir.Linear(weight=weight * scale[:, None])
    return nir.Affine(weight=weight * scale[:, None], bias=_numpy(bias) * scale)


# -- engine networks -> NIR -------------------------------------------------------------------


def _network_graph(net, dt: float, seed: int, accept: frozenset[str]):
    import dataclasses

    nir = _nir()
    from snn.models import LIF, PoissonSource, SettablePoissonSource, SpikeSource

    for pop in net.populations:
        if pop.per_sample:
            raise ValueError(f"population {pop.name!r}: per-sample parameters (a batched network) "
                             "have no NIR form; export one sample's network")
    built = net.instantiate(dt, seed)
    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    models: dict[str, dict] = {}
    scales: dict[int, np.ndarray] = {}
    sources = (PoissonSource, SpikeSource, SettablePoissonSource)
    for i, pop in enumerate(built.populations):
        where = f"population {pop.name!r}"
        if isinstance(pop.model, sources):
            nodes[pop.name] = nir.Input(input_type={"input": np.array([pop.n])})
            models[pop.name] = {"model": type(pop.model).__name__, "source": True}
            continue
        model = pop.model
        if type(model) is LIF and not np.allclose(np.asarray(model.tau_syn_exc),
                                                   np.asarray(model.tau_syn_inh)):
            ports = {p.synapse for p in built.projections if p.post == i}
            if len(ports) == 1:  # only one port is used: its time constant is the one that counts
                tau = model.tau_syn_exc if ports == {"exc"} else model.tau_syn_inh
                model = dataclasses.replace(model, tau_syn_exc=tau, tau_syn_inh=tau)
        node, scale = _neuron_node(model, where, (pop.n,), dt, dt, False, accept)
        nodes[pop.name] = node
        scales[i] = scale
        models[pop.name] = _describe(pop.model, dt)
    names = [p.name for p in built.populations]
    for proj in built.projections:
        where = f"projection {proj.name!r}"
        if proj.plasticity:
            kinds = ", ".join(type(m).__name__ for m in proj.plasticity)
            raise ValueError(f"{where} has plasticity ({kinds}); NIR cannot carry plasticity: export "
                             "the learned weights as a static projection (sim.weights(name) and "
                             "FromList)")
        if proj.post not in scales:
            raise ValueError(f"{where} targets a spike source")
        pre_n = built.populations[proj.pre].n
        post_n = built.populations[proj.post].n
        rows = np.repeat(np.arange(pre_n), np.diff(proj.indptr))
        weights = proj.synapse_weights().astype(np.float64)
        delays = proj.delays if proj.delays is not None else np.full(proj.indices.size, proj.delay)
        for d in np.unique(delays):
            sel = delays == d
            w = np.zeros((post_n, pre_n))
            np.add.at(w, (proj.indices[sel], rows[sel]), weights[sel])
            suffix = "" if len(np.unique(delays)) == 1 else f"_d{int(d)}"
            lin, dly = f"{proj.name}{suffix}", f"{proj.name}{suffix}_delay"
            nodes[lin] = nir.Linear(weight=w * scales[proj.post][:, None])
            nodes[dly] = nir.Delay(delay=np.full(post_n, int(d) * dt))
            edges += [(names[proj.pre], lin), (lin, dly), (dly, names[proj.post])]
    monitored = {built.populations[m[1]].name for m in built.spike_monitors}
    has_out = {e[0] for e in edges}
    neurons = {names[i] for i in scales}
    outputs = [n for n in names if n in neurons and (n in monitored or (not monitored and n not in has_out))]
    sizes = {p.name: p.n for p in built.populations}
    for name in outputs:
        nodes[f"{name}_output"] = nir.Output(output_type={"output": np.array([sizes[name]])})
        edges.append((name, f"{name}_output"))
    return nodes, edges, models


# -- public API -------------------------------------------------------------------------------


def to_nir(obj, *, dt: float = DT_REF, input_shape: tuple[int, ...] | None = None,
           accept: Iterable[str] = (), seed: int = 0, cubalif: bool = False):
    """``obj`` (a :class:`snn.layers.Sequential` of trained layers, or an engine
    :class:`snn.Network`) as a ``nir.NIRGraph``.

    Args:
        dt: the step (s) at which an importer's forward Euler reproduces our discrete
            dynamics exactly. Layer stacks: default 1e-4 s, snnTorch's fixed step (import in
            Norse with ``dt=1e-4``). Engine networks: also the simulation step the network is
            instantiated at (connectivity sampled from ``seed``).
        input_shape: the shape of one step's input without batch, e.g. ``(1, 28, 28)``;
            needed when the stack does not start with ``Linear``.
        accept: approximations to allow: ``"subtract"`` (reset by subtraction written as
            NIR's reset to ``v_reset``) and ``"refractory"`` (refractory periods dropped).
        seed: the seed of the network's connectivity (engine networks only).
        cubalif: write every LIF layer as the CubaLIF carrier (``tau_syn = dt``), not only
            recurrent ones: Norse then honours ``reset_method=reset_subtract`` (it ignores the
            reset method on LIF nodes), so an accepted subtract reset loads exactly there.
    """
    nir = _nir()
    from snn.layers import Sequential
    from snn.network import Network

    dt = _check_dt(dt)
    accept = _check_accept(accept)
    meta = {"format": _FORMAT, "dt_export": dt, "accepted": sorted(accept),
            "units": {"time": "s", "voltage": "V (engine networks), dimensionless (trained layers)"},
            "integration": "forward Euler at dt_export reproduces the source's discrete dynamics"}
    if isinstance(obj, Sequential):
        nodes, edges, models, dts = _stack_graph(obj, dt, input_shape, accept, bool(cubalif))
        meta.update(source="layers", dt_model=dts)
    elif isinstance(obj, Network):
        if input_shape is not None:
            raise ValueError("input_shape applies to layer stacks; a Network's inputs are its sources")
        nodes, edges, models = _network_graph(obj, dt, int(seed), accept)
        meta.update(source="network", dt_model=[dt], seed=int(seed))
    else:
        raise TypeError(f"to_nir exports a snn.layers.Sequential or a snn.Network, got "
                        f"{type(obj).__name__}")
    meta["reset"] = {k: m["params"].get("reset", "value") for k, m in models.items() if "params" in m}
    meta["models"] = models
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"synaptica": json.dumps(meta)})


def write_nir(obj, path: str | os.PathLike, **options) -> Path:
    """Write ``obj`` (a ``nir.NIRGraph``, or anything :func:`to_nir` takes, with ``options``
    passed to it) to ``path`` with ``nir.write``, atomically; returns the path."""
    nir = _nir()
    from snn.h5io import temporary_sibling

    graph = obj if isinstance(obj, nir.NIRGraph) else to_nir(obj, **options)
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_nir(path: str | os.PathLike, type_check: bool = True):
    """Read a NIR file (``nir.read``); a clear error for a missing or damaged file.

    ``type_check=False`` skips nir's check that every edge joins equal shapes, which graphs
    from other exporters can fail: Sinabs 3.1 (through nir 1.0.4) writes LIF parameters as
    scalars, so their input shape is ``()``; Rockpool 3.1 keeps the batch axis of its sample
    in the ``Input`` node, ``(1, n)`` or ``(1, 1, n)``. :func:`from_nir` takes the sizes from
    the weights, so such graphs import unchanged.
    """
    nir = _nir()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"NIR file {str(path)!r} does not exist")
    try:
        return nir.read(path, type_check=type_check)
    except (OSError, KeyError) as err:
        raise ValueError(f"{str(path)!r} is not a readable NIR file (damaged?): {err}") from err
    except ValueError as err:
        if "type" not in str(err).lower() or not type_check:
            raise
        raise ValueError(f"{str(path)!r}: nir's type check failed ({err}); Sinabs's and "
                         "Rockpool's exporters declare shapes it rejects (scalar parameters, a batch "
                         "axis): read it with read_nir(path, type_check=False)") from err


def synaptica_metadata(graph) -> dict:
    """What our exporter recorded in ``graph.metadata`` (empty for other tools' graphs)."""
    raw = (graph.metadata or {}).get("synaptica")
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        return json.loads(str(raw))
    except json.JSONDecodeError:
        return {}


# -- NIR -> layer stacks / networks ----------------------------------------------------------


class _Neuron:
    """An imported neuron node as our discrete model: ``model`` plus ``gain``, the factor the
    incoming weights and biases are multiplied by, and ``drive``, a constant added to the
    input current every step (an LI node's ``v_leak``; an LIF's is its model's ``i_bias``:
    Euler adds ``(1 - beta) v_leak`` to ``v`` every step, as our ``i_bias`` does)."""

    def __init__(self, model, gain: np.ndarray, drive: np.ndarray) -> None:
        self.model, self.gain, self.drive = model, gain, drive


def _decay(dt: float, tau, name: str, what: str) -> np.ndarray:
    tau = np.asarray(tau, dtype=np.float64)
    if np.any(tau <= 0):
        raise ValueError(f"node {name!r}: {what} must be positive")
    beta = 1.0 - dt / tau
    if np.any(beta < 0):
        raise ValueError(f"node {name!r}: dt={dt:g} s is larger than its {what} ({tau.min():g} s); "
                         "Euler at this dt is unstable: pass the dt the graph was exported for "
                         "(snnTorch: 1e-4)")
    return beta


def _uniform(value, name: str, what: str) -> float:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size and not np.all(arr == arr.flat[0]):
        raise ValueError(f"node {name!r}: {what} differs between neurons, which this layer needs "
                         "to be uniform")
    return float(arr.flat[0])


def _squeeze(value, shape: tuple[int, ...], name: str, what: str):
    """A per-neuron parameter as a scalar when uniform, else a flat array (dense layers only)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size and np.all(arr == arr.flat[0]):
        return float(arr.flat[0])
    if len(shape) != 1:
        raise ValueError(f"node {name!r}: {what} varies between neurons of a convolutional layer, "
                         "which our Conv2d layers cannot hold")
    return arr.reshape(-1)


def _model_from_node(node, name: str, dt: float, reset: str):
    """Our neuron model for a NIR neuron node, Euler-discretised at ``dt``."""
    nir = _nir()
    from snn.models import IF, LI, LIF

    if isinstance(node, nir.CubaLIF):
        alpha = _decay(dt, node.tau_syn, name, "tau_syn")
        beta = _decay(dt, node.tau_mem, name, "tau_mem")
        shape = tuple(np.shape(node.tau_mem))
        g = np.asarray(node.w_in) * dt / np.asarray(node.tau_syn) * np.asarray(node.r) * dt / \
            np.asarray(node.tau_mem)
        alpha = np.where(np.abs(alpha) < 1e-12, 0.0, alpha)
        tau_syn = 0.0 if np.all(alpha == 0) else -dt / np.log(alpha)
        if np.any(alpha == 0) and not np.all(alpha == 0):
            raise ValueError(f"node {name!r}: tau_syn equals dt for some neurons only")
        model = LIF(tau_m=_squeeze(-dt / np.log(beta), shape, name, "tau_mem"), v_rest=0.0,
                    v_reset=_squeeze(node.v_reset, shape, name, "v_reset"),
                    v_thresh=_squeeze(node.v_threshold, shape, name, "v_threshold"), tau_ref=0.0,
                    tau_syn_exc=_squeeze(tau_syn, shape, name, "tau_syn"),
                    tau_syn_inh=_squeeze(tau_syn, shape, name, "tau_syn"),
                    i_bias=_squeeze(node.v_leak, shape, name, "v_leak"), reset=reset)
        from snn.backends.constants import lif_constants

        ke = np.asarray(lif_constants(model, 1, dt)["ke"])
        return _Neuron(model, np.broadcast_to(g / ke, shape), np.zeros(shape))
    if isinstance(node, nir.LIF):
        beta = _decay(dt, node.tau, name, "tau")
        shape = tuple(np.shape(node.tau))
        model = LIF(tau_m=_squeeze(-dt / np.log(beta), shape, name, "tau"), v_rest=0.0,
                    v_reset=_squeeze(node.v_reset, shape, name, "v_reset"),
                    v_thresh=_squeeze(node.v_threshold, shape, name, "v_threshold"), tau_ref=0.0,
                    tau_syn_exc=0.0, tau_syn_inh=0.0,
                    i_bias=_squeeze(node.v_leak, shape, name, "v_leak"), reset=reset)
        g = np.asarray(node.r) * dt / np.asarray(node.tau)
        return _Neuron(model, np.broadcast_to(g, shape), np.zeros(shape))
    if isinstance(node, nir.LI):
        beta = _decay(dt, node.tau, name, "tau")
        shape = tuple(np.shape(node.tau))
        model = LI(tau_m=_squeeze(-dt / np.log(beta), shape, name, "tau"))
        g = np.asarray(node.r) * dt / np.asarray(node.tau)
        drive = (1 - beta) * np.asarray(node.v_leak, dtype=np.float64)
        return _Neuron(model, np.broadcast_to(g, shape), np.broadcast_to(drive, shape))
    if isinstance(node, nir.IF):
        shape = tuple(np.shape(node.r))
        model = IF(v_reset=_squeeze(node.v_reset, shape, name, "v_reset"),
                   v_thresh=_squeeze(node.v_threshold, shape, name, "v_threshold"), reset=reset)
        return _Neuron(model, np.broadcast_to(np.asarray(node.r) * dt, shape), np.zeros(shape))
    raise ValueError(f"node {name!r}: {type(node).__name__} is not a neuron node we import "
                     "(LIF, CubaLIF, LI, IF)")


_NEURONS = ("LIF", "CubaLIF", "LI", "IF")


def _is_neuron(node) -> bool:
    return type(node).__name__ in _NEURONS


def _reset_for(meta: dict, name: str, reset: str | None) -> str:
    if reset is not None:
        return reset
    return meta.get("reset", {}).get(name, "value")


def _to_graph(source):
    nir = _nir()
    if isinstance(source, nir.NIRGraph):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_nir(source)
    raise TypeError(f"source must be a nir.NIRGraph or the path of a NIR file, got {type(source).__name__}")


def _chain(graph) -> list[tuple[str, object]]:
    """The graph as a chain from its Input to its Output: a list of (name, node) where a
    recurrent layer (a neuron with a Linear/Affine from itself to itself, flat as snnTorch
    writes it or as a nested graph) is one entry ``(name, ("recurrent", neuron, w_rec))``."""
    nir = _nir()
    nodes = dict(graph.nodes)
    edges = list(dict.fromkeys(tuple(e) for e in graph.edges))
    # Flat recurrences: neuron -> w -> neuron with w reached only from that neuron.
    rec: dict[str, tuple[str, object]] = {}
    for a, b in edges:
        if _is_neuron(nodes.get(a)) and isinstance(nodes.get(b), (nir.Linear, nir.Affine)) and \
                (b, a) in edges and [e for e in edges if e[1] == b] == [(a, b)] and \
                [e for e in edges if e[0] == b] == [(b, a)]:
            rec[a] = (b, nodes[b])
    for a, (b, _) in rec.items():
        edges = [e for e in edges if e not in ((a, b), (b, a))]
        del nodes[b]
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(_top(a, nodes), []).append(_top(b, nodes))
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"a layer stack needs a graph with one Input node, found {len(inputs)} "
                         f"({inputs}); import it with as_network=True")
    chain = []
    name = inputs[0]
    seen = set()
    while True:
        nxt = succ.get(name, [])
        if len(nxt) != 1:
            if not nxt and isinstance(nodes[name], nir.Output):
                return chain
            raise ValueError(f"node {name!r} has {len(nxt)} successors; a layer stack is a chain "
                             "(import branching graphs with as_network=True)")
        name = nxt[0]
        if name in seen:
            raise ValueError(f"node {name!r} closes a cycle that is not a recurrent layer")
        seen.add(name)
        node = nodes[name]
        if isinstance(node, nir.Output):
            if succ.get(name):
                raise ValueError(f"Output node {name!r} has successors")
            return chain
        if name in rec:
            chain.append((name, ("recurrent", node, rec[name][1])))
        elif isinstance(node, nir.NIRGraph):
            chain.append((name, ("recurrent", *_parse_recurrent(node, name))))
        else:
            chain.append((name, node))


def _top(name: str, nodes: dict) -> str:
    """``"g.x"`` (an edge into a nested graph's node) as ``"g"`` when ``g`` is a node."""
    if name in nodes:
        return name
    head = name.split(".")[0]
    return head if head in nodes else name


def _parse_recurrent(sub, name: str):
    nir = _nir()
    neurons = [(k, v) for k, v in sub.nodes.items() if _is_neuron(v)]
    dense = [(k, v) for k, v in sub.nodes.items() if isinstance(v, (nir.Linear, nir.Affine))]
    other = [k for k, v in sub.nodes.items()
             if not isinstance(v, (nir.Input, nir.Output)) and not _is_neuron(v)
             and not isinstance(v, (nir.Linear, nir.Affine))]
    if len(neurons) != 1 or len(dense) != 1 or other:
        raise ValueError(f"subgraph {name!r} is not a recurrent layer (Input, one neuron node, one "
                         "Linear/Affine from the neuron to itself, Output)")
    (nk, neuron), (wk, w) = neurons[0], dense[0]
    if (nk, wk) not in set(map(tuple, sub.edges)) or (wk, nk) not in set(map(tuple, sub.edges)):
        raise ValueError(f"subgraph {name!r}: {wk!r} must connect {nk!r} to itself")
    return neuron, w


def from_nir(source, *, dt: float, as_network: bool = False, reset: str | None = None,
             layer_dt: float | None = None, inputs: dict | None = None):
    """A NIR graph (a ``nir.NIRGraph`` or a file path) as a :class:`snn.layers.Sequential`
    (or, with ``as_network=True``, an engine :class:`snn.Network`).

    Args:
        dt: the Euler step (s) the graph's parameters are meant for: required, because NIR
            stores none (snnTorch's graphs: 1e-4; ours: the ``dt`` they were exported with,
            recorded in the metadata as ``dt_export``). A decay ``beta = 1 - dt / tau`` and the
            input gains ``r dt / tau`` (and ``w_in dt / tau_syn``) follow from it.
        as_network: build an engine ``Network`` (populations, projections with delays from
            ``Delay`` nodes, default one step) instead of a layer stack. Populations and
            projections take their node's name, made an identifier (``"0"`` -> ``"n_0"``).
        reset: ``"value"`` (NIR's declared reset to ``v_reset``) or ``"subtract"``; default:
            the mode our exporter recorded, else ``"value"``.
        layer_dt: the ``dt`` the built layers (or the network's models) are meant to run at
            (default ``dt``); only their time constants change, never the discrete dynamics.
        inputs: ``as_network`` only: spike-source models for the Input nodes (name -> model);
            default: an empty :class:`snn.models.SpikeSource`.
    """
    dt = _check_dt(dt)
    if reset not in (None, "value", "subtract"):
        raise ValueError(f"reset must be 'value', 'subtract' or None, got {reset!r}")
    layer_dt = dt if layer_dt is None else _check_dt(layer_dt, "layer_dt")
    graph = _to_graph(source)
    meta = synaptica_metadata(graph)
    if as_network:
        return _graph_network(graph, dt, reset, meta, inputs or {})
    if inputs:
        raise ValueError("inputs applies to as_network=True only")
    return _graph_stack(graph, dt, reset, meta, layer_dt)


def _rescale(neuron: _Neuron, dt: float, layer_dt: float):
    """The model with its time constants for ``layer_dt`` (same per-step factors)."""
    import dataclasses

    from snn.models import LI, LIF

    if layer_dt == dt:
        return neuron.model
    k = layer_dt / dt
    if isinstance(neuron.model, LIF):
        return dataclasses.replace(neuron.model, tau_m=np.asarray(neuron.model.tau_m) * k,
                                   tau_syn_exc=np.asarray(neuron.model.tau_syn_exc) * k,
                                   tau_syn_inh=np.asarray(neuron.model.tau_syn_inh) * k)
    if isinstance(neuron.model, LI):
        return LI(tau_m=np.asarray(neuron.model.tau_m) * k)
    return neuron.model


def _graph_stack(graph, dt: float, reset, meta: dict, layer_dt: float):
    nir = _nir()
    import torch

    from snn.layers import AvgPool2d, Conv2d, Flatten, Linear, RecurrentLinear, Sequential

    chain = _chain(graph)
    layers: list = []
    pending = 1.0  # a SumPool2d is our AvgPool2d with the next synaptic weights times k*k
    i = 0
    while i < len(chain):
        name, node = chain[i]
        nxt = chain[i + 1] if i + 1 < len(chain) else (None, None)
        if isinstance(node, (nir.Linear, nir.Affine, nir.Conv2d)):
            if not (_is_neuron(nxt[1]) or (isinstance(nxt[1], tuple) and nxt[1][0] == "recurrent")):
                raise ValueError(f"node {name!r} ({type(node).__name__}) must be followed by a neuron "
                                 f"node, got {type(nxt[1]).__name__ if nxt[0] else 'the output'}")
            recurrent = isinstance(nxt[1], tuple)
            neuron_node = nxt[1][1] if recurrent else nxt[1]
            neuron = _model_from_node(neuron_node, nxt[0], dt,
                                      _reset_for(meta, nxt[0] + (".lif" if recurrent else ""), reset))
            if type(neuron.model).__name__ == "IF":
                raise ValueError(f"node {nxt[0]!r}: IF neurons have no training-layer implementation; "
                                 "import the graph with as_network=True")
            model = _rescale(neuron, dt, layer_dt)
            weight = np.asarray(node.weight, dtype=np.float64)
            bias = np.asarray(node.bias, dtype=np.float64) if isinstance(node, (nir.Affine, nir.Conv2d)) \
                else None
            if isinstance(node, nir.Conv2d):
                gain = neuron.gain.reshape(weight.shape[0], -1)
                drive = neuron.drive.reshape(weight.shape[0], -1)
                if not (np.all(gain == gain[:, :1]) and np.all(drive == drive[:, :1])):
                    raise ValueError(f"node {nxt[0]!r}: input gain varies within a channel")
                g, c = gain[:, 0], drive[:, 0]
                stride, padding = _pair(np.asarray(node.stride).tolist()), _conv_padding(node, name)
                if stride[0] != stride[1] or padding[0] != padding[1] or weight.shape[2] != weight.shape[3]:
                    raise ValueError(f"node {name!r}: our Conv2d takes square kernels and equal "
                                     "stride/padding in both directions")
                if np.any(np.asarray(node.dilation) != 1) or int(node.groups) != 1:
                    raise ValueError(f"node {name!r}: dilation and groups other than 1 are not supported")
                layer = Conv2d(weight.shape[1], weight.shape[0], weight.shape[2], model, stride=stride[0],
                               padding=padding[0], dt=layer_dt, bias=True)
                w = weight * g[:, None, None, None] * pending
            else:
                g, c = neuron.gain.reshape(-1), neuron.drive.reshape(-1)
                w = weight * g[:, None] * pending
                rec_bias = recurrent and isinstance(nxt[1][2], nir.Affine)
                has_bias = bias is not None or np.any(c != 0) or rec_bias
                cls = RecurrentLinear if recurrent else Linear
                layer = cls(weight.shape[1], weight.shape[0], model, dt=layer_dt, bias=bool(has_bias))
            b = (np.zeros(weight.shape[0]) if bias is None else bias) * g + c
            with torch.no_grad():
                layer.weight.copy_(torch.as_tensor(w))
                if recurrent:
                    w_rec = nxt[1][2]
                    layer.recurrent.copy_(torch.as_tensor(np.asarray(w_rec.weight) * g[:, None]))
                    if isinstance(w_rec, nir.Affine):
                        b = b + np.asarray(w_rec.bias) * g
                if layer.bias is not None:
                    layer.bias.copy_(torch.as_tensor(b))
                elif np.any(b != 0):
                    raise AssertionError("unreachable: bias needed but not created")
            layers.append(layer)
            pending = 1.0
            i += 2
            continue
        if _is_neuron(node) or isinstance(node, tuple):
            raise ValueError(f"neuron node {name!r} is not preceded by a Linear, Affine or Conv2d node; "
                             "our layers put synapses in front of every neuron layer")
        if isinstance(node, nir.Flatten):
            dims = len(np.asarray(list(node.input_type.values())[0])) if node.input_type else 0
            start, end = int(node.start_dim), int(node.end_dim)
            if start not in (0, -dims) or end not in (-1, dims - 1):
                raise ValueError(f"node {name!r}: only a Flatten of all dimensions (start_dim=0, "
                                 f"end_dim=-1, counted without batch) is supported, got {start}, {end}")
            layers.append(Flatten())
        elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            k, st = _pair(np.asarray(node.kernel_size).tolist()), _pair(np.asarray(node.stride).tolist())
            if k[0] != k[1] or st[0] != st[1] or np.any(np.asarray(node.padding) != 0):
                raise ValueError(f"node {name!r}: our pooling takes square windows without padding")
            if isinstance(node, nir.SumPool2d):
                pending *= k[0] * k[1]
            layers.append(AvgPool2d(k[0], st[0]))
        else:
            raise ValueError(f"node {name!r}: {type(node).__name__} is not supported in a layer stack")
        i += 1
    if pending != 1.0:
        raise ValueError("a SumPool2d must be followed by a synaptic layer (Linear, Affine, Conv2d)")
    return Sequential(*layers)


def _conv_padding(node, name: str) -> tuple[int, int]:
    pad = node.padding
    if isinstance(pad, str):
        raise ValueError(f"node {name!r}: padding {pad!r} is not supported; give it in pixels")
    return _pair(np.asarray(pad).tolist())


def _identifier(name: str) -> str:
    """A NIR node name as a population or projection name: a Python identifier (Sinabs names
    its nodes ``"0"``, ``"1"``, ...: they become ``"n_0"``, ``"n_1"``)."""
    import keyword
    import re

    ident = re.sub(r"\W", "_", name)
    return ident if ident.isidentifier() and not keyword.iskeyword(ident) else f"n_{ident}"


def _graph_network(graph, dt: float, reset, meta: dict, inputs: dict):
    import dataclasses

    nir = _nir()
    from snn.connect import FromList
    from snn.models import NeuronModel, SpikeSource
    from snn.network import Network

    nodes = dict(graph.nodes)
    if any(isinstance(v, nir.NIRGraph) for v in nodes.values()):
        raise ValueError("nested subgraphs are imported as layer stacks (as_network=False)")
    net = Network()
    pops: dict = {}
    neurons: dict[str, _Neuron] = {}
    for name, node in nodes.items():
        if isinstance(node, nir.Input):
            n = int(np.prod(np.asarray(list(node.input_type.values())[0])))
            fed = {int(np.shape(nodes[b].weight)[1]) for a, b in graph.edges
                   if a == name and isinstance(nodes.get(b), (nir.Linear, nir.Affine))}
            if len(fed) == 1 and fed != {n}:
                n = fed.pop()  # an Input declared with extra axes (Sinabs: time, Rockpool: batch)
            model = inputs.get(name, SpikeSource(spike_steps=[[] for _ in range(n)]))
            if not isinstance(model, NeuronModel):
                raise TypeError(f"inputs[{name!r}] must be a spike-source model, got {model!r}")
            pops[name] = net.population(n, model, name=_identifier(name))
        elif _is_neuron(node):
            neuron = _model_from_node(node, name, dt, _reset_for(meta, name, reset))
            v_leak = np.asarray(getattr(node, "v_leak", 0.0), dtype=np.float64)
            if np.any(v_leak != 0):
                if type(neuron.model).__name__ != "LIF":
                    raise ValueError(f"node {name!r}: v_leak != 0 is supported on LIF and CubaLIF only")
                # In a network v_leak is the resting potential (and the initial membrane).
                neuron.model = dataclasses.replace(
                    neuron.model, v_rest=_squeeze(v_leak, (v_leak.size,), name, "v_leak"), i_bias=0.0)
            neurons[name] = neuron
            pops[name] = net.population(int(np.size(neuron.gain)), neuron.model,
                                        name=_identifier(name))
    unknown = set(inputs) - {k for k, v in nodes.items() if isinstance(v, nir.Input)}
    if unknown:
        raise ValueError(f"inputs names {sorted(unknown)}, which are not Input nodes of the graph")
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    for name, node in nodes.items():
        if not isinstance(node, (nir.Linear, nir.Affine)):
            if not isinstance(node, (nir.Input, nir.Output, nir.Delay)) and name not in pops:
                raise ValueError(f"node {name!r}: {type(node).__name__} is not supported in a network")
            continue
        pre = [a for a, b in graph.edges if b == name]
        if len(pre) != 1 or pre[0] not in pops:
            raise ValueError(f"node {name!r} must be fed by one population, got {pre}")
        targets = succ.get(name, [])
        for target in targets:
            steps = 1
            if isinstance(nodes.get(target), nir.Delay):
                delay = np.asarray(nodes[target].delay, dtype=np.float64) / dt
                steps = int(round(float(np.unique(delay)[0]))) if np.unique(delay).size == 1 else -1
                if steps < 1 or not np.allclose(delay, steps, rtol=1e-6):
                    raise ValueError(f"node {target!r}: delays must be one whole number >= 1 of steps "
                                     f"of dt={dt:g} s, got {np.unique(delay * dt)}")
                after = succ.get(target, [])
                if len(after) != 1:
                    raise ValueError(f"Delay node {target!r} must feed exactly one population")
                target = after[0]
            if target not in neurons:
                raise ValueError(f"node {name!r} must feed a neuron population, feeds {target!r}")
            if isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
                raise ValueError(f"node {name!r}: Affine biases are not supported in networks; use "
                                 "v_leak")
            w = np.asarray(node.weight, dtype=np.float64) * neurons[target].gain.reshape(-1)[:, None]
            post, pre_idx = np.nonzero(w)
            net.connect(pops[pre[0]], pops[target], FromList(pre_idx, post, w[post, pre_idx]),
                        delay=steps, synapse="exc", name=_identifier(name))
    return net
