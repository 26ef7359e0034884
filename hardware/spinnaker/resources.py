"""Memory a mapped network needs: SDRAM and DTCM per core, ring buffers, router entries.

Sizes follow sPyNNaker's data layout (``shared/design/spinnaker.md`` §3-4):

SDRAM (per core, bytes), the regions sPyNNaker 7.4.1 reserves for a neuron core (sizes
checked against its data specifications on a virtual board, ``benchmarks/spynnaker_mapping.py``):
    ``synaptic_matrix``  per incoming projection, a block for every core of the pre
                         population: its largest slice x the projection's longest row (over
                         all post cores) in words, each block aligned to 16 B, + 8 B; a static
                         row is 3 header words + 1 word per synapse, a plastic (pair STDP) row
                         3 header words + 2 words of pre-trace header + a 16-bit weight and a
                         16-bit control word per synapse (packed two to a word) — the worst case
                         sPyNNaker reserves (``PopulationVertex.get_synapses_size``);
    ``master_pop_table`` 8 B + 20 B per source population + 4 B per incoming projection;
    ``neuron_params`` and ``initial_values`` 4 B + the neuron struct per neuron (IF_curr_exp:
                         15 words, see :data:`WORDS_PER_NEURON`) each;
    ``neuron_core_params`` 28 B + a 4-byte key per neuron; ``recording_setup`` 52 B + for
                         each of the 4 recordables a 16-bit index per neuron, padded to
                         whole words (8 B a neuron for an even slice); ``synapse_params``
                         28 B + 4 B (a shift) per synapse type;
    ``bit_field``        8 B + per source population 16 B + one bit per neuron (whole words),
                         and 16 B + one bit per neuron and delay stage (whole words; none
                         without a delay extension), as ``get_sdram_for_bit_field_region``;
    ``stdp_params``      with an incoming pair-STDP projection: 4 B + per exponential
                         lookup table (tau_plus, tau_minus) 4 B + 2 B an entry + 16 B per
                         synapse type (additive or multiplicative weight dependence);
    ``fixed_regions``    system, provenance, profiler, recording header, current source and
                         on-chip generator regions (:data:`FIXED_REGION_BYTES` + 4 B per
                         source population);
    ``recording_per_step`` spike bits of the core per time step (+ 4 B time stamp) when the
                         population is recorded (multiply by the steps of a run; not in totals).
    Source cores count their per-neuron parameters only.
DTCM (per core, bytes):
    ``neurons`` state and parameters as above; ``ring_buffers`` ``n_synapse_types · D ·
    2^neuron_bits · 2`` with ``D`` delay slots (sPyNNaker sizes the buffer for the largest
    slice of the population); ``input_queue`` 256 keys of 4 B; ``row_buffers`` two DMA
    buffers of the longest incoming row; ``master_pop_table`` as in SDRAM; ``bit_fields``
    one bit per source neuron; ``stdp_history`` 16 post events (4 B time + 2 B trace) per
    neuron when a plastic projection arrives; ``reserved`` :data:`DTCM_RESERVED_BYTES`.

``D`` (delay slots) is ``min(2^bits(max incoming delay), 2^(14 - neuron_bits - type_bits))``
as ``PopulationVertex.max_delay_steps_incoming``; a delay above the slots needs a
delay-extension core (``needs_delay_extension``), which reaches 9·D at most.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from hardware.spinnaker.fixed import stdp_lut
from hardware.spinnaker.machine import DTCM_BYTES, SDRAM_USABLE_BYTES

#: Bits of a ring-buffer index (delay | synapse type | neuron), ``MAX_RING_BUFFER_BITS``.
MAX_RING_BUFFER_BITS = 14
#: Incoming spike queue length (``incoming_spike_buffer_size``).
INPUT_QUEUE_LENGTH = 256
#: Delay-extension stages (``MAX_SLOTS``): a delay reaches (stages + 1) · D ticks.
DELAY_EXTENSION_STAGES = 8
#: 32-bit words per neuron of the core's neuron, synapse-shaping and threshold structs.
#: IF_curr_exp: neuron_t 8 (V, V_rest, R, exp_TC, I_offset, refract_timer, V_reset,
#: T_refract) + exponential synapses 6 (decay, init, value per type) + static threshold 1.
WORDS_PER_NEURON = {"LIF": 15, "AdaptiveLIF": 17, "IF": 11, "LI": 8, "PoissonSource": 6,
                    "SettablePoissonSource": 6, "SpikeSource": 2}
#: DTCM held by the core program itself (stack, heap headers, static data): an estimate,
#: as sPyNNaker does not check DTCM while placing (a core that does not fit fails at start).
DTCM_RESERVED_BYTES = 8192
#: Master population table: header, entry per source population, address-list entry.
POP_TABLE_HEADER_BYTES = 8
POP_TABLE_ENTRY_BYTES = 20
ADDRESS_LIST_ENTRY_BYTES = 4
#: SDRAM regions of a neuron core whose size does not depend on the network (sPyNNaker 7.4.1
#: IF_curr_exp: System 12, Provenance 112, profiler 4, Recording 76, CurrentSourceParams 4,
#: neuron_builder 516, ConnectorBuilderRegion 92 + 4 per source population).
FIXED_REGION_BYTES = 816
#: Synaptic blocks are placed at multiples of this many bytes (master population table).
BLOCK_ALIGN_BYTES = 16
ROW_HEADER_WORDS = 3
PLASTIC_PRE_HEADER_WORDS = 2
STDP_HISTORY_EVENTS = 16


def n_bits(n: int) -> int:
    """sPyNNaker's ``get_n_bits``: bits to index ``n`` values (0 for 0, 1 for 1)."""
    if n <= 1:
        return n
    return int(np.ceil(np.log2(n)))


