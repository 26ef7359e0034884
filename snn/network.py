"""The network graph: populations, projections and monitors, and its build into arrays.

The graph is backend-independent data (close to NIR's nodes and edges). ``Network.build``
samples connectivity, weights, delays and initial state from one seed into plain NumPy arrays
(:class:`BuiltNetwork`); a backend turns those into its runtime form.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field

import numpy as np

from snn.connect import Connector, FixedProbability
from snn.distributions import Distribution
from snn.models import NeuronModel
from snn.validate import check_int, check_positive_time

DEFAULT_DT = 1e-4


@dataclass(eq=False)
class Population:
    """``n`` neurons of one model. Index or slice it (``pop[:100]``) to get a view."""

    n: int
    model: NeuronModel
    name: str
    init: dict[str, object] = field(default_factory=dict)
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key) -> PopulationView:
        idx = np.arange(self.n)[key]
        idx = np.atleast_1d(idx).astype(np.int64)
        if idx.size == 0:
            raise IndexError(f"{self.name}[{_key_text(key)}] selects none of its {self.n} neurons "
                             f"(indices 0..{self.n - 1}); a view needs at least one neuron")
        return PopulationView(self, np.unique(idx))

    @property
    def population(self) -> Population:
        """The population itself (so views and populations share this attribute)."""
        return self

    @property
    def indices(self) -> np.ndarray:
        """All neuron indices."""
        return np.arange(self.n, dtype=np.int64)


def _key_text(key) -> str:
    """An index as written in brackets: ``20:30``, ``::2``, ``[1, 2]``."""
    if isinstance(key, slice):
        parts = ["" if v is None else str(v) for v in (key.start, key.stop, key.step)]
        return ":".join(parts[:2] if key.step is None else parts)
    return repr(key)


@dataclass(frozen=True, eq=False)
class PopulationView:
    """A subset of a population's neurons, usable wherever a population is."""

    population: Population
    indices: np.ndarray

    def __len__(self) -> int:
        return int(self.indices.size)

    @property
    def n(self) -> int:
        """Number of neurons in the view."""
        return len(self)

    @property
    def name(self) -> str:
        """The parent population's name."""
        return self.population.name


@dataclass(eq=False)
class Projection:
    """Synapses from ``pre`` to ``post`` onto the post model's ``synapse`` port.

    ``weight`` is in the unit of the port's state variable (V for ``LIF``); ``delay`` in
    whole time steps (>= 1).
    """

    pre: Population | PopulationView
    post: Population | PopulationView
    connector: Connector
    weight: object
    delay: object
    synapse: str
    name: str
    plasticity: tuple = ()


@dataclass(eq=False)
class SpikeMonitor:
    """Records every spike (step and neuron index) of a population or view."""

    target: Population | PopulationView
    name: str


@dataclass(eq=False)
class StateMonitor:
    """Records ``variables`` of chosen neurons every ``every`` steps (at step start)."""

    target: Population | PopulationView
    variables: tuple[str, ...]
    every: int
    name: str


@dataclass
class BuiltPopulation:
    """A population's model, size and initial state arrays.

    In a batched network (``batch`` samples), every state array has shape ``(batch, n)``
    and ``models`` holds one model per sample (they differ in the population's
    ``per_sample`` parameters); otherwise state arrays have shape ``(n,)`` and ``models`` is
    None.
    """

    name: str
    n: int
    model: NeuronModel
    state: dict[str, np.ndarray]
    models: tuple[NeuronModel, ...] | None = None

    def sample_models(self, batch: int | None) -> tuple[NeuronModel, ...]:
        """The model of every sample (``(model,)`` when not batched)."""
        if batch is None:
            return (self.model,)
        return self.models if self.models is not None else (self.model,) * batch


