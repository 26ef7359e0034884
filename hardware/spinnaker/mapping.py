"""Mapping a network onto a SpiNNaker machine: slices, placement, keys, routes, tables.

:func:`map_network` reads the graph only (a :class:`~snn.network.Network`, sampled with
``seed``, or a :class:`~snn.network.BuiltNetwork`) and returns a :class:`Mapping`:

``mapping.vertices``: one :class:`Vertex` per application core, in population order (then
    the delay-extension cores, ``kind="delay"``, see step 1b), each
    with ``population`` (name), ``pop_index``, ``start``/``stop`` (the contiguous slice of
    neuron indices, ``stop`` exclusive), chip ``x``, ``y``, core ``p``, and ``key``/``mask``
    (None for a population with no outgoing projection: it sends no packets). Neuron ``i``
    of the slice sends ``key | ((i - start) << n_colour_bits) | colour`` with ``colour = t
    mod 16`` (:meth:`Vertex.neuron_keys`).
``mapping.edges``: one :class:`Edge` per (projection, pre vertex, post vertex) holding at
    least one synapse: which pre slices send to which post cores, the synapse count and
    the longest row (synapses of one pre neuron onto the post slice).
``mapping.tables`` / ``mapping.compressed``: router tables per chip, ``(x, y) -> tuple of
    RoutingEntry`` (first match wins), before and after compression.
``mapping.resources``: :class:`~hardware.spinnaker.resources.Resources` (SDRAM, DTCM, ring
    buffers per core; router entries per chip), ``to_dict()`` for ``result.provenance``.

:func:`route_key` gives the cores a packet reaches through the compressed tables,
:func:`trace_key` the whole :class:`~hardware.spinnaker.routing.PacketRoute` (hops, routers,
default-routed hops). ``mapping.targets(v)`` is the set of cores vertex ``v`` must reach.

Steps, each as sPyNNaker 7 does it unless said otherwise:

1. **Slices.** A population of N neurons becomes ``ceil(N / n)`` cores of contiguous slices;
   ``n`` is 256 for neuron models and 500 for Poisson sources (sPyNNaker's defaults), or
   ``neurons_per_core``.
1b. **Delay extensions.** A projection whose delays exceed the post cores' ``D`` slots
   (:func:`delay_slots`) is served by a delay-extension vertex of its *source* population,
   split like the source (``DelaySupportAdder``); ``stages = ceil(max delay / D) - 1`` (at
   most 8), one stage length per source. Synapses with delay ``<= D`` stay direct edges, the
   longer ones become ``"delayed"`` edges from the delay core, and each source core feeds its
   delay core (``"to_delay"``). Delay vertices come after every population in placement and
   keys (``slice x stages x 16`` keys a core).
2. **Placement** (ordered, radial): populations in network order, each one's cores in slice
   order, fill the application cores of one chip (lowest core id first) before the next chip;
   chips are taken in breadth-first order over working links from chip (0, 0), so a network
   stays compact around the Ethernet chip as sPyNNaker's ``ApplicationPlacer`` keeps it.
   Failed chips and cores are skipped. sPyNNaker also places system cores (extra monitors,
   chip power monitor), which we do not.
3. **Keys** (PACMAN's zoned allocator): a key is ``| A·P | M | X |``; each population with an
   outgoing projection gets an index A·P in network order; X is ``ceil(log2(atoms ·
   2^n_colour_bits))`` bits for its largest core, M indexes the core. ``key_allocator=
   "flexible"`` (sPyNNaker's default ``ZonedRoutingInfoAllocator``) sizes X per population
   and starts A·P at the same bit for all; ``"global"`` gives every population the widest
   X and M, so every mask has the same shape. A 256-neuron core with 4 colour bits has 4096
   keys, mask 0xFFFFF000.
4. **Routes**: one NER-like multicast tree per sending core (:mod:`~hardware.spinnaker.routing`).
5. **Tables**: one entry per tree per chip, straight-through hops left to default routing;
   entries of consecutive cores of one population with the same route on a chip merge into
   aligned blocks, as PACMAN's ``MergedRoutingTableGenerator`` (the "before compression"
   count). Then order-aware compression (Pair-compressor-like).
6. **Limits** (:class:`MappingError`): rows over 256 synapses, ring buffer index over 14 bits,
   DTCM over 64 KiB, SDRAM over a chip's usable bytes, delays beyond 9·D (a delay-extension
   core's reach), more than 1023 router entries after compression, more cores than the
   machine has, keys over 32 bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hardware.spinnaker.machine import ROUTER_ENTRIES, Machine
from hardware.spinnaker.resources import DELAY_EXTENSION_STAGES, MAX_RING_BUFFER_BITS, n_bits
from hardware.spinnaker.routing import (
    PacketRoute,
    RoutingEntry,
    build_tree,
    compress_table,
    tables_from_trees,
    trace,
)

#: Neurons per core for neuron models and for Poisson sources (sPyNNaker defaults).
DEFAULT_NEURONS_PER_CORE = 256
POISSON_NEURONS_PER_CORE = 500
#: Low key bits per neuron that carry the send time (t mod 16).
N_COLOUR_BITS = 4
#: Most synapses in one row (``POP_TABLE_MAX_ROW_LENGTH``).
MAX_ROW_LENGTH = 256
KEY_BITS = 32


class MappingError(ValueError):
    """A network does not fit the machine. ``limit`` names the limit: ``"row_length"``,
    ``"ring_buffer"``, ``"dtcm"``, ``"sdram"``, ``"delay"``, ``"router_entries"``,
    ``"machine_size"``, ``"key_space"`` or ``"routing"`` (a target chip unreachable over
    working links); the message says how to fix it."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class Vertex:
    """One application core: a contiguous slice ``[start, stop)`` of a population, its
    place ``(x, y, p)`` and its routing ``key``/``mask`` (None when it sends nothing)."""

    index: int
    population: str
    pop_index: int
    start: int
    stop: int
    x: int
    y: int
    p: int
    key: int | None
    mask: int | None
    is_source: bool
    n_colour_bits: int = N_COLOUR_BITS
    kind: str = "neurons"
    delay_stages: int = 0
    delay_per_stage: int = 0

    @property
    def n(self) -> int:
        """Neurons on the core."""
        return self.stop - self.start

    @property
    def chip(self) -> tuple[int, int]:
        """(x, y) of the chip."""
        return self.x, self.y

    @property
    def core(self) -> tuple[int, int, int]:
        """(x, y, p)."""
        return self.x, self.y, self.p

    @property
    def is_delay(self) -> bool:
        """A delay-extension core (it holds no neurons; it re-sends its source slice's
        spikes ``stage · delay_per_stage`` ticks later)."""
        return self.kind == "delay"

    def neuron_keys(self, neurons=None, colour: int = 0, stage: int = 1) -> np.ndarray:
        """Keys (uint32) sent by population neurons ``neurons`` (default: the whole slice)
        at time step ``t`` with ``colour = t % 2**n_colour_bits``; a delay-extension core
        sends neuron ``i`` of delay stage ``stage`` (1 ... ``delay_stages``) as atom
        ``(stage - 1) · n + i - start``."""
        if self.is_delay and not 1 <= stage <= self.delay_stages:
            raise ValueError(f"stage must lie in 1..{self.delay_stages} for this "
                             f"delay-extension core, got {stage}")
        if self.key is None:
            raise ValueError(f"population {self.population!r} has no outgoing projection, so "
                             "its cores have no routing key")
        idx = np.arange(self.start, self.stop) if neurons is None else np.asarray(neurons)
        if idx.size and (idx.min() < self.start or idx.max() >= self.stop):
            raise ValueError(f"neurons must lie in this core's slice [{self.start}, {self.stop})")
        local = (idx - self.start).astype(np.int64)
        if self.is_delay:
            local = local + (stage - 1) * self.n
        colour = int(colour) % (1 << self.n_colour_bits)
        return (self.key + (local << self.n_colour_bits) + colour).astype(np.uint32)

    def to_dict(self) -> dict:
        """A JSON-able form."""
        out = {"index": self.index, "population": self.population, "kind": self.kind,
               "start": self.start, "stop": self.stop, "x": self.x, "y": self.y, "p": self.p,
               "key": None if self.key is None else f"0x{self.key:08x}",
               "mask": None if self.mask is None else f"0x{self.mask:08x}"}
        if self.is_delay:
            out.update(delay_stages=self.delay_stages, delay_per_stage=self.delay_per_stage)
        return out


