"""Brian2CUDA as a peer of ``synaptica bench cuba --vs brian2cuda``: where it can run, and
which Python runs it.

Brian2CUDA (Alevi et al. 2022) is Brian2's ``cuda_standalone`` device: the CUBA script of
:mod:`snn.peers.brian2_cuba` with ``import brian2cuda`` and ``set_device("cuda_standalone")``
is generated as C++/CUDA, compiled with ``nvcc`` and run on the GPU. It needs

- an NVIDIA GPU, which Brian2CUDA finds with ``nvidia-smi``;
- the CUDA toolkit's ``nvcc``, found as Brian2CUDA looks for it: ``$CUDA_PATH/bin``, ``PATH``,
  ``/usr/local/cuda/bin``, ``/opt/cuda/bin`` (its ``cuda_path`` preference comes first);
- Brian2CUDA itself, which pins one Brian2 release (1.0a7: brian2 2.8.0; 1.0b1: 2.10.1, Python
  >= 3.12), so it lives in its own environment, not in the ``peers`` extra (brian2 2.9). The
  peer runs in the Python named by ``SYNAPTICA_BRIAN2CUDA_PYTHON`` (default: this one), with
  this repository on its path.

:func:`unavailable` says what is missing, so the command refuses before any work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PYTHON_VARIABLE = "SYNAPTICA_BRIAN2CUDA_PYTHON"


def interpreter() -> str:
    """The Python that runs the Brian2CUDA peer (``$SYNAPTICA_BRIAN2CUDA_PYTHON`` or this
    one)."""
    return os.environ.get(PYTHON_VARIABLE) or sys.executable


def find_nvcc() -> str | None:
    """``nvcc`` where Brian2CUDA looks for it (``$CUDA_PATH/bin``, ``PATH``,
    ``/usr/local/cuda/bin``, ``/opt/cuda/bin``), or None."""
    candidates = []
    if os.environ.get("CUDA_PATH"):
        candidates.append(Path(os.environ["CUDA_PATH"]) / "bin" / "nvcc")
    on_path = shutil.which("nvcc")
    if on_path:
        candidates.append(Path(on_path))
    candidates += [Path("/usr/local/cuda/bin/nvcc"), Path("/opt/cuda/bin/nvcc")]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def gpus() -> list[str]:
    """The NVIDIA GPUs ``nvidia-smi`` lists (name, compute capability), or none."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def installed(python: str | None = None) -> bool:
    """Whether ``python`` (default :func:`interpreter`) can import brian2cuda."""
    python = python or interpreter()
    try:
        out = subprocess.run([python, "-c", "import importlib.util, sys; "
                              "sys.exit(importlib.util.find_spec('brian2cuda') is None)"],
                             capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def unavailable() -> str | None:
    """None where Brian2CUDA can run here, else a message saying what is missing and how to
    provide it."""
    missing = []
    if not gpus():
        missing.append("an NVIDIA GPU (nvidia-smi lists none)")
    if find_nvcc() is None:
        missing.append("the CUDA toolkit's nvcc (not in $CUDA_PATH/bin, PATH, /usr/local/cuda/bin "
                       "or /opt/cuda/bin; set CUDA_PATH)")
    python = interpreter()
    if not installed(python):
        missing.append(f"brian2cuda importable by {python} (install it in its own environment and "
                       f"point {PYTHON_VARIABLE} at that environment's python)")
    if not missing:
        return None
    return ("--vs brian2cuda needs " + "; ".join(missing)
            + ". See docs/benchmarks.md (Brian2CUDA).")


def environment() -> dict[str, str]:
    """The environment of the peer subprocess: this repository on ``PYTHONPATH`` (the peer's
    Python may be another environment's)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else f"{root}{os.pathsep}{path}"}


__all__ = ["PYTHON_VARIABLE", "environment", "find_nvcc", "gpus", "installed", "interpreter",
           "unavailable"]
