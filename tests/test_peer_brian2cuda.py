"""Brian2CUDA as a peer of ``bench cuba`` (snn.peers.brian2cuda): refused with the reason where
it cannot run (no GPU, no nvcc, not installed), found where everything is there, and its code
path (``import brian2cuda``, ``set_device("cuda_standalone")``, the compiled binary re-run)
works with a stand-in device."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snn.peers import brian2cuda

ROOT = Path(__file__).resolve().parents[1]


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_cuda(tmp_path, monkeypatch):
    """A machine with a GPU (nvidia-smi lists an H200), nvcc under $CUDA_PATH and a Python
    that has brian2cuda; the test removes pieces."""
    bin_dir = tmp_path / "bin"
    _script(bin_dir / "nvidia-smi", 'echo "NVIDIA H200, 9.0"\n')
    _script(tmp_path / "cuda" / "bin" / "nvcc", "exit 0\n")
    _script(tmp_path / "py-with", "exit 0\n")  # stands for a python that finds brian2cuda
    _script(tmp_path / "py-without", "exit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    monkeypatch.setenv("CUDA_PATH", str(tmp_path / "cuda"))
    monkeypatch.setenv(brian2cuda.PYTHON_VARIABLE, str(tmp_path / "py-with"))
    return tmp_path


def test_found_where_gpu_nvcc_and_brian2cuda_are_there(fake_cuda):
    assert brian2cuda.gpus() == ["NVIDIA H200, 9.0"]
    assert brian2cuda.find_nvcc() == str(fake_cuda / "cuda" / "bin" / "nvcc")
    assert brian2cuda.interpreter() == str(fake_cuda / "py-with")
    assert brian2cuda.unavailable() is None


def test_each_missing_piece_is_named(fake_cuda, monkeypatch):
    monkeypatch.setenv(brian2cuda.PYTHON_VARIABLE, str(fake_cuda / "py-without"))
    reason = brian2cuda.unavailable()
    assert reason.startswith("--vs brian2cuda needs brian2cuda importable by")
    assert str(fake_cuda / "py-without") in reason and "GPU" not in reason and "nvcc" not in reason
    monkeypatch.setenv(brian2cuda.PYTHON_VARIABLE, str(fake_cuda / "py-with"))
    (fake_cuda / "cuda" / "bin" / "nvcc").unlink()
    if not any(Path(p).is_file() for p in ("/usr/local/cuda/bin/nvcc", "/opt/cuda/bin/nvcc")):
        assert "the CUDA toolkit's nvcc" in brian2cuda.unavailable()
    (fake_cuda / "bin" / "nvidia-smi").unlink()
    assert "an NVIDIA GPU (nvidia-smi lists none)" in brian2cuda.unavailable()


def test_peer_environment_finds_this_repository(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    assert brian2cuda.environment()["PYTHONPATH"] == f"{ROOT}{os.pathsep}/elsewhere"


@pytest.mark.skipif(brian2cuda.unavailable() is None, reason="Brian2CUDA can run here (the GPU "
                    "check runs it)")
def test_refused_with_the_reason_on_this_machine(tmp_path, capsys):
    from snn.bench.cuba import run_peer_cuba
    from snn.cli import main

    assert main(["bench", "cuba", "--vs", "brian2cuda", "--neurons", "100", "--duration", "0.01"]) == 2
    err = capsys.readouterr().err
    assert "--vs brian2cuda needs" in err and "docs/benchmarks.md" in err
    with pytest.raises(RuntimeError, match="--vs brian2cuda needs"):
        run_peer_cuba("brian2cuda", 100, 0.01, seed=1)


STAND_IN = '''"""A stand-in for brian2cuda on a machine without a GPU: registers Brian2's C++ standalone
device under the name cuda_standalone, as brian2cuda registers its CUDA device."""
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
from brian2.devices.device import all_devices

__version__ = "stand-in"
all_devices["cuda_standalone"] = CPPStandaloneDevice()
'''


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("brian2") is None, reason="brian2 not installed")
def test_cuda_standalone_code_path_with_a_stand_in_device(tmp_path):
    (tmp_path / "brian2cuda").mkdir()
    (tmp_path / "brian2cuda" / "__init__.py").write_text(STAND_IN)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-m", "snn.peers.brian2_cuba", "--device", "cuda_standalone",
                          "--neurons", "400", "--duration", "0.2", "--repeat", "2"],
                         capture_output=True, text=True, env=env, timeout=900, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["simulator"] == "brian2-cuda_standalone"
    assert report["brian2cuda_version"] == "stand-in"
    assert len(report["wall_s_runs"]) == 2 and report["wall_s"] > 0 and report["rate_hz"] > 0
