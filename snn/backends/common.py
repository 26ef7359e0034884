"""Pieces every simulation backend needs, whatever it runs on.

* :func:`render_fragment`: fills the ``$name``/``@name``/``%name`` tokens of a model's or a
  mechanism's code fragment (the numba backend assembles its run loop from such fragments; a
  fixed-point target can assemble integer fragments the same way);
* :func:`csc_index`, :func:`mechanisms`: a projection's CSC view and its plasticity
  mechanisms;
* :func:`weights_of`, :func:`check_weights`, :func:`check_modulator`: the checks behind
  every backend's ``weights`` / ``set_weights`` / ``set_modulator``.

The per-step constants of the built-in models are in :mod:`snn.backends.constants`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"([$@%])([A-Za-z_]\w*)")


def render_fragment(code: str, mapping: dict[str, str], indent: int) -> str:
    """``code`` with every ``$name``/``@name``/``%name`` token replaced from ``mapping``,
    indented by ``indent`` spaces (blank lines stay empty); an unknown token is a KeyError."""

    def sub(match):
        key = match.group(1) + match.group(2)
        if key not in mapping:
            raise KeyError(f"fragment uses unknown name {key!r}")
        return mapping[key]

    text = _TOKEN.sub(sub, code.strip("\n"))
    pad = " " * indent
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def csc_index(indptr: np.ndarray, indices: np.ndarray, n_post: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSC view of a CSR projection: column pointers by post neuron, and for each entry the
    synapse's index in the CSR arrays and its presynaptic neuron (ascending within a column)."""
    order = np.argsort(indices, kind="stable").astype(np.int64)
    cptr = np.zeros(n_post + 1, np.int64)
    np.cumsum(np.bincount(indices, minlength=n_post), out=cptr[1:])
    rows = np.repeat(np.arange(indptr.size - 1, dtype=np.int32), np.diff(indptr))
    index = np.int32 if indices.size < 2**31 else np.int64
    return cptr, order.astype(index), rows[order]


def mechanisms(plasticity) -> tuple:
    """A projection's ``plasticity`` as a tuple of mechanisms (one, several, or none)."""
    if plasticity is None:
        return ()
    return tuple(plasticity) if isinstance(plasticity, (list, tuple)) else (plasticity,)


def weights_of(built, projection: str, plastic: bool = False) -> np.ndarray:
    """The weight array of the projection named ``projection`` (its stored form: one value
    for a static homogeneous projection); ``plastic=True`` insists on a plastic one."""
    for proj in built.projections:
        if proj.name == projection:
            if plastic and not proj.plasticity:
                raise ValueError(f"projection {projection!r} is not plastic; its weights are fixed "
                                 "at build time (pass plasticity= to net.connect to change them)")
            return proj.weights if not proj.homogeneous else proj.synapse_weights()
    names = ", ".join(p.name for p in built.projections) or "none"
    raise KeyError(f"no projection named {projection!r}; projections: {names}")


def check_weights(projection: str, values, built) -> np.ndarray:
    """``values`` as float64 weights for ``projection``, checked for shape and finiteness."""
    target = weights_of(built, projection, plastic=True)
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != target.shape:
        raise ValueError(f"weights for {projection!r} have shape {arr.shape}; the projection has "
                         f"{target.shape[0]} synapses (CSR order, as sim.weights returns)")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"weights for {projection!r} must be finite")
    return arr


def check_modulator(name: str, value, mechs: list) -> float:
    """``value`` as a float, after checking that one of ``mechs`` reads modulator ``name``."""
    known = sorted({m.modulator for m in mechs if getattr(m, "modulator", None) is not None})
    if name not in known:
        raise KeyError(f"no mechanism reads a modulator named {name!r}; modulators: "
                       f"{', '.join(known) or 'none'}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise TypeError(f"modulator value must be a finite number, got {value!r}")
    return float(value)


#: The fragment of a spike-source array (steps and indices sorted by step, a persistent
#: pointer): the same integer walk on every backend that assembles fragments.
SPIKE_ARRAY_BODY = """
while @ptr[0] < @ev_steps.shape[0] and @ev_steps[@ptr[0]] <= $k:
    if @ev_steps[@ptr[0]] == $k:
        @spikes[@nspikes] = @ev_idx[@ptr[0]]
        @nspikes += 1
    @ptr[0] += 1
"""


def spike_compaction(i: int) -> str:
    """The fragment that turns population ``i``'s spike flags ``F{i}`` (and their per-word
    summary ``FW{i}``, eight flags a word) into the index list ``spk{i}[:nsp{i}]``: a step
    without spikes costs N/8 tests, and the neuron loop stays free of stores it cannot
    vectorise."""
    return f"""
for w in range(FW{i}.shape[0]):
    if FW{i}[w] != 0:
        for j in range(8 * w, min(8 * w + 8, N{i})):
            if F{i}[j]:
                spk{i}[nsp{i}] = j
                nsp{i} += 1"""


@dataclass
class KernelArgs:
    """Argument names and values of a generated run loop, in order."""

    names: list[str]
    values: list[object]

    def add(self, name: str, value) -> str:
        self.names.append(name)
        self.values.append(value)
        return name

_LOADED: dict[tuple[str, str], object] = {}


def kernel_cache_dir() -> Path:
    """Where generated kernels and numba's cache live (``SYNAPTICA_CACHE_DIR`` overrides)."""
    root = os.environ.get("SYNAPTICA_CACHE_DIR")
    path = Path(root) if root else Path.home() / ".cache" / "synaptica" / "kernels"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError:
        path = Path(tempfile.gettempdir()) / "synaptica-kernels"
        path.mkdir(parents=True, exist_ok=True)
    return path


def load_kernel(source: str, prefix: str):
    """The ``run_loop`` of a generated module, written once per source to
    ``kernel_cache_dir()/<prefix>_<hash>.py`` (atomically) so numba's ``cache=True`` can reuse
    its compiled code across processes; ``prefix`` keeps backends' files apart."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    key = (prefix, digest)
    if key in _LOADED:
        return _LOADED[key]
    directory = kernel_cache_dir()
    path = directory / f"{prefix}_{digest}.py"
    if not path.exists() or path.read_text() != source:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(source)
        os.replace(tmp, path)
    name = f"synaptica_{prefix}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _LOADED[key] = module.run_loop
    return module.run_loop


__all__ = [
    "SPIKE_ARRAY_BODY", "KernelArgs", "check_modulator", "check_weights", "csc_index", "kernel_cache_dir",
    "load_kernel", "mechanisms", "render_fragment", "spike_compaction",
    "weights_of",
]
