"""Provenance of an emulated run: sPyNNaker's counters per core and per router, resources,
real-time load and energy (``shared/design/spinnaker.md`` §7).

``result.provenance`` (a plain, JSON-able dict) holds:

* ``cores``: one dict per application core (population, ``kind`` ``"neurons"`` or
  ``"delay"`` for a delay-extension core, slice, ``[x, y, p]``) with
  sPyNNaker's counter names (:data:`SPYNNAKER_NAMES`) and ours for what sPyNNaker does not
  report by name (packets sent and received, synaptic events, rows fetched, cycles);
* ``routers``: per chip ``"x,y"``: ``Local_Multicast_Packets`` (injected by its cores),
  ``External_Multicast_Packets`` (arrived over a link), ``Dropped_Multicast_Packets``,
  ``Default_Routed_External_Multicast_Packets``; the emulator models no link congestion, so
  nothing is re-injected (``Reinjected`` and its kin are 0 and not listed);
* ``totals``, ``resources`` (from the mapping), ``mapping`` (its summary),
  ``weight_shifts`` per population, ``cost_model`` (:mod:`hardware.spinnaker.timing`),
  ``realtime`` and ``energy`` (:mod:`hardware.spinnaker.energy`).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from hardware.spinnaker import timing
from hardware.spinnaker.energy import run_energy
from hardware.spinnaker.machine import opposite_link

COUNTERS = (
    "packets_sent", "packets_received", "input_buffer_lost_packets", "max_filled_input_buffer",
    "pre_synaptic_events", "bitfield_filtered_packets", "saturations", "plastic_saturations",
    "late_spikes", "max_late_spike", "skipped_synapses", "timer_tick_overruns",
    "max_timer_tick_overrun", "synaptic_events", "rows_fetched", "max_spikes_in_a_tick",
    "cycles", "max_cycles_in_tick", "plastic_pre_synaptic_events",
)
SPYNNAKER_NAMES = {
    "saturations": "Times_synaptic_weights_have_saturated",
    "plastic_saturations": "Times_plastic_synaptic_weights_have_saturated",
    "input_buffer_lost_packets": "Times_the_input_buffer_lost_packets",
    "max_filled_input_buffer": "Max_filled_size_input_buffer",
    "pre_synaptic_events": "Total_pre_synaptic_events",
    "bitfield_filtered_packets": "How many packets were filtered by the bitfield filterer",
    "late_spikes": "Late spikes",
    "max_late_spike": "Max late spike",
    "skipped_synapses": "Skipped synapses",
    "timer_tick_overruns": "Times_the_timer_tic_over_ran",
    "max_timer_tick_overrun": "Max_number_of_times_timer_tic_over_ran",
    "plastic_pre_synaptic_events": "Number of plastic pre-synaptic events",
    "max_spikes_in_a_tick": "Maximum number of spikes in a timer tick",
}


def route_stats(mapping) -> dict[int, dict]:
    """Per vertex index: the cores its packets reach (``"cores"``), and per chip how many
    routers handle one of its packets locally, externally, by default routing or drop it
    (``"routers"``), following the compressed tables hop by hop."""
    out = {}
    machine, tables = mapping.machine, mapping.compressed
    for v in mapping.vertices:
        stats = {"cores": set(), "routers": {}}
        out[v.index] = stats
        if v.key is None or not mapping.edges_from(v.index):
            continue
        key = v.key
        queue = deque([(v.chip, None)])
        seen = set()
        while queue:
            chip, in_link = queue.popleft()
            if (chip, in_link) in seen:
                continue
            seen.add((chip, in_link))
            r = stats["routers"].setdefault(chip, {"local": 0, "external": 0, "default": 0,
                                                   "dropped": 0})
            r["local" if in_link is None else "external"] += 1
            entry = next((e for e in tables.get(chip, ()) if key & e.mask == e.key), None)
            if entry is None:
                if in_link is None:
                    r["dropped"] += 1
                    continue
                r["default"] += 1
                links, cores = (opposite_link(in_link),), ()
            else:
                links, cores = entry.links, entry.cores
            stats["cores"].update((chip[0], chip[1], p) for p in cores)
            for link in links:
                nxt = machine.neighbour(*chip, link)
                if nxt is None:
                    r["dropped"] += 1
                    continue
                queue.append((nxt, opposite_link(link)))
    return out


def build_provenance(sim, n_ticks: int, wall_s: float) -> dict:
    """The provenance dict of ``sim`` (a SpiNNaker simulation) after a run of ``n_ticks``."""
    mapping, prov = sim.mapping, sim._prov
    cores = []
    for v in mapping.vertices:
        row = {"population": v.population, "kind": v.kind, "slice": [v.start, v.stop],
               "core": [v.x, v.y, v.p]}
        for c, name in enumerate(COUNTERS):
            row[SPYNNAKER_NAMES.get(name, name)] = int(prov[v.index, c])
        cores.append(row)
    routers: dict[str, dict[str, int]] = {}
    sent = prov[:, COUNTERS.index("packets_sent")]
    router_packets = 0
    for v in mapping.vertices:
        n = int(sent[v.index])
        if not n:
            continue
        for (x, y), r in sim._routes[v.index]["routers"].items():
            entry = routers.setdefault(f"{x},{y}", {
                "Local_Multicast_Packets": 0, "External_Multicast_Packets": 0,
                "Dropped_Multicast_Packets": 0, "Default_Routed_External_Multicast_Packets": 0})
            entry["Local_Multicast_Packets"] += n * r["local"]
            entry["External_Multicast_Packets"] += n * r["external"]
            entry["Dropped_Multicast_Packets"] += n * r["dropped"]
            entry["Default_Routed_External_Multicast_Packets"] += n * r["default"]
            router_packets += n * (r["local"] + r["external"])
    totals = {name: int(prov[:, c].max() if name.startswith("max") else prov[:, c].sum())
              for c, name in enumerate(COUNTERS)}
    totals["router_packets"] = router_packets
    simulated = n_ticks * sim.dt
    chips = len(mapping.chips_used)
    load = prov[:, COUNTERS.index("cycles")] / max(1, n_ticks * sim.budget)
    realtime = {
        "ticks": n_ticks, "budget_cycles_per_tick": sim.budget,
        "time_scale_factor": sim.time_scale_factor,
        "machine_wall_s": simulated * sim.time_scale_factor, "emulator_wall_s": wall_s,
        "emulated_real_time_factor": wall_s / simulated if simulated else 0.0,
        "mean_core_load": float(load.mean()) if load.size else 0.0,
        "max_core_load": float(load.max()) if load.size else 0.0,
        "cores_with_overruns": int(np.sum(prov[:, COUNTERS.index("timer_tick_overruns")] > 0)),
    }
    return {
        "machine": mapping.machine.name, "dt": sim.dt, "cores": cores, "routers": routers,
        "totals": totals, "resources": mapping.resources.to_dict(), "mapping": mapping.summary(),
        "weight_shifts": {p.name: {"exc": int(r[0]), "inh": int(r[1])}
                          for p, r in zip(sim.built.populations, sim._shifts, strict=True)
                          if not p.model.is_source},
        "cost_model": timing.constants(), "realtime": realtime,
        "energy": run_energy(chips, len(mapping.vertices), simulated, sim.time_scale_factor,
                             router_packets, totals["synaptic_events"]),
    }


def format_provenance(prov: dict) -> str:
    """A short text report: totals, real time, energy, resources."""
    t, rt, e, m = prov["totals"], prov["realtime"], prov["energy"], prov["mapping"]
    lines = [
        f"machine {prov['machine']}: {m['cores']} cores on {m['chips']} chips, router entries "
        f"{m['router_entries_before']} -> {m['router_entries_after']} after compression "
        f"(max {m['max_entries_per_chip_after']} per chip)",
        f"ticks {rt['ticks']} at dt {prov['dt'] * 1e3:g} ms, time_scale_factor "
        f"{rt['time_scale_factor']}, budget {rt['budget_cycles_per_tick']} cycles per tick",
        f"packets sent {t['packets_sent']}, received {t['packets_received']}, lost "
        f"{t['input_buffer_lost_packets']}, router packets {t['router_packets']}",
        f"synaptic events {t['synaptic_events']}, saturations {t['saturations']} "
        f"(plastic {t['plastic_saturations']}), late spikes {t['late_spikes']} (max "
        f"{t['max_late_spike']}), skipped synapses {t['skipped_synapses']}",
        f"timer overruns {t['timer_tick_overruns']} on {rt['cores_with_overruns']} cores, mean "
        f"core load {rt['mean_core_load']:.2f}, max {rt['max_core_load']:.2f}",
        f"energy {e['total_J']:.4g} J ({e['J_per_simulated_s']:.4g} J per simulated s, "
        f"{e['J_per_synaptic_event']:.3g} J per synaptic event; dynamic "
        f"{e['dynamic_J_per_synaptic_event']:.3g} J)",
        f"weight shifts: {prov['weight_shifts']}",
    ]
    return "\n".join(lines)


__all__ = ["COUNTERS", "SPYNNAKER_NAMES", "build_provenance", "format_provenance", "route_stats"]