def row_words(n_synapses: int, plastic: bool) -> int:
    """32-bit words of one synaptic row of ``n_synapses`` synapses."""
    if not plastic:
        return ROW_HEADER_WORDS + n_synapses
    half = (n_synapses + 1) // 2
    return ROW_HEADER_WORDS + PLASTIC_PRE_HEADER_WORDS + 2 * half


def words_per_neuron(model) -> int:
    """Words of state and parameters per neuron of ``model`` on a core (a table for the
    models the core programs implement, else one word per state variable and parameter)."""
    name = type(model).__name__
    if name in WORDS_PER_NEURON:
        return WORDS_PER_NEURON[name]
    return len(model.state_vars) + len(dataclasses.fields(model))


@dataclass(frozen=True)
class CoreResources:
    """Memory of one core (bytes); ``sdram`` and ``dtcm`` break the totals down."""

    vertex: int
    population: str
    x: int
    y: int
    p: int
    n_neurons: int
    sdram: dict
    dtcm: dict
    delay_slots: int
    max_delay: int
    needs_delay_extension: bool
    kind: str = "neurons"

    @property
    def sdram_bytes(self) -> int:
        """SDRAM without recording."""
        return sum(v for k, v in self.sdram.items() if k != "recording_per_step")

    @property
    def dtcm_bytes(self) -> int:
        """DTCM in all."""
        return sum(self.dtcm.values())

    @property
    def ring_buffer_bytes(self) -> int:
        """Ring-buffer bytes."""
        return self.dtcm.get("ring_buffers", 0)

    def to_dict(self) -> dict:
        """A JSON-able form."""
        return {"vertex": self.vertex, "population": self.population,
                "kind": self.kind, "core": [self.x, self.y, self.p], "n_neurons": self.n_neurons,
                "sdram_bytes": self.sdram_bytes, "dtcm_bytes": self.dtcm_bytes,
                "sdram": dict(self.sdram), "dtcm": dict(self.dtcm),
                "delay_slots": self.delay_slots, "max_delay": self.max_delay,
                "needs_delay_extension": self.needs_delay_extension}


