"""Spike-timing-dependent plasticity as data: traces plus two weight-update expressions.

Every STDP rule here, and any rule a user writes, is a :class:`TraceRule`: it names the
traces each presynaptic and each postsynaptic neuron keeps (:class:`~plasticity.traces.Trace`)
and gives the weight change on a presynaptic spike (``on_pre``) and on a postsynaptic spike
(``on_post``) as expressions (see :mod:`plasticity.expressions`). The backends turn that into
event-driven code: the numba backend inlines the expressions into its run loop, the torch
backend evaluates them on the tensors of the synapses that see a spike.

Timing convention (step ``k`` is the step in which a neuron fires, see ``docs/plasticity.md``):

1. spikes of step ``k`` are delivered with the weights in force before any update of step ``k``;
2. for each presynaptic spike, ``w += on_pre`` on every synapse of its row;
3. then, for each postsynaptic spike, ``w += on_post`` on every synapse into that neuron;
4. then the traces of the neurons that fired jump.

Expressions read every trace at step ``k`` decayed from its last jump but *without* the jumps
of step ``k``: a pre and a post spike in the same step do not pair (both see the other's
earlier spikes only), and a triplet term reads its own neuron's trace just before the spike.
Delays do not enter the timing: ``dt_pair = (k_post - k_pre) dt`` between firing steps (the
delay counts as dendritic and the synapse sees both spikes when they are emitted). After each
update the weight is clipped to ``[w_min, w_max]`` (hard bounds; pass ``-inf``/``inf`` for
none). Soft bounds are weight dependence written into the expressions.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

from plasticity import expressions
from plasticity.traces import Trace
from snn.validate import check_positive_time


class Plasticity:
    """Base of every synaptic mechanism attached to a projection (``net.connect(...,
    plasticity=mechanism)``). A mechanism is data; each backend registers an implementation
    for it with :func:`snn.backends.implements`."""

    def hardware_spec(self, dt: float) -> dict[str, object]:
        """What the fixed-point target needs to implement this mechanism at step ``dt``."""
        raise NotImplementedError(f"{type(self).__name__} declares no hardware_spec")


def _real(name: str, value, *, positive: bool = False, nonnegative: bool = False,
          allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


@dataclass(frozen=True, eq=False)
class TraceRule(Plasticity):
    """An STDP rule: traces per pre and post neuron and the weight change at each spike.

    Subclass it to write a rule (a frozen dataclass; its numeric fields are the constants the
    expressions may use, ``w_min`` and ``w_max`` included)::

        @dataclass(frozen=True, eq=False)
        class MyRule(TraceRule):
            eta: float = 1e-3
            on_pre = "-eta * y * w"
            on_post = "eta * x * (w_max - w)"

            def pre_traces(self):
                return {"x": Trace(20e-3)}

            def post_traces(self):
                return {"y": Trace(20e-3)}

    Args:
        w_min: lower weight bound (hard; ``-inf`` for none), in the weight's unit.
        w_max: upper weight bound (hard; ``inf`` for none).
    """

    w_min: float = 0.0
    w_max: float = 1.0

    on_pre: ClassVar[str] = "0.0"
    on_post: ClassVar[str] = "0.0"

    def __post_init__(self) -> None:
        name = type(self).__name__
        lo = _real(f"{name}.w_min", self.w_min, allow_inf=True)
        hi = _real(f"{name}.w_max", self.w_max, allow_inf=True)
        if lo > hi:
            raise ValueError(f"{name}.w_min={lo} is above w_max={hi}; swap them")
        object.__setattr__(self, "w_min", lo)
        object.__setattr__(self, "w_max", hi)
        self.compiled()

    def pre_traces(self) -> dict[str, Trace]:
        """Traces each presynaptic neuron keeps, by the name the expressions use."""
        return {}

    def post_traces(self) -> dict[str, Trace]:
        """Traces each postsynaptic neuron keeps, by the name the expressions use."""
        return {}

    def constants(self) -> dict[str, float]:
        """Names and values of the constants the expressions use (default: every numeric
        field of the dataclass)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                out[f.name] = float(value)
        return out

    def compiled(self) -> dict[str, object]:
        """The checked expressions (``"on_pre"``, ``"on_post"``: trees), the traces they read
        (``"pre_uses"``, ``"post_uses"``; per expression ``"on_pre_pre"``, ``"on_pre_post"``,
        ...) and the constants (computed once, cached on the rule)."""
        cached = self.__dict__.get("_compiled")
        if cached is not None:
            return cached
        name = type(self).__name__
        pre, post, consts = self.pre_traces(), self.post_traces(), self.constants()
        for side, traces in (("pre_traces", pre), ("post_traces", post)):
            for key, tr in traces.items():
                if not isinstance(tr, Trace) or not key.isidentifier():
                    raise TypeError(f"{name}.{side}() must map identifiers to Trace, got {key!r}: {tr!r}")
        clash = (set(pre) & set(post)) | ((set(pre) | set(post)) & (set(consts) | {"w"}))
        if clash:
            raise ValueError(f"{name}: the names {sorted(clash)} are used twice (traces, constants "
                             "and 'w' need distinct names)")
        allowed = {"w", *pre, *post, *consts}
        trees = {key: expressions.parse(getattr(self, key), f"{name}.{key}", allowed)
                 for key in ("on_pre", "on_post")}
        used = set().union(*(expressions.names(t) for t in trees.values()))
        out = {**trees, "pre_uses": [t for t in pre if t in used],
               "post_uses": [t for t in post if t in used],
               "constants": consts, "pre_traces": pre, "post_traces": post}
        for key, tree in trees.items():
            names = expressions.names(tree)
            out[f"{key}_pre"] = [t for t in pre if t in names]
            out[f"{key}_post"] = [t for t in post if t in names]
        object.__setattr__(self, "_compiled", out)
        return out

    def hardware_spec(self, dt: float) -> dict[str, object]:
        """Traces (with s4.11 lookup tables), the update expressions, constants and bounds."""
        c = self.compiled()
        return {
            "rule": type(self).__name__, "dt": dt,
            "pre_traces": {k: v.hardware_spec(dt) for k, v in self.pre_traces().items()
                           if k in c["pre_uses"]},
            "post_traces": {k: v.hardware_spec(dt) for k, v in self.post_traces().items()
                            if k in c["post_uses"]},
            "on_pre": self.on_pre, "on_post": self.on_post, "constants": self.constants(),
            "w_min": self.w_min, "w_max": self.w_max,
        }


