# The 16-core-host n-body sweep (CPU only, GPU machine), run from the repo root with symkit
# installed there; the wheels it names were carried (omegaconf, antlr4). See benchmarks/README.md.
set -x
REPO=$(pwd)
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation .wheels/*.whl -e . -e plugins/symkit-graph 2>&1 | tail -3
which symkit; nproc; python3 -c "import torch;print(torch.__version__, torch.cuda.is_available())"
cd /tmp
( timeout 200 symkit train $REPO/configs/nbody/fa_gnn.yaml train.epochs=3 train.device=cuda tracking.enabled=false train.progress=false --json > /tmp/cuda_smoke.log 2>&1 ) &
B="model.symmetrizer.stochastic=true train.epochs=300 train.val_every=10 train.device=cpu tracking.enabled=false"
timeout 510 python3 $REPO/benchmarks/nbody/sweep.py $REPO/configs/nbody/fa_gnn.yaml --out /tmp/sweep --threads 2 --symkit $(which symkit) \
 --variant sfa64 $B \
 --variant sfa128 $B model.backbone.hidden=128 \
 --variant sfa128_lr5e4 $B model.backbone.hidden=128 optimizer.lr=5e-4 \
 --variant fa64 model.symmetrizer.stochastic=false train.epochs=300 train.val_every=10 train.device=cpu tracking.enabled=false \
 --variant sfa128_bs32 $B model.backbone.hidden=128 train.batch_size=32 \
 --variant sfa128_dist $B model.backbone.hidden=128 model.backbone.edge_distance=true \
 --variant egnn train.epochs=300 train.val_every=10 train.device=cpu tracking.enabled=false model.symmetrizer=null model.backbone.type=graph::egnn optimizer.lr=5e-4 \
 --variant sfa128_L6 $B model.backbone.hidden=128 model.backbone.layers=6
wait
cp /tmp/cuda_smoke.log $OUT/; cd /tmp && tar czf $OUT/sweep.tgz sweep/*.log sweep/results.json 2>/dev/null; ls $OUT
