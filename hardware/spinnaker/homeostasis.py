"""Synaptic scaling on the emulated cores (:class:`plasticity.SynapticScaling`).

sPyNNaker has no such rule; this is how a core would do it with its integer arithmetic:
every ``every`` ticks, each post neuron's 16-bit input weights of the projection are summed
(``S``), and each weight becomes ``floor(w16 · T / S)`` with ``T`` the target sum in 16-bit
units of the synapse type (``rint(target · 2**(15 - r))`` in nA). Integer division truncates,
so a column's sum ends at or below ``T``. The pass touches every synapse of the projection
(on a board, a DMA read and write of the rows); its cycles are not charged to the cost model.
"""

from __future__ import annotations

import numpy as np

from hardware.spinnaker import fixed
from hardware.spinnaker.stdp import SpiNNakerPlasticity, register_mechanism
from plasticity.homeostasis import SynapticScaling


@register_mechanism(SynapticScaling)
class SpiNNakerSynapticScaling(SpiNNakerPlasticity):
    """Column sums of the 16-bit weights, then one integer rescale per synapse."""

    def arrays(self, mech, proj, n_pre, n_post, dt, shifts, scale, w16):
        where = f"SynapticScaling on projection {proj.name!r}"
        if np.any(proj.synapse_weights() < 0):
            raise ValueError(f"{where}: scaling acts on excitatory 16-bit magnitudes on the chip; "
                             "use non-negative weights")
        if scale.size and np.ptp(scale) > 1e-12 * np.max(scale):
            raise ValueError(f"{where}: the post neurons differ in tau_m; give them one tau_m")
        s = float(scale[0]) if scale.size else 1.0
        target = int(np.rint(mech.target * s * 2.0 ** (15 - shifts[0])))
        if not 0 < target <= fixed.RING_BUFFER_MAX * max(1, n_pre):
            raise ValueError(f"{where}: target {mech.target:g} is {target} in 16-bit units of the "
                             f"excitatory type (r = {shifts[0]}); it must be positive")
        return {"sums": np.zeros(n_post, np.int64), "target16": target, "every": int(mech.every)}

    def tick_end(self, mech):
        return """
if ($k + 1) % @every == 0:
    for %j in range(@n_post):
        @sums[%j] = 0
    for %q in range(@w16.shape[0]):
        @sums[@ind[%q]] += @w16[%q]
    for %q in range(@w16.shape[0]):
        %s = @sums[@ind[%q]]
        if %s > 0:
            @w16[%q] = (np.int64(@w16[%q]) * @target16) // %s
"""


__all__ = ["SpiNNakerSynapticScaling"]
