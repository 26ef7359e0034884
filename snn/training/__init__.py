"""Data-set training on PyTorch: layers, surrogate gradients, encoders, the per-model training
steps and the fused CPU and CUDA kernels.

* :mod:`snn.training.layers`: ``Linear``, ``Conv2d``, ``RecurrentLinear``, ``Sequential``, ...
  (also importable as :mod:`snn.layers`);
* :mod:`snn.training.surrogate`: surrogate gradients (also :mod:`snn.surrogate`);
* :mod:`snn.training.encoding`: spike encoders and decoders (also :mod:`snn.encoding`);
* :mod:`snn.training.neurons`, :mod:`~snn.training.probabilistic`, :mod:`~snn.training.ultra`:
  each model's batched training step, registered with ``@implements(Model, "training")``;
* :mod:`snn.training.fused_cpu`: numba-compiled forward/backward loops of the LIF layer;
* :mod:`snn.training.fused_triton`: their CUDA counterpart, Triton kernels of the LIF layer and
  the LI read-out; :mod:`snn.training.fused_gpu` decides when they run and wraps them in
  autograd nodes.

Importing this package does not import torch; its modules do.
"""
