"""Hardware targets and formats: the layer above ``snn``, ``plasticity`` and ``rules``.

- :mod:`hardware.spinnaker`: an emulated SpiNNaker 1 machine — placement and routing
  (:func:`hardware.spinnaker.map_network`), and ``backend="spinnaker"``, sPyNNaker's
  fixed-point core programs;
- :mod:`hardware.pynn`: PyNN export (NEST, sPyNNaker);
- :mod:`hardware.nir` and :mod:`hardware.targets`: NIR and other neuromorphic formats.

Import the subpackages themselves; this package exports nothing so that ``import hardware``
stays light.
"""

__all__: list[str] = []
