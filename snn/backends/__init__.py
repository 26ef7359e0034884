"""Backends by name, and each model's implementation per backend.

A backend is a class constructed from a :class:`~snn.network.BuiltNetwork` with a
``run(duration)`` method. A model (or plasticity mechanism) becomes runnable on a backend by
registering an implementation with :func:`implements`; backends look implementations up with
:func:`implementation_for` and never name concrete models, so adding a model never means
editing a backend. Third-party backends register under the ``synaptica.backends`` entry-point
group or with :func:`register_backend`. The key ``"training"`` is not a backend: under it
models register their data-set training steps (:mod:`snn.training.neurons`), which the torch
training layers look up.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

_BACKENDS: dict[str, str | type] = {"numba": "snn.backends.numba:NumbaSimulation",
                                    "torch": "snn.backends.torch:TorchSimulation"}
_IMPLEMENTATIONS: dict[tuple[str, type], object] = {}
_IMPLEMENTATION_MODULES: dict[str, list[str]] = {
    "numba": ["snn.backends.numba_models"],
    "torch": ["snn.backends.torch.neurons"],
    # Not a backend: the batched training steps of the torch layers (snn.training).
    "training": ["snn.training.neurons", "snn.training.probabilistic", "snn.training.ultra"],
}


def register_backend(name: str, target: str | type, implementations: list[str] = ()) -> None:
    """Register a backend class (or ``"module:Class"`` path) under ``name``.

    ``implementations`` lists modules to import before the backend runs (they register the
    per-model implementations).
    """
    _BACKENDS[name] = target
    _IMPLEMENTATION_MODULES.setdefault(name, []).extend(implementations)


def _load_entry_points() -> None:
    for ep in entry_points(group="synaptica.backends"):
        _BACKENDS.setdefault(ep.name, ep.value)


def available_backends() -> list[str]:
    """Names of all registered backends."""
    _load_entry_points()
    return sorted(_BACKENDS)


def get_backend(name: str) -> type:
    """The backend class registered as ``name``; imports its implementations."""
    if not isinstance(name, str) or name not in available_backends():
        raise ValueError(
            f"backend={name!r} is unknown; known backends: {', '.join(available_backends())}"
        )
    target = _BACKENDS[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
        _BACKENDS[name] = target
    for module in _IMPLEMENTATION_MODULES.get(name, []):
        importlib.import_module(module)
    return target


def implements(model_type: type, backend: str):
    """Class decorator: register the decorated class as ``model_type``'s ``backend`` implementation."""

    def register(impl):
        _IMPLEMENTATIONS[(backend, model_type)] = impl() if isinstance(impl, type) else impl
        return impl

    return register


def implementation_for(obj: object, backend: str):
    """The implementation registered for ``type(obj)`` (or a base class) on ``backend``."""
    for module in _IMPLEMENTATION_MODULES.get(backend, []):
        importlib.import_module(module)
    for cls in type(obj).__mro__:
        impl = _IMPLEMENTATIONS.get((backend, cls))
        if impl is not None:
            return impl
    raise NotImplementedError(
        f"{type(obj).__name__} has no implementation for backend {backend!r}; register one with "
        f"@snn.backends.implements({type(obj).__name__}, {backend!r})"
    )


__all__ = [
    "available_backends", "get_backend", "implementation_for", "implements", "register_backend",
]