@dataclass
class Resources:
    """Memory per core and router entries per chip of a mapping.

    ``router_entries_raw`` counts one entry per (sending core, chip) on its tree (defaultable
    hops removed), ``router_entries_before`` after merging consecutive cores of a population
    (PACMAN's generated tables), ``router_entries_after`` after compression.
    """

    cores: tuple[CoreResources, ...]
    router_entries_raw: dict = field(default_factory=dict)
    router_entries_before: dict = field(default_factory=dict)
    router_entries_after: dict = field(default_factory=dict)

    def set_router_entries(self, raw: dict, before: dict, after: dict) -> None:
        """Record the entries per chip (called by the mapping)."""
        self.router_entries_raw, self.router_entries_before, self.router_entries_after = \
            dict(raw), dict(before), dict(after)

    def sdram_per_chip(self) -> dict:
        """SDRAM bytes per chip (recording excluded)."""
        out: dict = {}
        for c in self.cores:
            out[(c.x, c.y)] = out.get((c.x, c.y), 0) + c.sdram_bytes
        return out

    def to_dict(self) -> dict:
        """Plain data for ``result.provenance``."""
        chips = sorted({(c.x, c.y) for c in self.cores})
        before = sum(self.router_entries_before.values())
        after = sum(self.router_entries_after.values())
        return {
            "cores_used": len(self.cores), "chips_used": len(chips),
            "sdram_bytes_total": sum(c.sdram_bytes for c in self.cores),
            "dtcm_bytes_max": max((c.dtcm_bytes for c in self.cores), default=0),
            "router_entries_raw": sum(self.router_entries_raw.values()),
            "router_entries_before_compression": before,
            "router_entries_after_compression": after,
            "compression_ratio": after / before if before else 1.0,
            "router_entries_per_chip": {
                f"{x},{y}": {"raw": self.router_entries_raw.get((x, y), 0),
                             "before": self.router_entries_before.get((x, y), 0),
                             "after": self.router_entries_after.get((x, y), 0)}
                for x, y in sorted(self.router_entries_before)},
            "sdram_bytes_per_chip": {f"{x},{y}": b for (x, y), b in
                                     sorted(self.sdram_per_chip().items())},
            "per_core": [c.to_dict() for c in self.cores],
        }