def _interaction(name: str, value: str) -> str:
    if value not in ("all", "nearest"):
        raise ValueError(f"{name}.interaction must be 'all' (all-to-all) or 'nearest', got {value!r}")
    return "add" if value == "all" else "set"


@dataclass(frozen=True, eq=False)
class PairSTDP(TraceRule):
    """Pair-based STDP (Song, Miller & Abbott 2000; Bi & Poo 1998).

    For a pre spike at ``t_pre`` and a post spike at ``t_post``, ``dt = t_post - t_pre``:
    ``dw = a_plus exp(-dt/tau_plus)`` for ``dt > 0`` and ``-a_minus exp(dt/tau_minus)`` for
    ``dt < 0`` (additive), times ``(w_max - w)`` and ``(w - w_min)`` respectively for
    ``weight_dependence="multiplicative"`` (soft bounds). ``interaction="all"`` sums over all
    pairs; ``"nearest"`` pairs each spike only with the latest spike of the other neuron.

    Args:
        tau_plus: time constant of the presynaptic trace (potentiation side), s.
        tau_minus: time constant of the postsynaptic trace (depression side), s.
        a_plus: potentiation amplitude (weight unit; per unit of ``w_max - w`` when
            multiplicative).
        a_minus: depression amplitude (>= 0, same units).
        weight_dependence: ``"additive"`` or ``"multiplicative"``.
        interaction: ``"all"`` or ``"nearest"``.
        w_min, w_max: hard bounds (finite for multiplicative).
    """

    tau_plus: float = 20e-3
    tau_minus: float = 20e-3
    a_plus: float = 0.01
    a_minus: float = 0.0105
    weight_dependence: str = "additive"
    interaction: str = "all"

    def __post_init__(self) -> None:
        name = type(self).__name__
        object.__setattr__(self, "tau_plus", check_positive_time(f"{name}.tau_plus", self.tau_plus))
        object.__setattr__(self, "tau_minus", check_positive_time(f"{name}.tau_minus", self.tau_minus))
        object.__setattr__(self, "a_plus", _real(f"{name}.a_plus", self.a_plus, nonnegative=True))
        object.__setattr__(self, "a_minus", _real(f"{name}.a_minus", self.a_minus, nonnegative=True))
        if self.weight_dependence not in ("additive", "multiplicative"):
            raise ValueError(f"{name}.weight_dependence must be 'additive' or 'multiplicative', "
                             f"got {self.weight_dependence!r}")
        _interaction(name, self.interaction)
        super().__post_init__()
        if self.weight_dependence == "multiplicative" and not (
                math.isfinite(self.w_min) and math.isfinite(self.w_max)):
            raise ValueError(f"{name}: multiplicative weight dependence needs finite w_min and w_max")

    @property
    def on_pre(self) -> str:
        if self.weight_dependence == "multiplicative":
            return "-a_minus * (w - w_min) * y"
        return "-a_minus * y"

    @property
    def on_post(self) -> str:
        if self.weight_dependence == "multiplicative":
            return "a_plus * (w_max - w) * x"
        return "a_plus * x"

    def pre_traces(self) -> dict[str, Trace]:
        return {"x": Trace(self.tau_plus, 1.0, _interaction("PairSTDP", self.interaction))}

    def post_traces(self) -> dict[str, Trace]:
        return {"y": Trace(self.tau_minus, 1.0, _interaction("PairSTDP", self.interaction))}