@dataclass(frozen=True)
class Edge:
    """Synapses of projection ``projection`` from vertex ``pre`` onto vertex ``post``.

    ``kind`` is ``"direct"`` (a neuron core's packets onto the post core's rows, delays up
    to the post core's slots), ``"delayed"`` (from a delay-extension core: the synapses
    with longer delays; ``max_row_length`` counts all of them, as sPyNNaker sizes a
    delayed row) or ``"to_delay"`` (a neuron core feeding its delay-extension core; no
    synapses, ``proj_index`` -1)."""

    projection: str
    proj_index: int
    pre: int
    post: int
    synapse: str
    n_synapses: int
    max_row_length: int
    max_delay: int
    plastic: bool
    kind: str = "direct"


@dataclass(frozen=True, eq=False)
class Mapping:
    """Where a network lands on a machine (see the module docstring for every field)."""

    machine: Machine
    vertices: tuple[Vertex, ...]
    edges: tuple[Edge, ...]
    tables: dict = field(repr=False)
    compressed: dict = field(repr=False)
    resources: object = field(repr=False)
    key_allocator: str = "flexible"
    placer: str = "ordered radial placement from chip (0, 0)"
    router: str = "NER-like (nearest tree chip, longest dimension first)"

    def vertices_of(self, population: str) -> tuple[Vertex, ...]:
        """The neuron cores of ``population``, in slice order."""
        out = tuple(v for v in self.vertices if v.population == population and not v.is_delay)
        if not out:
            raise ValueError(f"population {population!r} is not in this mapping; populations: "
                             f"{sorted({v.population for v in self.vertices})}")
        return out

    def delay_vertices_of(self, population: str) -> tuple[Vertex, ...]:
        """The delay-extension cores serving ``population``'s outgoing projections (one per
        slice; empty when none needs one)."""
        return tuple(v for v in self.vertices if v.population == population and v.is_delay)

    @property
    def delay_vertices(self) -> tuple[Vertex, ...]:
        """Every delay-extension core."""
        return tuple(v for v in self.vertices if v.is_delay)

    def vertex_of(self, population: str, neuron: int) -> Vertex:
        """The core holding neuron ``neuron`` of ``population``."""
        for v in self.vertices_of(population):
            if v.start <= neuron < v.stop:
                return v
        raise ValueError(f"neuron {neuron} is outside population {population!r}")

    def vertex_for_key(self, key: int) -> Vertex:
        """The core that sends ``key``."""
        for v in self.vertices:
            if v.key is not None and key & v.mask == v.key:
                return v
        raise ValueError(f"key 0x{key:08x} belongs to no core of this mapping")

    def edges_from(self, vertex: int) -> tuple[Edge, ...]:
        """Edges leaving vertex index ``vertex``."""
        return tuple(e for e in self.edges if e.pre == vertex)

    def edges_to(self, vertex: int) -> tuple[Edge, ...]:
        """Edges arriving at vertex index ``vertex``."""
        return tuple(e for e in self.edges if e.post == vertex)

    def targets(self, vertex: int) -> frozenset:
        """``(x, y, p)`` of every core vertex ``vertex`` sends to."""
        return frozenset(self.vertices[e.post].core for e in self.edges_from(vertex))

    @property
    def n_cores(self) -> int:
        """Application cores used."""
        return len(self.vertices)

    @property
    def chips_used(self) -> list[tuple[int, int]]:
        """Chips with at least one used core."""
        return sorted({v.chip for v in self.vertices})

    def router_entries(self, compressed: bool = True) -> dict[tuple[int, int], int]:
        """Entries per chip (every chip with a table)."""
        tables = self.compressed if compressed else self.tables
        return {chip: len(t) for chip, t in sorted(tables.items())}

    def summary(self) -> dict:
        """Headline figures: cores, chips, router entries before/after compression."""
        before = self.router_entries(False)
        after = self.router_entries(True)
        total_b, total_a = sum(before.values()), sum(after.values())
        return {
            "machine": self.machine.name, "cores": self.n_cores, "chips": len(self.chips_used),
            "delay_extension_cores": len(self.delay_vertices),
            "chips_with_tables": len(before), "router_entries_before": total_b,
            "router_entries_after": total_a,
            "max_entries_per_chip_before": max(before.values(), default=0),
            "max_entries_per_chip_after": max(after.values(), default=0),
            "compression_ratio": total_a / total_b if total_b else 1.0,
            "key_allocator": self.key_allocator, "placer": self.placer, "router": self.router,
        }

    def to_dict(self) -> dict:
        """Everything as JSON-able data."""
        return {
            "summary": self.summary(), "machine": self.machine.to_dict(),
            "vertices": [v.to_dict() for v in self.vertices],
            "edges": [vars(e).copy() for e in self.edges],
            "tables": {f"{x},{y}": [e.to_dict() for e in t] for (x, y), t in self.tables.items()},
            "compressed": {f"{x},{y}": [e.to_dict() for e in t]
                           for (x, y), t in self.compressed.items()},
            "resources": self.resources.to_dict(),
        }


