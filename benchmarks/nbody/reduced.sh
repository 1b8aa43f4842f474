#!/usr/bin/env bash
# The n-body methods not measured on the 16-core host, with a reduced budget on a shared
# 2-core machine: one after another, 1 thread each, nice 5, seed 0, 60 epochs, validation
# every 5 epochs. Results: $OUT/results.json (see benchmarks/nbody/sweep.py).
# Usage: bash benchmarks/nbody/reduced.sh [OUT] [EPOCHS]
set -euo pipefail
OUT=${1:-/tmp/nbody-reduced}
EPOCHS=${2:-60}
PY=${PY:-.venv/bin/python}
common=("train.epochs=$EPOCHS" train.val_every=5 train.seed=0 tracking.enabled=false)
run() {  # run NAME CONFIG [KEY=VALUE ...]
  local name=$1 config=$2; shift 2
  "$PY" benchmarks/nbody/sweep.py "$config" --out "$OUT" --threads 1 --nice 5 --sequential \
    --variant "$name" "${common[@]}" "$@"
}
run gnn configs/nbody/gnn.yaml model.backbone.hidden=64
run lc_gnn configs/nbody/lc_gnn.yaml
run fa_transformer configs/nbody/fa_transformer.yaml
run ga_gnn configs/nbody/ga_gnn.yaml model.backbone.hidden=64
run ps_gnn configs/nbody/ps_gnn.yaml
