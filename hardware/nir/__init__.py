"""NIR (Neuromorphic Intermediate Representation) export and import.

:func:`to_nir` turns a trained :class:`snn.layers.Sequential` stack or an engine
:class:`snn.Network` into a ``nir.NIRGraph``; :func:`write_nir` writes it (atomically);
:func:`from_nir` reads a graph (ours, snnTorch's, Norse's, or any graph of the primitives
below) back into a layer stack or a ``Network``.

Conventions (see ``docs/nir.md`` for the full mapping and what each importer does with them):

* **Time.** NIR stores continuous-time parameters and no time step; every importer
  integrates with forward Euler at a step it chooses (snnTorch: 1e-4 s fixed; Norse: its
  ``dt`` argument, 1e-3 s by default). We export the *Euler-equivalent* parameters at the
  export step ``dt`` (default :data:`DT_REF` = 1e-4 s, snnTorch's): a per-step decay ``beta``
  becomes ``tau = dt / (1 - beta)``, so an importer stepping at that ``dt`` reproduces our
  discrete dynamics exactly. Our own step, time constants, reset mode and units go in the
  graph's metadata. :func:`from_nir` needs ``dt`` explicitly for the same reason.
* **Neurons.** A feed-forward LIF layer with delta synapses is an ``LIF`` node with
  ``r = 1``, ``v_leak = i_bias`` (0), its ``v_reset`` and its incoming weights multiplied by
  ``1 / (1 - beta)`` (Euler multiplies the input by ``dt / tau = 1 - beta``); an ``LI``
  read-out likewise. A recurrent layer, or a layer with exponential synaptic currents, is a
  ``CubaLIF`` with ``tau_syn = dt / (1 - alpha)``, ``tau_mem = dt / (1 - beta)``,
  ``r = tau_mem / dt`` and ``w_in = ke tau_syn / dt`` (``ke``: our current-to-membrane
  coupling; 1 for delta synapses, ``alpha = 0``), the form that loads identically in
  snnTorch and Norse (``to_nir(..., cubalif=True)`` writes every LIF layer so). A recurrent
  layer is a nested ``NIRGraph`` (input, neuron, ``w_rec``, output).
* **Refused** (``ValueError`` naming the layer, population or projection): plasticity,
  meta-neurons and other models NIR has no node for, max pooling, ReLU layers, two synapse
  types with different time constants on one population, batched parameters, layers with
  ``v_rest != 0`` (NIR has no initial state), and
  reset-by-subtraction or refractory periods unless ``accept`` names them (NIR declares
  reset to ``v_reset``; most importers reset to zero). Engine delays are carried by
  ``Delay`` nodes, one ``Linear`` + ``Delay`` per distinct delay of a projection.
"""

from hardware.nir.convert import (
    ACCEPTABLE,
    DT_REF,
    from_nir,
    read_nir,
    synaptica_metadata,
    to_nir,
    write_nir,
)

__all__ = ["ACCEPTABLE", "DT_REF", "from_nir", "read_nir", "synaptica_metadata", "to_nir", "write_nir"]