def _bits(n: int) -> int:
    """PACMAN's ``allocator_bits_needed``: ceil(log2(n)), 0 for n <= 1."""
    return 0 if n <= 1 else int(np.ceil(np.log2(n)))


def _neurons_per_core(pop, option) -> int:
    from snn.models import PoissonSource

    default = POISSON_NEURONS_PER_CORE if isinstance(pop.model, PoissonSource) \
        else DEFAULT_NEURONS_PER_CORE
    if option is None:
        n = default
    elif isinstance(option, dict):
        n = option.get(pop.name, default)
    else:
        n = default if pop.model.is_source else option
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"neurons_per_core for population {pop.name!r} must be an int >= 1, "
                         f"got {n!r}")
    return int(n)


def _as_built(network, dt: float, seed: int):
    from snn.network import BuiltNetwork, Network

    if isinstance(network, BuiltNetwork):
        return network
    if isinstance(network, Network):
        return network.instantiate(dt, seed)
    raise TypeError(f"network must be a snn.Network or a BuiltNetwork, got "
                    f"{type(network).__name__}")


def _place(machine: Machine, sizes: list[int]) -> list[tuple[int, int, int]]:
    """Ordered radial placement of ``len(sizes)`` cores (see the module docstring)."""
    slots = [(x, y, p) for x, y in machine.chips_by_distance((0, 0))
             for p in machine.app_cores(x, y)]
    if len(sizes) > len(slots):
        raise MappingError(
            "machine_size",
            f"the network needs {len(sizes)} application cores but {machine.name} has "
            f"{len(slots)} working ones; use a bigger machine (e.g. Machine.board(16, 16)) or "
            "more neurons_per_core")
    return slots[:len(sizes)]