def _synaptic_blocks(built, post: int, longest: dict, plastic: dict,
                     neurons_per_core: list[int], stages: dict) -> int:
    """SDRAM sPyNNaker reserves for the synaptic matrices of one core of population ``post``
    (``longest``/``plastic``: longest row and plasticity per ``(projection index, kind)``;
    ``stages``: delay stages per source population). Per projection, every core of the pre
    population gets an aligned block of its slice x the longest direct row, then, with a
    delay extension, another of its slice x the longest delayed row x the stages
    (``PopulationVertex.get_synapses_size``)."""
    address = 8
    for j, pr in enumerate(built.projections):
        if pr.post != post:
            continue
        n_pre = built.populations[pr.pre].n
        sub_atoms = min(neurons_per_core[pr.pre], n_pre)
        for kind, times in (("direct", 1), ("delayed", stages.get(pr.pre, 0))):
            if not longest.get((j, kind)):
                continue
            block = sub_atoms * row_words(longest[(j, kind)], plastic[(j, kind)]) * 4 * times
            for _ in range(-(-n_pre // sub_atoms)):
                address = -(-address // BLOCK_ALIGN_BYTES) * BLOCK_ALIGN_BYTES + block
    return address


#: A delay-extension core's SDRAM regions (sPyNNaker 7.4.1 ``DelayExtensionMachineVertex``:
#: simulation header 3 words, delay parameters 9 words, provenance 6 + 12 words).
DELAY_CORE_SDRAM = {"setup": 12, "delay_params": 36, "provenance": 72}


def _delay_core(v, built) -> CoreResources:
    """Memory of a delay-extension core: the fixed SDRAM regions; in DTCM a spike counter
    byte per neuron and delay slot (``(stages + 1) · D`` slots rounded up to a power of two),
    a bit per neuron and stage saying which stages have synapses, the input queue and the
    program's allowance (an estimate, as for neuron cores)."""
    slots = 2 ** n_bits((v.delay_stages + 1) * v.delay_per_stage)
    dtcm = {"spike_counters": v.n * slots, "delay_bitfield": 4 * -(-v.n * v.delay_stages // 32),
            "input_queue": INPUT_QUEUE_LENGTH * 4, "reserved": DTCM_RESERVED_BYTES}
    return CoreResources(v.index, built.populations[v.pop_index].name, v.x, v.y, v.p, v.n,
                         dict(DELAY_CORE_SDRAM), dtcm, 0, 0, False, "delay")


def estimate_resources(built, vertices, edges, neurons_per_core: list[int]) -> Resources:
    """Memory of every core of a mapping; raises MappingError when a core or chip does not
    fit (DTCM, ring buffer index, SDRAM, delays beyond a delay-extension core)."""
    from hardware.spinnaker.mapping import MappingError

    incoming: dict[int, list] = {}
    proj_longest: dict[tuple[int, str], int] = {}
    proj_plastic: dict[tuple[int, str], bool] = {}
    for e in edges:
        if e.kind == "to_delay":
            continue
        incoming.setdefault(e.post, []).append(e)
        jk = (e.proj_index, e.kind)
        proj_longest[jk] = max(proj_longest.get(jk, 0), e.max_row_length)
        proj_plastic[jk] = e.plastic
    stages = {v.pop_index: v.delay_stages for v in vertices if v.is_delay}
    recorded = {pop for _, pop, _ in built.spike_monitors}
    cores = []
    for v in vertices:
        if v.is_delay:
            cores.append(_delay_core(v, built))
            continue
        pop = built.populations[v.pop_index]
        model = pop.model
        words = words_per_neuron(model)
        ins = incoming.get(v.index, [])
        sdram = {"neuron_params": 4 + v.n * words * 4}
        dtcm = {"neurons": v.n * words * 4, "reserved": DTCM_RESERVED_BYTES}
        if v.pop_index in recorded:
            sdram["recording_per_step"] = 4 + 4 * ((v.n + 31) // 32)
        slots, max_delay, extension = 0, 0, False
        if not model.is_source:
            n_types = len(model.ports)
            neuron_bits = n_bits(neurons_per_core[v.pop_index])
            type_bits = n_bits(n_types)
            free = MAX_RING_BUFFER_BITS - neuron_bits - type_bits
            if free < 0:
                raise MappingError(
                    "ring_buffer",
                    f"population {pop.name!r}: {neurons_per_core[v.pop_index]} neurons per core "
                    f"and {n_types} synapse types need {neuron_bits + type_bits} ring-buffer "
                    f"index bits, more than {MAX_RING_BUFFER_BITS} (32 KiB of uint16); lower "
                    "neurons_per_core")
            max_delay = max((e.max_delay for e in ins), default=1)
            slots = min(2 ** n_bits(max_delay), 2 ** free)
            extension = max_delay > slots
            if max_delay > (DELAY_EXTENSION_STAGES + 1) * 2 ** free:
                raise MappingError(
                    "delay",
                    f"population {pop.name!r} receives a delay of {max_delay} steps; a core holds "
                    f"{2 ** free} delay slots and a delay-extension core reaches "
                    f"{(DELAY_EXTENSION_STAGES + 1) * 2 ** free}; lower the delay, use a longer "
                    "time step or fewer neurons_per_core")
            dtcm["ring_buffers"] = n_types * slots * (1 << neuron_bits) * 2
            dtcm["input_queue"] = INPUT_QUEUE_LENGTH * 4
            longest = max((row_words(e.max_row_length, e.plastic) for e in ins), default=0)
            dtcm["row_buffers"] = 2 * longest * 4
            sources = {(vertices[e.pre].pop_index, e.kind) for e in ins}
            table = (POP_TABLE_ENTRY_BYTES * len(sources)
                     + ADDRESS_LIST_ENTRY_BYTES * len({(e.pre, e.projection) for e in ins}))
            dtcm["master_pop_table"] = table
            dtcm["bit_fields"] = 4 * sum((vertices[pre].n + 31) // 32
                                         for pre in {e.pre for e in ins})
            if any(e.plastic for e in ins):
                dtcm["stdp_history"] = v.n * (STDP_HISTORY_EVENTS * 6 + 4)
            sdram["synaptic_matrix"] = _synaptic_blocks(built, v.pop_index, proj_longest,
                                                        proj_plastic, neurons_per_core, stages)
            pre_pops = {pr.pre for pr in built.projections if pr.post == v.pop_index}
            delayed = [j for j, pr in enumerate(built.projections)
                       if pr.post == v.pop_index and proj_longest.get((j, "delayed"))]
            delayed_pops = {built.projections[j].pre for j in delayed}
            sdram["master_pop_table"] = (POP_TABLE_HEADER_BYTES + POP_TABLE_ENTRY_BYTES * (len(
                pre_pops) + len(delayed_pops)) + ADDRESS_LIST_ENTRY_BYTES * (sum(
                    1 for pr in built.projections if pr.post == v.pop_index) + len(delayed)))
            sdram["initial_values"] = sdram["neuron_params"]
            sdram["neuron_core_params"] = 28 + 4 * v.n
            sdram["recording_setup"] = 52 + 4 * 4 * ((2 * v.n + 3) // 4)
            sdram["synapse_params"] = 28 + 4 * n_types
            sdram["bit_field"] = 8 + sum(
                4 * ((built.populations[q].n + 31) // 32) + 32
                + 4 * ((built.populations[q].n * (stages[q] if q in delayed_pops else 0) + 31)
                       // 32)
                for q in pre_pops)
            sdram["fixed_regions"] = FIXED_REGION_BYTES + 4 * (len(pre_pops) + len(delayed_pops))
            rules = [r for pr in built.projections if pr.post == v.pop_index
                     for r in pr.plasticity if hasattr(r, "tau_plus")]
            if rules:
                sdram["stdp_params"] = 4 + 16 * n_types + sum(
                    4 + 2 * len(stdp_lut(tau, built.dt))
                    for tau in (rules[0].tau_plus, rules[0].tau_minus))
        core = CoreResources(v.index, pop.name, v.x, v.y, v.p, v.n, sdram, dtcm, slots,
                             max_delay, extension)
        if core.dtcm_bytes > DTCM_BYTES:
            parts = ", ".join(f"{k} {b}" for k, b in sorted(dtcm.items(), key=lambda kv: -kv[1]))
            raise MappingError(
                "dtcm",
                f"core {v.core} ({pop.name!r} neurons {v.start}-{v.stop - 1}) needs "
                f"{core.dtcm_bytes} B of DTCM ({parts}), more than the {DTCM_BYTES} B a core "
                f"has; lower neurons_per_core for {pop.name!r}")
        cores.append(core)
    res = Resources(tuple(cores))
    for chip, used in res.sdram_per_chip().items():
        if used > SDRAM_USABLE_BYTES:
            raise MappingError(
                "sdram",
                f"chip {chip} needs {used} B of SDRAM, more than the {SDRAM_USABLE_BYTES} B "
                "usable; spread the network with fewer neurons_per_core or a bigger machine")
    return res


__all__ = [
    "CoreResources", "DELAY_EXTENSION_STAGES", "DTCM_RESERVED_BYTES", "FIXED_REGION_BYTES",
    "INPUT_QUEUE_LENGTH", "MAX_RING_BUFFER_BITS", "Resources", "WORDS_PER_NEURON",
    "estimate_resources", "n_bits", "row_words", "words_per_neuron",
]
