#!/usr/bin/env bash
# The prepared GPU check of issue 13: CUDA tests, CUBA (torch CUDA beside numba threads), the
# BPTT step beside snnTorch, bench rules on MNIST-10k on CUDA -> one JSON (default gpu_check.json).
# Usage: bash benchmarks/gpu_check.sh [--out FILE] [--budget SECONDS]   (a GPU machine)
#        bash benchmarks/gpu_check.sh --cpu [--tests] [--out FILE]      (the CPU dry run, CI)
# Stays under 8 minutes on a fresh machine: no stage starts after 480 s; killed at 530 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec timeout 530 "$PY" benchmarks/gpu_check.py "$@"