def _allocate_keys(vertices_by_pop: dict[int, list[int]], atoms: list[int], sending: list[int],
                   allocator: str) -> dict[int, tuple[int, int]]:
    """``vertex -> (key, mask)`` for the vertices of the ``sending`` populations."""
    atom_bits = {p: _bits(max(atoms[v] for v in vertices_by_pop[p]) << N_COLOUR_BITS)
                 for p in sending}
    machine_bits = {p: _bits(len(vertices_by_pop[p])) for p in sending}
    if not sending:
        return {}
    if allocator == "global":
        xb = max(atom_bits.values())
        mb = max(machine_bits.values())
        widths = {p: (xb, mb) for p in sending}
    else:
        am = max(atom_bits[p] + machine_bits[p] for p in sending)
        widths = {p: (atom_bits[p], am - atom_bits[p]) for p in sending}
    am_bits = max(x + m for x, m in widths.values())
    ap_bits = _bits(len(sending))
    if ap_bits + am_bits > KEY_BITS:
        raise MappingError("key_space", f"keys need {ap_bits} + {am_bits} bits, more than 32; "
                           "use fewer populations or fewer neurons per core")
    keys = {}
    for ap, p in enumerate(sending):
        xb, _ = widths[p]
        mask = (0xFFFFFFFF - ((1 << xb) - 1)) & 0xFFFFFFFF
        for m, v in enumerate(vertices_by_pop[p]):
            keys[v] = ((ap << am_bits) | (m << xb), mask)
    return keys


