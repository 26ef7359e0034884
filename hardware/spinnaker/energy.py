"""Energy of a run on SpiNNaker 1 (``shared/design/spinnaker.md`` §1, §8.13).

The model is SpiNNMachine's (``VersionSpin1``): a chip in use draws 0.35 W idle, each busy
core 0.034 W more, and routing costs 25 pJ a bit, i.e. 1 nJ for a 40-bit multicast packet at
each router it passes (1.8 nJ with a payload; sPyNNaker sends none). The power is drawn for
the wall time of the run, ``simulated time × time_scale_factor``: a slowed-down run costs
more idle energy per simulated second.

For comparison (*lit.*): Stromatias et al. (2013, IJCNN, "Power analysis of large-scale,
real-time neural networks on SpiNNaker") measured about 8 nJ per synaptic event for the
dynamic part on a SpiNN-5 board; van Albada et al. (2018, Front. Neurosci., the cortical
microcircuit) report 5.9 µJ per synaptic event for the whole machine including idle power.
"""

from __future__ import annotations

IDLE_CHIP_W = 0.35
BUSY_CORE_W = 0.034
PACKET_HOP_J = 1e-9


def run_energy(n_chips: int, n_cores: int, simulated_s: float, time_scale_factor: int,
               router_packets: int, synaptic_events: int) -> dict[str, float]:
    """Joules of a run: idle chips and busy cores over the wall time, plus 1 nJ per packet
    per router; also per simulated second and per synaptic event."""
    wall = simulated_s * time_scale_factor
    idle = IDLE_CHIP_W * n_chips * wall
    cores = BUSY_CORE_W * n_cores * wall
    packets = PACKET_HOP_J * router_packets
    total = idle + cores + packets
    return {
        "wall_s": wall, "idle_chips_J": idle, "busy_cores_J": cores, "packets_J": packets,
        "total_J": total, "J_per_simulated_s": total / simulated_s if simulated_s else 0.0,
        "dynamic_J_per_simulated_s": (cores + packets) / simulated_s if simulated_s else 0.0,
        "synaptic_events": int(synaptic_events),
        "J_per_synaptic_event": total / synaptic_events if synaptic_events else float("nan"),
        "dynamic_J_per_synaptic_event": ((cores + packets) / synaptic_events
                                         if synaptic_events else float("nan")),
        "model": "0.35 W per chip, 0.034 W per busy core, 1 nJ per packet per router "
                 "(SpiNNMachine VersionSpin1)",
    }


__all__ = ["BUSY_CORE_W", "IDLE_CHIP_W", "PACKET_HOP_J", "run_energy"]