@dataclass(frozen=True, eq=False)
class SymmetricSTDP(TraceRule):
    """Symmetric, purely potentiating STDP (Hao et al. 2020, after dopamine-modulated STDP in
    hippocampus): ``dw = eta * increment * exp(-|dt| / tau)`` whatever the order (with
    ``tau_pre`` for pre-before-post and ``tau_post`` for post-before-pre). All-to-all traces
    jump by ``increment`` (0.1 in the paper). Depression must come from elsewhere (synaptic
    scaling, :class:`~plasticity.homeostasis.SynapticScaling`).

    Args:
        tau_pre, tau_post: trace time constants (s).
        eta: learning rate (weight unit per unit trace).
        increment: trace jump per spike.
        w_min, w_max: hard bounds.
    """

    tau_pre: float = 20e-3
    tau_post: float = 20e-3
    eta: float = 0.005
    increment: float = 0.1

    on_pre = "eta * y"
    on_post = "eta * x"

    def __post_init__(self) -> None:
        name = type(self).__name__
        object.__setattr__(self, "tau_pre", check_positive_time(f"{name}.tau_pre", self.tau_pre))
        object.__setattr__(self, "tau_post", check_positive_time(f"{name}.tau_post", self.tau_post))
        object.__setattr__(self, "eta", _real(f"{name}.eta", self.eta, nonnegative=True))
        object.__setattr__(self, "increment", _real(f"{name}.increment", self.increment,
                                                    nonnegative=True))
        super().__post_init__()

    def pre_traces(self) -> dict[str, Trace]:
        return {"x": Trace(self.tau_pre, self.increment)}

    def post_traces(self) -> dict[str, Trace]:
        return {"y": Trace(self.tau_post, self.increment)}


