"""The per-tick cycle-cost model of an emulated core (``shared/design/spinnaker.md`` §7, §8.12).

A core has ``200 MHz × dt × time_scale_factor`` cycles per tick. Its work in tick ``t``:

* the timer callback and the neuron loop: :data:`TIMER_CYCLES` plus the model's cycles per
  neuron (``cycles_per_neuron`` of its core program, :mod:`hardware.spinnaker.cores`);
* per multicast packet received: :data:`PACKET_CYCLES` (interrupt, queue, master population
  table binary search); per synaptic row fetched: :data:`ROW_CYCLES` (DMA set-up and
  transfer); per synapse: :data:`SYNAPSE_CYCLES` static, :data:`PLASTIC_SYNAPSE_CYCLES` plastic
  (plus :data:`POST_EVENT_CYCLES` per post event in its window).

Spike processing pre-empts the neuron loop on the chip (packet and DMA callbacks run at a
higher priority than the timer's neuron update), so a packet is processed as soon as it has
arrived and the core is free of earlier packets; it arrives when its sender's neuron loop
reaches it (the sender's ``TIMER_CYCLES`` plus cycles per neuron times its position on the
core). A packet whose processing starts ``L >= 1`` whole tick periods after the tick began is
late by ``L`` ticks (``Late spikes``, ``Max late spike``): its synapses with a delay ``d <= L``
would land in a ring-buffer slot already consumed and are skipped (``Skipped synapses``).
When the tick's total work exceeds the budget the timer tick over-runs
(``Times_the_timer_tic_over_ran``; ``Max_number_of_times_timer_tic_over_ran`` is the
number of whole extra periods). Ticks are costed independently: the chip queues a late
timer event, so sustained overload slows the run down rather than making every later packet
later; we do not carry a backlog from one tick to the next.

The constants are **estimates**, not measurements of sPyNNaker's binaries:

* :data:`SYNAPSE_CYCLES` = 20: the often-quoted ~10 million synaptic events per second per
  200 MHz ARM968 core (Sharp et al. 2012; Painkras et al. 2013) *(lit.)*.
* :data:`PLASTIC_SYNAPSE_CYCLES` = 120: deferred STDP costs several times a static synapse
  (weight read-modify-write, LUT look-ups; Galluppi et al. 2015 report a 4-8x slow-down)
  *(lit., approximate)*.
* :data:`PACKET_CYCLES` = 150, :data:`ROW_CYCLES` = 100, :data:`TIMER_CYCLES` = 500 and the
  per-neuron costs (LIF 100, IF 60, sources 30): estimates from the instruction counts of
  the C paths read for the design notes (a binary search of ~10 levels, a DMA descriptor,
  the closed-form LIF update with two rounded multiplies and two synaptic decays).

Change them (module attributes) to study a different cost; the results' ``provenance``
states the values used.
"""

from __future__ import annotations

CLOCK_HZ = 200_000_000
TIMER_CYCLES = 500
PACKET_CYCLES = 150
ROW_CYCLES = 100
SYNAPSE_CYCLES = 20
PLASTIC_SYNAPSE_CYCLES = 120
POST_EVENT_CYCLES = 20
INPUT_BUFFER_SIZE = 256
COLOUR_TICKS = 15  # 4 colour bits: lateness up to 15 ticks is known to the receiver


def budget_cycles(dt: float, time_scale_factor: int) -> int:
    """Cycles a core has per tick: ``200 MHz × dt × time_scale_factor``."""
    return int(round(CLOCK_HZ * dt * time_scale_factor))


def constants() -> dict[str, int]:
    """The cost constants in force (reported in the provenance)."""
    return {"clock_hz": CLOCK_HZ, "timer_cycles": TIMER_CYCLES, "packet_cycles": PACKET_CYCLES,
            "row_cycles": ROW_CYCLES, "synapse_cycles": SYNAPSE_CYCLES,
            "plastic_synapse_cycles": PLASTIC_SYNAPSE_CYCLES,
            "post_event_cycles": POST_EVENT_CYCLES, "input_buffer_size": INPUT_BUFFER_SIZE}


__all__ = ["CLOCK_HZ", "COLOUR_TICKS", "INPUT_BUFFER_SIZE", "PACKET_CYCLES", "PLASTIC_SYNAPSE_CYCLES",
           "POST_EVENT_CYCLES", "ROW_CYCLES", "SYNAPSE_CYCLES", "TIMER_CYCLES", "budget_cycles",
           "constants"]