@dataclass
class BuiltProjection:
    """A projection as CSR by presynaptic neuron (indices are population-local).

    ``indptr`` has one row per neuron of the *pre population* (rows of neurons outside a
    pre view are empty). ``delays`` is None when every synapse has ``delay`` steps.
    ``weights`` holds one float32 per synapse, or a single value when the projection was
    given a scalar weight (a homogeneous projection, as NEST's ``static_synapse_hom_w``):
    such a projection costs 4 bytes a synapse instead of 8. A plastic projection
    (``plasticity`` not empty) always has one float64 weight per synapse, which the numba
    backend (and torch on the CPU) update in place.
    """

    name: str
    pre: int
    post: int
    synapse: str
    target_var: str
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    delays: np.ndarray | None
    delay: int
    plasticity: tuple = ()

    @property
    def n_synapses(self) -> int:
        """Number of synapses."""
        return int(self.indices.size)

    @property
    def homogeneous(self) -> bool:
        """True when every synapse shares one stored weight."""
        return self.weights.size == 1 and self.n_synapses != 1

    def synapse_weights(self) -> np.ndarray:
        """One weight per synapse, in CSR order."""
        if self.homogeneous:
            return np.full(self.n_synapses, self.weights[0], dtype=np.float32)
        return self.weights

    @property
    def max_delay(self) -> int:
        """Longest delay in steps."""
        return int(self.delays.max()) if self.delays is not None and self.delays.size else self.delay

    @property
    def nbytes(self) -> int:
        """Bytes of the connectivity arrays."""
        extra = self.delays.nbytes if self.delays is not None else 0
        return self.indptr.nbytes + self.indices.nbytes + self.weights.nbytes + extra


@dataclass
class BuiltNetwork:
    """Everything a backend needs, as NumPy arrays, sampled from one seed."""

    dt: float
    seed: int
    populations: list[BuiltPopulation]
    projections: list[BuiltProjection]
    spike_monitors: list[tuple[str, int, np.ndarray | None]]
    state_monitors: list[tuple[str, int, tuple[str, ...], np.ndarray, int]]
    batch: int | None = None

    @property
    def n_synapses(self) -> int:
        """Total number of synapses."""
        return sum(p.n_synapses for p in self.projections)

    @property
    def synapse_bytes(self) -> int:
        """Bytes used by all connectivity arrays."""
        return sum(p.nbytes for p in self.projections)