def _merge_consecutive(entries: list[RoutingEntry], vertices: list[Vertex],
                       groups: dict) -> list[RoutingEntry]:
    """PACMAN 7.4.1's merged table generator: the entries of consecutive cores of one
    application vertex (a population, or one population's delay-extension cores) with equal
    routes become blocks of keys. A lone entry keeps its core's key and mask; in a longer
    run, a block starting at machine index ``i > 0`` merges ``i & -i`` entries, one
    starting at 0 the next power of two above the run's length; a block that
    would overrun the run is split into powers of two, unless the run ends at the vertex's
    last core (then the block may cover indices no core uses)."""
    by_vertex = {e.source: e for e in entries}
    out = []
    for members in groups.values():
        runs: list[list[int]] = [[]]       # runs of member positions with equal routes
        for pos, v in enumerate(members):
            e = by_vertex.get(v)
            last = runs[-1]
            if e is None or (last and (by_vertex[members[last[-1]]].route != e.route
                                       or last[-1] != pos - 1)):
                runs.append([])
            if e is not None:
                runs[-1].append(pos)
        last_index = len(members) - 1
        for run in runs:
            if not run:
                continue
            n, i = len(run), 0
            is_last = run[-1] == last_index
            blocks = []
            while i < n and n > 1:
                idx = run[i]
                size = idx & -idx if idx > 0 else 1 << _bits(n)
                if size <= n - i or is_last:
                    blocks.append((i, size))
                    i += size
                    continue
                left = n - i
                while left > 0:
                    size = 1 << (left.bit_length() - 1)
                    blocks.append((i, size))
                    left -= size
                    i += size
            for i, size in blocks or [(0, 1)]:
                first = vertices[members[run[i]]]
                x_bits = 32 - bin(first.mask).count("1")
                mask = (first.mask - ((size - 1) << x_bits)) & 0xFFFFFFFF
                out.append(RoutingEntry(first.key & mask, mask, by_vertex[first.index].route,
                                        first.index if size == 1 else None))
    out.sort(key=lambda e: (-bin(e.mask).count("1"), e.key))
    return out


