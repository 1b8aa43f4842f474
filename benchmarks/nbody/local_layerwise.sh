#!/usr/bin/env bash
# Layer-wise frame averaging and local frames on charged 5-body, short pilot budgets on a
# shared 2-core machine: one after another, 1 thread, nice 5, seed 0.
# Usage: bash benchmarks/nbody/local_layerwise.sh [OUT] [LF_EPOCHS] [LWFA_EPOCHS]
set -euo pipefail
OUT=${1:-/tmp/nbody-local-layerwise}
PY=${PY:-.venv/bin/python}
common=(train.val_every=5 train.seed=0 tracking.enabled=false)
"$PY" benchmarks/nbody/sweep.py configs/nbody/lf_gnn.yaml --out "$OUT" --threads 1 --nice 5 \
  --sequential --variant lf_gnn_e"${2:-25}" "train.epochs=${2:-25}" "${common[@]}"
"$PY" benchmarks/nbody/sweep.py configs/nbody/lwfa_gnn.yaml --out "$OUT" --threads 1 --nice 5 \
  --sequential --variant lwfa_gnn_e"${3:-15}" "train.epochs=${3:-15}" "${common[@]}"
