"""CLI: ``synaptica map NETWORK [--machine spinn5] [--plot out.png] [--json]``.

Maps a network onto an emulated SpiNNaker 1 machine (:func:`hardware.spinnaker.map_network`)
and prints where it lands: cores and chips, router entries per chip before and after
compression, SDRAM and DTCM per core. ``--plot`` draws the placement on the chip grid, each
chip shaded by its router load. ``NETWORK`` is ``cuba``, ``pattern``, ``song-abbott`` or a
Python file defining ``build_network()`` (:mod:`hardware.spinnaker.examples`).
"""

from __future__ import annotations

import argparse
import json

from hardware.spinnaker.examples import add_network_arguments


def add_parser(subparsers) -> None:
    """Add the ``map`` command."""
    p = subparsers.add_parser(
        "map", help="place a network on an emulated SpiNNaker machine (cores, keys, router tables)",
        description="Map a network onto a SpiNNaker 1 machine: slices of neurons per core, "
                    "placement, routing keys, multicast routes and compressed router tables; "
                    "report cores, chips, router entries and memory per core.")
    add_network_arguments(p)
    p.add_argument("--key-allocator", choices=("flexible", "global"), default="flexible",
                   help="zoned key layout: per-population field widths (sPyNNaker's default) or "
                        "one width for all")
    p.add_argument("--dt", type=float, default=1e-3, help="time step to sample the network (s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="PNG", help="draw the placement and router load per chip")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_map)


def map_report(mapping) -> dict:
    """The figures ``synaptica map`` prints, as plain data."""
    res = mapping.resources
    before, after = mapping.router_entries(False), mapping.router_entries(True)
    chips = {}
    for v in mapping.vertices:
        chips.setdefault(v.chip, []).append(v)
    sdram = res.sdram_per_chip()
    per_chip = {
        f"{x},{y}": {"cores": len(chips.get((x, y), [])),
                     "populations": sorted({v.population for v in chips.get((x, y), [])}),
                     "router_entries_before": before.get((x, y), 0),
                     "router_entries_after": after.get((x, y), 0),
                     "sdram_bytes": sdram.get((x, y), 0)}
        for x, y in sorted(set(chips) | set(before))}
    pops: dict[str, dict] = {}
    for v in mapping.vertices:
        entry = pops.setdefault(v.population, {"neurons": 0, "cores": 0, "neurons_per_core": [],
                                               "delay_extension_cores": 0})
        if v.is_delay:
            entry["delay_extension_cores"] += 1
            continue
        entry["neurons"] += v.n
        entry["cores"] += 1
        entry["neurons_per_core"].append(v.n)
    return {
        "summary": mapping.summary(),
        "populations": pops,
        "chips": per_chip,
        "memory": {"sdram_bytes_total": sum(c.sdram_bytes for c in res.cores),
                   "sdram_bytes_max_core": max((c.sdram_bytes for c in res.cores), default=0),
                   "dtcm_bytes_max_core": max((c.dtcm_bytes for c in res.cores), default=0),
                   "ring_buffer_bytes_max_core": max((c.ring_buffer_bytes for c in res.cores),
                                                     default=0)},
        "cores": [v.to_dict() for v in mapping.vertices],
    }


def plot_mapping(mapping, path: str):
    """Draw the machine's chips (sheared for the triangular mesh), each with its used cores and
    shaded by router entries after compression; bars of entries per chip beside."""
    from matplotlib.patches import Polygon

    from snn.plot import pyplot, save_figure

    plt = pyplot()
    machine = mapping.machine
    before, after = mapping.router_entries(False), mapping.router_entries(True)
    used: dict = {}
    delays: dict = {}
    for v in mapping.vertices:
        used[v.chip] = used.get(v.chip, 0) + 1
        if v.is_delay:
            delays[v.chip] = delays.get(v.chip, 0) + 1
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [3, 2]})
    top = max(after.values(), default=0) or 1
    cmap = plt.get_cmap("viridis")
    for (x, y), _n in sorted(machine.chips.items()):
        cx, cy = x - 0.5 * y, y * 0.87
        corners = [(cx - 0.5, cy - 0.43), (cx + 0.5, cy - 0.43), (cx + 0.5, cy + 0.43),
                   (cx - 0.5, cy + 0.43)]
        failed = not machine.has_chip(x, y)
        load = after.get((x, y), 0)
        colour = "0.75" if failed else (cmap(0.15 + 0.85 * load / top) if load else "white")
        ax.add_patch(Polygon(corners, closed=True, facecolor=colour, edgecolor="k", lw=0.6))
        if failed:
            ax.text(cx, cy, "x", ha="center", va="center", fontsize=12, color="0.3")
            continue
        n_app = len(machine.app_cores(x, y))
        label = f"{x},{y}\n{used.get((x, y), 0)}/{n_app} cores"
        if (x, y) in delays:
            label += f"\n({delays[(x, y)]} delay ext.)"
        if (x, y) in before:
            label += f"\n{before[(x, y)]}→{load} ent."
        ax.text(cx, cy, label, ha="center", va="center", fontsize=6.5,
                color="white" if 0 < load < 0.6 * top else "black")
    xs = [x - 0.5 * y for x, y in machine.chips]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(-0.8, max(y for _, y in machine.chips) * 0.87 + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    s = mapping.summary()
    ext = f" ({s['delay_extension_cores']} delay extension)" if s["delay_extension_cores"] else ""
    ax.set_title(f"{machine.name}: {s['cores']} cores{ext} on {s['chips']} chips; shade = router "
                 f"entries after compression (max {top})", fontsize=9)
    chips = sorted(before, key=lambda c: (-before[c], c))[:40]
    pos = range(len(chips))
    bx.bar([p - 0.2 for p in pos], [before[c] for c in chips], width=0.4, label="before")
    bx.bar([p + 0.2 for p in pos], [after.get(c, 0) for c in chips], width=0.4, label="after")
    bx.set_xticks(list(pos), [f"{x},{y}" for x, y in chips], rotation=90, fontsize=6)
    bx.set_ylabel("router entries")
    bx.set_title(f"entries per chip (compression ratio {s['compression_ratio']:.2f})", fontsize=9)
    bx.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def cmd_map(a: argparse.Namespace) -> int:
    from hardware.spinnaker import map_network
    from hardware.spinnaker.examples import example_network

    net = example_network(a.network, a.neurons, a.seed)
    mapping = map_network(net, a.machine, neurons_per_core=a.neurons_per_core,
                          key_allocator=a.key_allocator, dt=a.dt, seed=a.seed)
    report = map_report(mapping)
    if a.plot:
        report["plot"] = str(plot_mapping(mapping, a.plot))
    if a.json:
        print(json.dumps(report))
        return 0
    s = report["summary"]
    print(f"{a.network} on {s['machine']}: {s['cores']} cores on {s['chips']} "
          f"chip{'s' if s['chips'] != 1 else ''}; router "
          f"entries {s['router_entries_before']} -> {s['router_entries_after']} after compression "
          f"(ratio {s['compression_ratio']:.2f}, most on one chip {s['max_entries_per_chip_after']}"
          " of 1023)")
    for name, p in report["populations"].items():
        ext = (f" + {p['delay_extension_cores']} delay-extension cores"
               if p["delay_extension_cores"] else "")
        print(f"  {name}: {p['neurons']} neurons on {p['cores']} cores{ext}")
    mem = report["memory"]
    print(f"  SDRAM {mem['sdram_bytes_total'] / 2**20:.1f} MiB in all, at most "
          f"{mem['sdram_bytes_max_core'] / 1024:.0f} KiB a core; DTCM at most "
          f"{mem['dtcm_bytes_max_core'] / 1024:.1f} KiB a core (ring buffers "
          f"{mem['ring_buffer_bytes_max_core'] / 1024:.1f} KiB)")
    print("  chip     cores  entries before -> after")
    for chip, c in report["chips"].items():
        print(f"  {chip:8s} {c['cores']:5d}  {c['router_entries_before']:6d} -> "
              f"{c['router_entries_after']}")
    if a.plot:
        print(f"plot: {report['plot']}")
    return 0