def _edges(j: int, proj, slices, pre_vs, post_vs, select=None, kind: str = "direct"
           ) -> list[Edge]:
    """The edges of projection ``j`` from cores ``pre_vs`` (slices of its pre population,
    or their delay-extension cores) to ``post_vs``: synapses, longest row and longest delay
    per (pre core, post core) pair with at least one synapse, over the synapses ``select``
    (a boolean mask in CSR order; default all)."""
    if proj.n_synapses == 0:
        return []
    post_bounds = np.array([slices[v][1] for v in post_vs])
    pre_bounds = np.array([slices[v][1] for v in pre_vs])
    n_post = len(post_vs)
    rows = np.repeat(np.arange(len(proj.indptr) - 1), np.diff(proj.indptr))
    cols = proj.indices
    delays = proj.delays
    if select is not None:
        rows, cols = rows[select], cols[select]
        delays = None if delays is None else delays[select]
        if rows.size == 0:
            return []
    k = np.searchsorted(post_bounds, cols, side="right") - 1
    pv = np.searchsorted(pre_bounds, rows, side="right") - 1
    group = pv.astype(np.int64) * n_post + k
    cells, per_row = np.unique(rows.astype(np.int64) * n_post + k, return_counts=True)
    cell_group = np.searchsorted(pre_bounds, cells // n_post, side="right") - 1
    cell_group = cell_group.astype(np.int64) * n_post + cells % n_post
    groups, n_syn = np.unique(group, return_counts=True)
    longest = np.zeros(groups.size, np.int64)
    np.maximum.at(longest, np.searchsorted(groups, cell_group), per_row)
    if delays is not None:
        dmax = np.zeros(groups.size, np.int64)
        np.maximum.at(dmax, np.searchsorted(groups, group), delays.astype(np.int64))
    else:
        dmax = np.full(groups.size, proj.delay, np.int64)
    return [Edge(proj.name, j, pre_vs[g // n_post], post_vs[g % n_post], proj.synapse, int(n),
                 int(r), int(d), bool(proj.plasticity), kind)
            for g, n, r, d in zip(groups.tolist(), n_syn.tolist(), longest.tolist(),
                                  dmax.tolist(), strict=True)]


def delay_slots(built, post: int, neurons_per_core: int) -> tuple[int, int]:
    """``(D, available)`` for population ``post``: the ring-buffer delay slots of its cores
    (sPyNNaker's ``max_delay_steps_incoming``: the next power of two at or above the longest
    incoming delay, at most ``available``) and the most the ring-buffer index leaves
    (``2^(14 - neuron bits - synapse-type bits)``, ``max_delay_steps``); ``available`` is
    negative when the index bits alone exceed 14 (the resources raise on that)."""
    pop = built.populations[post]
    free = MAX_RING_BUFFER_BITS - n_bits(neurons_per_core) - n_bits(len(pop.model.ports))
    longest = max((p.max_delay for p in built.projections if p.post == post), default=1)
    available = 2 ** free if free >= 0 else -1
    return min(2 ** n_bits(longest), max(available, 1)), available


def _delay_plan(built, npc: list[int]) -> dict[int, tuple[int, int]]:
    """``source population -> (stages, delay per stage)`` for every population with an
    outgoing projection whose delays exceed its post population's slots (sPyNNaker's
    ``DelaySupportAdder``: one delay-extension vertex per source, ``stages = ceil(max delay /
    D) - 1`` over its delayed projections, all of which must have the same ``D``)."""
    plan: dict[int, tuple[int, int]] = {}
    for proj in built.projections:
        if built.populations[proj.post].model.is_source or proj.n_synapses == 0:
            continue
        d_post, available = delay_slots(built, proj.post, npc[proj.post])
        if available < 1 or proj.max_delay <= d_post:
            continue
        stages = -(-proj.max_delay // d_post) - 1
        if stages > DELAY_EXTENSION_STAGES:
            post = built.populations[proj.post].name
            raise MappingError(
                "delay",
                f"population {post!r} receives a delay of {proj.max_delay} steps; a core holds "
                f"{d_post} delay slots and a delay-extension core reaches "
                f"{(DELAY_EXTENSION_STAGES + 1) * d_post}; lower the delay, use a longer "
                "time step or fewer neurons_per_core")
        if proj.pre in plan and plan[proj.pre][1] != d_post:
            pre = built.populations[proj.pre].name
            raise MappingError(
                "delay",
                f"population {pre!r} needs delay-extension stages of {plan[proj.pre][1]} and "
                f"{d_post} ticks for different targets (projection {proj.name!r}); sPyNNaker's "
                "delay extension has one stage length per source: give the target "
                "populations the same neurons_per_core and longest delay")
        stages = max(stages, plan.get(proj.pre, (0, 0))[0])
        plan[proj.pre] = (stages, d_post)
    return plan


def map_network(network, machine: Machine | str = "spinn5", *,
                neurons_per_core: int | dict[str, int] | None = None,
                key_allocator: str = "flexible", dt: float = 1e-3, seed: int = 0,
                compress: bool = True) -> Mapping:
    """Map ``network`` onto ``machine`` (see the module docstring).

    Args:
        network: a :class:`~snn.network.Network` (sampled with ``dt`` and ``seed``) or a
            :class:`~snn.network.BuiltNetwork`.
        machine: a :class:`~hardware.spinnaker.machine.Machine` or a name (``"spinn3"``,
            ``"spinn5"``, ``"16x16"``).
        neurons_per_core: an int for every neuron population (sources keep 256 / 500), or
            ``{population name: n}`` for chosen populations.
        key_allocator: ``"flexible"`` (sPyNNaker's default) or ``"global"``.
        compress: compress the router tables (otherwise ``compressed`` equals ``tables``).

    Raises:
        MappingError: a hardware limit is exceeded (the message names it and the fix).
    """
    from hardware.spinnaker.resources import estimate_resources

    if key_allocator not in ("flexible", "global"):
        raise ValueError(f"key_allocator must be 'flexible' or 'global', got {key_allocator!r}")
    if not isinstance(machine, Machine):
        machine = Machine.named(machine)
    built = _as_built(network, dt, seed)

    # 1. slices
    slices: list[tuple[int, int, int]] = []        # (pop index, start, stop)
    vertices_by_pop: dict[int, list[int]] = {}
    if isinstance(neurons_per_core, dict):
        unknown = sorted(set(neurons_per_core) - {p.name for p in built.populations})
        if unknown:
            raise ValueError(f"neurons_per_core names {unknown}, not populations of the network; "
                             f"populations: {[p.name for p in built.populations]}")
    npc = []
    for i, pop in enumerate(built.populations):
        n = _neurons_per_core(pop, neurons_per_core)
        npc.append(n)
        for start in range(0, pop.n, n):
            vertices_by_pop.setdefault(i, []).append(len(slices))
            slices.append((i, start, min(start + n, pop.n)))

    # delay extensions: one delay-extension core per slice of each source population
    # whose projections need delays beyond their post cores' slots, after every neuron core
    n_pop_vertices = len(slices)
    plan = _delay_plan(built, npc)
    groups: dict[int, list[int]] = dict(vertices_by_pop)
    group_atoms: list[int] = [s[2] - s[1] for s in slices]
    delay_group: dict[int, int] = {}
    delay_of: dict[int, int] = {}                  # neuron core -> its delay-extension core
    for pre in sorted(plan):
        stages, _ = plan[pre]
        delay_group[pre] = len(built.populations) + len(delay_group)
        for v in vertices_by_pop[pre]:
            delay_of[v] = len(slices)
            groups.setdefault(delay_group[pre], []).append(len(slices))
            slices.append(slices[v])
            group_atoms.append((slices[v][2] - slices[v][1]) * stages)

    # 2. placement
    places = _place(machine, [s[2] - s[1] for s in slices])

    # edges: which pre slices reach which post slices (directly, or through a delay core)
    edges = []
    for j, proj in enumerate(built.projections):
        pre_vs, post_vs = vertices_by_pop[proj.pre], vertices_by_pop[proj.post]
        if proj.pre in plan and not built.populations[proj.post].model.is_source \
                and proj.max_delay > delay_slots(built, proj.post, npc[proj.post])[0]:
            d_post = plan[proj.pre][1]
            delays = (proj.delays if proj.delays is not None
                      else np.full(proj.n_synapses, proj.delay))
            late = delays > d_post
            edges += _edges(j, proj, slices, pre_vs, post_vs, ~late)
            edges += _edges(j, proj, slices, [delay_of[v] for v in pre_vs], post_vs, late,
                            "delayed")
        else:
            edges += _edges(j, proj, slices, pre_vs, post_vs)
    for v, d in sorted(delay_of.items()):
        edges.append(Edge(f"{built.populations[slices[v][0]].name}_to_DelayExtension", -1, v,
                          d, "", 0, 0, 0, False, "to_delay"))
    for e in edges:
        if e.max_row_length > MAX_ROW_LENGTH:
            pre_pop = built.populations[slices[e.pre][0]].name
            post_pop = built.populations[slices[e.post][0]].name
            raise MappingError(
                "row_length",
                f"projection {e.projection!r}: a neuron of {pre_pop!r} has {e.max_row_length} "
                f"{'delayed ' if e.kind == 'delayed' else ''}synapses onto one core of "
                f"{post_pop!r}, more than the {MAX_ROW_LENGTH} a synaptic row holds; lower "
                f"neurons_per_core of the post population (e.g. neurons_per_core="
                f"{{'{post_pop}': 128}}) or the fan-out")

    # 3. keys: populations with an outgoing projection in network order, then the
    # delay-extension vertices (sPyNNaker adds them to the graph last)
    sending = sorted({p.pre for p in built.projections}) + [delay_group[p] for p in sorted(plan)]
    keys = _allocate_keys(groups, group_atoms, sending, key_allocator)
    vertices = []
    for v, (pi, a, b) in enumerate(slices):
        model = built.populations[pi].model
        if v < n_pop_vertices:
            vertices.append(Vertex(v, built.populations[pi].name, pi, a, b, *places[v],
                                   *(keys.get(v, (None, None))), model.is_source))
        else:
            stages, per_stage = plan[pi]
            vertices.append(Vertex(v, built.populations[pi].name, pi, a, b, *places[v],
                                   *keys[v], True, N_COLOUR_BITS, "delay", stages, per_stage))

    # resources (raises on DTCM, ring buffer, SDRAM and delay limits)
    resources = estimate_resources(built, vertices, edges, npc)

    # 4. routes and 5. tables
    targets: dict[int, dict[tuple[int, int], set]] = {}
    for e in edges:
        post = vertices[e.post]
        targets.setdefault(e.pre, {}).setdefault(post.chip, set()).add(post.p)
    try:
        trees = {v: build_tree(machine, vertices[v].chip, t) for v, t in sorted(targets.items())}
    except ValueError as err:
        raise MappingError("routing", f"{err}; the failed chips cut the machine apart: mark "
                           "fewer chips failed or use a machine without the cut") from None
    raw, transit = tables_from_trees(trees, {v: (vertices[v].key, vertices[v].mask)
                                             for v in trees})
    tables = {chip: tuple(_merge_consecutive(entries, vertices, groups))
              for chip, entries in sorted(raw.items())}
    if compress:
        compressed = {chip: tuple(compress_table(list(t), transit.get(chip, [])))
                      for chip, t in tables.items()}
    else:
        compressed = dict(tables)
    for chip, t in compressed.items():
        if len(t) > ROUTER_ENTRIES:
            raise MappingError(
                "router_entries",
                f"chip {chip} needs {len(t)} router entries "
                f"{'after' if compress else 'without'} compression, more than the "
                f"{ROUTER_ENTRIES} a SpiNNaker 1 router holds; use more neurons_per_core (fewer "
                "sources), fewer populations or a machine with more chips to spread the cores")
    resources.set_router_entries({c: len(t) for c, t in raw.items()},
                                 {c: len(t) for c, t in tables.items()},
                                 {c: len(t) for c, t in compressed.items()})
    return Mapping(machine, tuple(vertices), tuple(edges), tables, compressed, resources,
                   key_allocator)


def trace_key(mapping: Mapping, key: int, compressed: bool = True) -> PacketRoute:
    """Follow packet ``key`` from the core that sends it through the router tables, hop by
    hop: cores reached, routers visited, link hops, default-routed hops, drops."""
    source = mapping.vertex_for_key(int(key))
    tables = mapping.compressed if compressed else mapping.tables
    return trace(mapping.machine, tables, source.chip, int(key))


def route_key(mapping: Mapping, key: int, compressed: bool = True) -> frozenset:
    """``(x, y, p)`` of the cores packet ``key`` reaches (see :func:`trace_key`)."""
    return trace_key(mapping, key, compressed).cores


__all__ = [
    "DEFAULT_NEURONS_PER_CORE", "Edge", "MAX_ROW_LENGTH", "Mapping", "MappingError",
    "N_COLOUR_BITS", "POISSON_NEURONS_PER_CORE", "Vertex", "map_network", "route_key",
    "trace_key",
]
