#!/usr/bin/env bash
# The prepared GPU check of issue 13 (benchmarks/gpu_check.py): CUDA tests, CUBA (torch CUDA
# beside numba threads), numba thread scaling, the BPTT step beside snnTorch and SpikingJelly,
# bench rules on MNIST-10k on CUDA, Brian2CUDA -> one JSON (default gpu_check.json).
# Usage: bash benchmarks/gpu_check.sh [--out FILE] [--budget SECONDS] [--only STAGES]  (GPU machine)
#        bash benchmarks/gpu_check.sh --cpu [--tests] [--out FILE]      (the CPU dry run, CI)
#        bash benchmarks/gpu_check.sh --prepare   (here, once: wheels the device lacks + MNIST
#                                                  into .gpu_carry/, git-ignored; carry it)
# Stays under 8 minutes on a fresh machine: stages share a 455 s budget; killed at 478 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
CARRY=.gpu_carry
if [ "${1:-}" = "--prepare" ]; then
    mkdir -p "$CARRY/wheels" "$CARRY/mnist"
    grep -qx "/$CARRY/" .git/info/exclude 2>/dev/null || echo "/$CARRY/" >> .git/info/exclude
    # The device's image (python 3.12, x86-64) has torch, numba, h5py, ... but not these.
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$CARRY/wheels" \
        snntorch==1.0.0 spikingjelly==2.0.0 loguru==0.7.3 SciencePlots==2.2.2 \
        brian2==2.10.1 brian2cuda==1.0b1
    data="${SYNAPTICA_DATA:-../shared/data/mnist}"
    cp "$data"/*.gz "$CARRY/mnist/" 2>/dev/null || echo "gpu_check: no MNIST under $data" >&2
    du -sh "$CARRY"
    exit 0
fi
if [ "$PY" = python3 ] && compgen -G "$CARRY/wheels/*.whl" > /dev/null; then  # the device
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gpu_check_site "$CARRY"/wheels/*.whl
    export PYTHONPATH="/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}"
fi
[ -d "$CARRY/mnist" ] && export SYNAPTICA_DATA="${SYNAPTICA_DATA:-$PWD/$CARRY/mnist}"
if [ -z "${CUDA_PATH:-}" ] && ! command -v nvcc > /dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
    # Brian2CUDA needs nvcc: the CUDA toolkit's pip wheels put it under site-packages/nvidia
    nvcc=$("$PY" -c 'import glob, site; print(next(iter(sorted(p for d in site.getsitepackages()
        for p in glob.glob(d + "/nvidia/**/bin/nvcc", recursive=True))), ""))' 2>/dev/null || true)
    [ -n "$nvcc" ] && export CUDA_PATH="$(dirname "$(dirname "$nvcc")")"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec timeout 478 "$PY" benchmarks/gpu_check.py "$@"