@dataclass(frozen=True, eq=False)
class TripletSTDP(TraceRule):
    """Triplet STDP (Pfister & Gerstner 2006).

    Pre traces ``r1`` (``tau_plus``), ``r2`` (``tau_x``); post traces ``o1`` (``tau_minus``),
    ``o2`` (``tau_y``). On a pre spike ``dw = -o1 (a2_minus + a3_minus r2)``; on a post spike
    ``dw = r1 (a2_plus + a3_plus o2)``, with ``r2`` and ``o2`` read just before the spike.
    ``interaction="all"`` is the all-to-all model, ``"nearest"`` the nearest-spike model
    (traces set to 1). The defaults are the visual-cortex all-to-all parameters as recalled
    from the paper's table (check them there before quoting); :meth:`minimal` gives the
    minimal model (``a2_plus = a3_minus = 0``).
    """

    tau_plus: float = 16.8e-3
    tau_minus: float = 33.7e-3
    tau_x: float = 101e-3
    tau_y: float = 125e-3
    a2_plus: float = 5e-10
    a3_plus: float = 6.2e-3
    a2_minus: float = 7e-3
    a3_minus: float = 2.3e-4
    interaction: str = "all"

    on_pre = "-o1 * (a2_minus + a3_minus * r2)"
    on_post = "r1 * (a2_plus + a3_plus * o2)"

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in ("tau_plus", "tau_minus", "tau_x", "tau_y"):
            object.__setattr__(self, f, check_positive_time(f"{name}.{f}", getattr(self, f)))
        for f in ("a2_plus", "a3_plus", "a2_minus", "a3_minus"):
            object.__setattr__(self, f, _real(f"{name}.{f}", getattr(self, f), nonnegative=True))
        _interaction(name, self.interaction)
        super().__post_init__()

    @classmethod
    def minimal(cls, tau_plus: float = 16.8e-3, tau_minus: float = 33.7e-3, tau_y: float = 114e-3,
                a3_plus: float = 6.5e-3, a2_minus: float = 7.1e-3, **kwargs) -> TripletSTDP:
        """The minimal triplet model: pair depression and triplet potentiation only (defaults:
        the visual-cortex minimal all-to-all values as recalled; check before quoting)."""
        return cls(tau_plus=tau_plus, tau_minus=tau_minus, tau_y=tau_y, a2_plus=0.0,
                   a3_plus=a3_plus, a2_minus=a2_minus, a3_minus=0.0, **kwargs)

    def pre_traces(self) -> dict[str, Trace]:
        mode = _interaction("TripletSTDP", self.interaction)
        return {"r1": Trace(self.tau_plus, 1.0, mode), "r2": Trace(self.tau_x, 1.0, mode)}

    def post_traces(self) -> dict[str, Trace]:
        mode = _interaction("TripletSTDP", self.interaction)
        return {"o1": Trace(self.tau_minus, 1.0, mode), "o2": Trace(self.tau_y, 1.0, mode)}


@dataclass(frozen=True, eq=False)
class DiehlCookSTDP(TraceRule):
    """The STDP rule of Diehl & Cook's code (2015): nearest-spike traces set to 1, a pre trace
    ``x`` (``tau_pre``) and two post traces ``y1`` (``tau_post1``) and ``y2`` (``tau_post2``).
    On a pre spike ``dw = -nu_pre y1``; on a post spike ``dw = nu_post x y2`` (``y2`` just
    before the spike). Weights clipped to ``[w_min, w_max]`` = [0, 1]."""

    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    tau_pre: float = 20e-3
    tau_post1: float = 20e-3
    tau_post2: float = 40e-3

    on_pre = "-nu_pre * y1"
    on_post = "nu_post * x * y2"

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in ("tau_pre", "tau_post1", "tau_post2"):
            object.__setattr__(self, f, check_positive_time(f"{name}.{f}", getattr(self, f)))
        for f in ("nu_pre", "nu_post"):
            object.__setattr__(self, f, _real(f"{name}.{f}", getattr(self, f), nonnegative=True))
        super().__post_init__()

    def pre_traces(self) -> dict[str, Trace]:
        return {"x": Trace(self.tau_pre, 1.0, "set")}

    def post_traces(self) -> dict[str, Trace]:
        return {"y1": Trace(self.tau_post1, 1.0, "set"), "y2": Trace(self.tau_post2, 1.0, "set")}


__all__ = ["DiehlCookSTDP", "PairSTDP", "Plasticity", "SymmetricSTDP", "TraceRule", "TripletSTDP"]