class Network:
    """A spiking network: add populations, connect them, add monitors, then ``run``.

    Example::

        net = Network()
        P = net.population(4000, LIF(tau_m=20e-3), name="P")
        net.connect(P[:3200], P, FixedProbability(0.02), weight=1.62e-3, synapse="exc")
        net.spike_monitor(P)
        result = net.run(1.0, dt=1e-4, seed=1)
    """

    def __init__(self) -> None:
        self.populations: list[Population] = []
        self.projections: list[Projection] = []
        self.spike_monitors: list[SpikeMonitor] = []
        self.state_monitors: list[StateMonitor] = []

    # -- graph construction -------------------------------------------------------------
    def population(
        self, n: int, model: NeuronModel, name: str | None = None,
        init: dict[str, object] | None = None, per_sample: dict[str, object] | None = None,
    ) -> Population:
        """Add ``n`` neurons of ``model``. ``init`` maps state variables to initial values
        (scalar, per-neuron array or a :class:`~snn.distributions.Distribution`; in a batched
        build also a ``(batch, n)`` array).

        ``per_sample`` maps model parameters to values that differ between the samples of a
        batched build (``build(batch=B)``): each an array whose first axis has one entry per
        sample, e.g. ``per_sample={"rate": rates}`` with ``rates`` of shape ``(B, n)`` gives
        every sample its own Poisson input.
        """
        n = check_int("n", n, minimum=1)
        if not isinstance(model, NeuronModel):
            raise TypeError(f"model must be a neuron model such as LIF(), got {type(model).__name__}")
        model.check_size(n)
        name = self._unique_name(name, "pop")
        init = dict(init or {})
        names = {v.name for v in model.state_vars}
        for var, value in init.items():
            if var not in names:
                raise ValueError(
                    f"init has unknown state variable {var!r} for {type(model).__name__}; "
                    f"known: {sorted(names)}"
                )
            if isinstance(value, np.ndarray) and value.shape != (n,) and (
                    value.ndim != 2 or value.shape[1] != n):
                raise ValueError(f"init[{var!r}] has shape {value.shape}, expected ({n},) or "
                                 f"(batch, {n})")
            if not isinstance(value, (Distribution, np.ndarray, numbers.Real)):
                raise TypeError(f"init[{var!r}] must be a number, an array or a Distribution")
        per_sample = dict(per_sample or {})
        fields = {f.name for f in dataclasses.fields(model)}
        for key, value in per_sample.items():
            if key not in fields:
                raise ValueError(f"per_sample has unknown parameter {key!r} for "
                                 f"{type(model).__name__}; known: {sorted(fields)}")
            if isinstance(value, (str, bytes, numbers.Number)) or not hasattr(value, "__len__") \
                    or len(value) < 1:
                raise ValueError(f"per_sample[{key!r}] must have one entry per sample along its "
                                 "first axis")
        pop = Population(n, model, name, init, per_sample)
        self.populations.append(pop)
        return pop

    def connect(
        self,
        pre: Population | PopulationView,
        post: Population | PopulationView,
        connector: Connector | None = None,
        *,
        weight: float | np.ndarray | Distribution | None = None,
        delay: int | np.ndarray | Distribution = 1,
        synapse: str = "exc",
        name: str | None = None,
        plasticity=None,
    ) -> Projection:
        """Connect ``pre`` to ``post`` (populations or views).

        Args:
            connector: which pairs (default all-to-all).
            weight: added to the post neuron's ``synapse`` state variable per spike (V for
                LIF); scalar, per-synapse array or Distribution. Required unless the
                connector carries weights.
            delay: whole time steps (>= 1), scalar, per-synapse array or Distribution. One
                step is the shortest delay (a spike reaches its target at the start of the next
                step, as Brian2's default zero delay and NEST's minimal delay).
            synapse: the post model's port, e.g. ``"exc"`` or ``"inh"``.
            plasticity: a synaptic mechanism from :mod:`plasticity` (e.g.
                ``plasticity.PairSTDP()``) or a tuple of them, applied in order; the
                projection then keeps one float64 weight per synapse (read and write them
                with ``sim.weights(name)`` / ``sim.set_weights(name, w)``).
        """
        for label, side in (("pre", pre), ("post", post)):
            if not isinstance(side, (Population, PopulationView)):
                raise TypeError(f"{label} must be a Population or a view of one, got {side!r}")
            if side.population not in self.populations:
                raise ValueError(f"{label} population {side.name!r} is not in this network")
        ports = post.population.model.ports
        if synapse not in ports:
            model = type(post.population.model).__name__
            raise ValueError(
                f"synapse={synapse!r} is not a port of {model}; ports: {sorted(ports) or 'none'}"
                + (" (spike sources take no input)" if not ports else "")
            )
        connector = connector if connector is not None else FixedProbability(1.0)
        if not isinstance(connector, Connector):
            raise TypeError(f"connector must be a Connector such as FixedProbability(0.1), got {connector!r}")
        _check_weight(weight)
        _check_delay(delay)
        mechanisms = _check_plasticity(plasticity)
        proj = Projection(pre, post, connector, weight, delay, synapse,
                          self._unique_name(name, "proj"), mechanisms)
        self.projections.append(proj)
        return proj

    def spike_monitor(self, target: Population | PopulationView, name: str | None = None) -> SpikeMonitor:
        """Record all spikes of ``target``."""
        self._check_target(target)
        mon = SpikeMonitor(target, self._unique_name(name or f"{target.name}_spikes", "spikes"))
        self.spike_monitors.append(mon)
        return mon

    def state_monitor(
        self, target: Population | PopulationView, variables: str | list[str], every: int = 1,
        name: str | None = None,
    ) -> StateMonitor:
        """Record ``variables`` of ``target``'s neurons every ``every`` steps."""
        self._check_target(target)
        variables = (variables,) if isinstance(variables, str) else tuple(variables)
        known = {v.name for v in target.population.model.state_vars}
        for var in variables:
            if var not in known:
                raise ValueError(
                    f"variables has {var!r}, not a state variable of "
                    f"{type(target.population.model).__name__}; known: {sorted(known)}"
                )
        if not variables:
            raise ValueError("variables must name at least one state variable")
        every = check_int("every", every, minimum=1)
        mon = StateMonitor(target, variables, every,
                           self._unique_name(name or f"{target.name}_state", "state"))
        self.state_monitors.append(mon)
        return mon

    # -- running --------------------------------------------------------------------------
    def build(self, dt: float = DEFAULT_DT, backend: str = "numba", seed: int | None = None,
              batch: int | None = None, check_memory: bool = True, **options):
        """Sample the network from ``seed`` and compile it for ``backend``.

        Returns a simulation whose ``run(duration)`` can be called repeatedly; state carries
        over between calls. ``batch=B`` runs ``B`` independent samples of the network at once:
        the same synapses, each sample with its own state (``(B, n)`` arrays), its own random
        streams and its ``per_sample`` parameters (see :meth:`population`).

        Before allocating anything it estimates the memory the network needs
        (:func:`snn.memory.estimate`) and refuses, with the estimate and the fix, one that
        does not fit in the memory available; ``check_memory=False`` skips that check.
        """
        from snn.backends import get_backend

        backend_cls = get_backend(backend)
        built = self.instantiate(dt, seed, batch=batch, check_memory=check_memory)
        return backend_cls(built, **options)

    def run(self, duration: float, dt: float = DEFAULT_DT, backend: str = "numba",
            seed: int | None = None, progress: bool = False, hdf5: str | None = None,
            batch: int | None = None, snapshot_every: float | None = None,
            snapshot: str | None = None, **options):
        """Build and run for ``duration`` seconds; returns the recorded :class:`Results`.

        With ``snapshot_every=S`` (seconds) and ``snapshot=path``, the whole simulation is saved
        to ``path`` every ``S`` s of simulated time (see :mod:`snn.snapshot`); continue a run
        that stopped with ``snn.Simulation.restore(path).run(rest)``.
        """
        duration = check_positive_time("duration", duration)
        if snapshot_every is not None or snapshot is not None:
            if snapshot_every is None or snapshot is None:
                raise ValueError("snapshot_every= and snapshot= go together: pass both, e.g. "
                                 "snapshot_every=1.0, snapshot='run.snap.h5'")
            snapshot_every = check_positive_time("snapshot_every", snapshot_every)
        sim = self.build(dt=dt, backend=backend, seed=seed, batch=batch, **options)
        if snapshot_every is not None:
            from snn.snapshot import run_with_snapshots

            return run_with_snapshots(sim, duration, snapshot_every, snapshot, progress, hdf5)
        return sim.run(duration, progress=progress, hdf5=hdf5)

    def instantiate(self, dt: float, seed: int | None, batch: int | None = None,
                    check_memory: bool = True) -> BuiltNetwork:
        """Sample connectivity, weights, delays and initial state into arrays (after the
        memory preflight of :meth:`build`, unless ``check_memory`` is False)."""
        dt = check_positive_time("dt", dt)
        if batch is not None:
            batch = check_int("batch", batch, minimum=1)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        seed = check_int("seed", seed, minimum=0)
        if not self.populations:
            raise ValueError("the network has no populations; add one with net.population()")
        for pop in self.populations:
            pop.model.check_dt(dt)
        if check_memory:
            from snn.memory import check

            check(self, batch)
        pops = [self._build_population(i, p, seed, batch) for i, p in enumerate(self.populations)]
        for built_pop in pops:
            for model in built_pop.models or ():
                model.check_dt(dt)
        projs = [self._build_projection(i, p, seed) for i, p in enumerate(self.projections)]
        plastic = [p.name for p in projs if p.plasticity]
        if batch is not None and plastic:
            raise ValueError(
                f"batch={batch} with plastic projections ({', '.join(plastic)}): the samples of a "
                "batch would share and race on one set of weights; build without batch= (or "
                "train a batch with a rule from rules/)")
        index = {id(p): i for i, p in enumerate(self.populations)}
        smons = [
            (m.name, index[id(m.target.population)], _subset(m.target))
            for m in self.spike_monitors
        ]
        vmons = [
            (m.name, index[id(m.target.population)], m.variables, m.target.indices.copy(), m.every)
            for m in self.state_monitors
        ]
        return BuiltNetwork(dt, seed, pops, projs, smons, vmons, batch)

    # -- helpers ----------------------------------------------------------------------------
    def _unique_name(self, name: str | None, prefix: str) -> str:
        taken = {x.name for x in (*self.populations, *self.projections,
                                  *self.spike_monitors, *self.state_monitors)}
        if name is None:
            k = len(taken)
            while f"{prefix}{k}" in taken:
                k += 1
            return f"{prefix}{k}"
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"name must be a Python identifier, got {name!r}")
        if name in taken:
            raise ValueError(f"name {name!r} is already used in this network; pick another")
        return name

    def _check_target(self, target) -> None:
        if not isinstance(target, (Population, PopulationView)):
            raise TypeError(f"target must be a Population or a view of one, got {target!r}")
        if target.population not in self.populations:
            raise ValueError(f"target population {target.name!r} is not in this network")

    def _rng(self, seed: int, kind: int, index: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(kind, index)))

    def _build_population(self, i: int, pop: Population, seed: int,
                          batch: int | None) -> BuiltPopulation:
        rng = self._rng(seed, 0, i)
        shape = (pop.n,) if batch is None else (batch, pop.n)
        state = {}
        for var in pop.model.state_vars:
            value = pop.init.get(var.name, pop.model.initial_value(var))
            if isinstance(value, Distribution):
                value = value.sample(rng, int(np.prod(shape))).reshape(shape)
            if np.ndim(value) == 2 and batch is None:
                raise ValueError(f"init[{var.name!r}] of population {pop.name!r} has a batch axis "
                                 "but the network is built without batch=; pass batch=")
            arr = np.empty(shape, dtype=var.dtype)
            try:
                arr[:] = value
            except ValueError:
                raise ValueError(f"init[{var.name!r}] of population {pop.name!r} has shape "
                                 f"{np.shape(value)}; a batched build needs {shape} or ({pop.n},)"
                                 ) from None
            if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
                raise ValueError(f"init[{var.name!r}] of population {pop.name!r} is not finite")
            state[var.name] = arr
        models = None
        if pop.per_sample:
            if batch is None:
                raise ValueError(f"population {pop.name!r} has per_sample parameters; build the "
                                 "network with batch= (one sample per entry)")
            for key, value in pop.per_sample.items():
                if len(value) != batch:
                    raise ValueError(f"per_sample[{key!r}] of population {pop.name!r} has "
                                     f"{len(value)} entries but batch={batch}")
            models = []
            for b in range(batch):
                model = dataclasses.replace(pop.model, **{k: v[b] for k, v in pop.per_sample.items()})
                model.check_size(pop.n)
                models.append(model)
            models = tuple(models)
        return BuiltPopulation(pop.name, pop.n, pop.model, state, models)

    def _build_projection(self, i: int, proj: Projection, seed: int) -> BuiltProjection:
        rng = self._rng(seed, 1, i)
        pre_pop, post_pop = proj.pre.population, proj.post.population
        same = pre_pop is post_pop and np.array_equal(proj.pre.indices, proj.post.indices)
        pre, post, w_conn, d_conn = proj.connector.pairs(len(proj.pre), len(proj.post), rng, same)
        pre = proj.pre.indices[pre] if isinstance(proj.pre, PopulationView) else pre
        post = proj.post.indices[post] if isinstance(proj.post, PopulationView) else post
        m = pre.size
        where = f"projection {proj.name!r}"
        if proj.weight is not None and w_conn is not None:
            raise ValueError(f"{where}: the connector carries weights; do not also pass weight=")
        w_spec = proj.weight if proj.weight is not None else w_conn
        if w_spec is None:
            raise ValueError(f"{where}: pass weight= (e.g. weight=1e-3 for 1 mV on an LIF)")
        homogeneous = (not isinstance(w_spec, Distribution) and np.ndim(w_spec) == 0
                       and not proj.plasticity)
        if homogeneous:
            weights = np.array([w_spec], dtype=np.float32)
        else:
            weights = _sample(w_spec, rng, m, f"{where}: weight").astype(
                np.float64 if proj.plasticity else np.float32)
        if not np.all(np.isfinite(weights)):
            raise ValueError(f"{where}: weight has NaN or inf values; pass finite weights")
        post_model = post_pop.model
        if post_model.nonnegative_weights and np.any(weights < 0):
            raise ValueError(
                f"{where}: weights onto {type(post_model).__name__} are conductance increments and "
                "must be >= 0; connect to synapse='inh' for inhibition")
        d_spec = d_conn if d_conn is not None else proj.delay
        delays = _sample(d_spec, rng, m, f"{where}: delay")
        if delays.size and not np.all(np.equal(np.mod(delays, 1), 0)):
            raise TypeError(f"{where}: delay must be whole time steps (integers)")
        delays = delays.astype(np.int64)
        if delays.size and delays.min() < 1:
            raise ValueError(
                f"{where}: delay must be >= 1 step, got {delays.min()}; one step is the "
                "shortest delay"
            )
        key = pre * post_pop.n + post
        if key.size > 1 and np.any(key[1:] < key[:-1]):
            order = np.argsort(key, kind="stable")
            pre, post, delays = pre[order], post[order], delays[order]
            if not homogeneous:
                weights = weights[order]
        indptr = np.zeros(pre_pop.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre, minlength=pre_pop.n), out=indptr[1:])
        uniform = delays.size == 0 or np.all(delays == delays[0])
        delay = int(delays[0]) if delays.size else 1
        per_syn = None
        if not uniform:
            dmax = int(delays.max())
            dtype = np.uint8 if dmax < 256 else np.uint16 if dmax < 65536 else np.int32
            per_syn = delays.astype(dtype)
            delay = dmax
        target_var = post_pop.model.ports[proj.synapse]
        return BuiltProjection(
            proj.name, self.populations.index(pre_pop), self.populations.index(post_pop),
            proj.synapse, target_var, indptr, post.astype(np.int32), weights, per_syn, delay,
            proj.plasticity,
        )


