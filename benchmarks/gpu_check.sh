#!/usr/bin/env bash
# The GPU check: one JSON line per figure (CUDA tests, 305M training step, paper planning setting,
# 2-process DDP), <= 8 minutes on one H100/H200; --cpu-smoke runs the same code at tiny sizes (CI).
# Figures go into notes/gpu.md. Details: benchmarks/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
exec timeout 480 "$PY" benchmarks/gpu_check.py "$@"