def _subset(target) -> np.ndarray | None:
    return target.indices.copy() if isinstance(target, PopulationView) else None


def _sample(spec, rng: np.random.Generator, m: int, what: str) -> np.ndarray:
    if isinstance(spec, Distribution):
        return np.asarray(spec.sample(rng, m), dtype=np.float64)
    arr = np.asarray(spec, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(m, float(arr))
    if arr.shape != (m,):
        raise ValueError(
            f"{what} has shape {arr.shape} but the connector made {m} synapses; pass a scalar, "
            "a Distribution, or one value per synapse"
        )
    return arr


def _check_weight(weight) -> None:
    if weight is None or isinstance(weight, Distribution):
        return
    if isinstance(weight, bool):
        raise TypeError("weight must be a number, an array or a Distribution, got a bool")
    try:
        arr = np.asarray(weight, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"weight must be a number, an array or a Distribution, got {weight!r}") from err
    if not np.all(np.isfinite(arr)):
        raise ValueError("weight must be finite; it has NaN or inf values")


def _check_plasticity(plasticity) -> tuple:
    """``plasticity`` as a tuple of mechanisms (objects with a ``hardware_spec`` method, as
    every :class:`plasticity.Plasticity`)."""
    if plasticity is None:
        return ()
    items = tuple(plasticity) if isinstance(plasticity, (list, tuple)) else (plasticity,)
    for item in items:
        if not callable(getattr(item, "hardware_spec", None)) or isinstance(item, type):
            raise TypeError(
                f"plasticity must be a mechanism such as plasticity.PairSTDP(), or a tuple of them, "
                f"got {item!r}")
    return items


def _check_delay(delay) -> None:
    if isinstance(delay, Distribution):
        return
    if isinstance(delay, (float, np.floating)):
        raise TypeError(
            f"delay={delay!r}: delays are whole time steps; for 1.5 ms at dt=0.1 ms pass delay=15"
        )
    arr = np.asarray(delay)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError("delay must be integer time steps (an int or an int array)")
    if arr.size and arr.min() < 1:
        raise ValueError(f"delay must be >= 1 step, got {arr.min()}; one step is the shortest delay")


__all__ = [
    "BuiltNetwork", "Network", "Population", "PopulationView", "Projection",
    "SpikeMonitor", "StateMonitor",
]
