"""Train the five configs/forces models at one equal budget and report energy and force errors.

For each config and seed: ``symkit train`` (Python API) with the given overrides, then the best
(validation force MAE) checkpoint is evaluated on the test split: energy MAE per atom (eV/atom),
force MAE (eV/Å, per component), and the run's measured equivariance error. Wall time is the
whole run (training, validation, test, equivariance check).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/forces/table.py --seeds 0 --epochs 10 --out results.json

``--jobs N`` trains N (config, seed) runs at once in separate processes (one torch thread each):
for a machine with N idle cores, not for a shared one. ``train.device`` follows the config
(``auto``: CUDA when present); the test errors are computed on the model's device.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ["gnn", "fa_gnn", "canon_gnn", "ga_gnn", "egnn"]


def held_out_errors(model, batch_size: int = 100) -> dict[str, float]:
    """Energy MAE per atom and force MAE of ``model`` on the test split (float32)."""
    import torch
    from symkit_graph._clusters import clusters

    from symkit.losses import mae, mae_per_node

    data = clusters("test")
    device = next(model.parameters()).device
    e_fn, f_fn = mae_per_node("energy", "energy"), mae("forces", "forces")
    model.eval()
    e_sum = f_sum = 0.0
    torch.manual_seed(0)
    for start in range(0, len(data), batch_size):
        batch = {k: v[start:start + batch_size].to(device) for k, v in data.fields.items()}
        with torch.no_grad():
            out = model(batch)
        n = batch["pos"].shape[0]
        e_sum += float(e_fn(out, batch)) * n
        f_sum += float(f_fn(out, batch)) * n
    return {"energy_mae_per_atom": e_sum / len(data), "force_mae": f_sum / len(data)}


def run_one(name: str, seed: int, epochs: int, overrides: list[str]) -> dict:
    """Train one config on one seed and return its table row."""
    from symkit.runner.trainer import train

    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = train(ROOT / "configs" / "forces" / f"{name}.yaml", [
        f"train.epochs={epochs}", f"train.seed={seed}", "train.progress=false",
        "train.threads=1", "tracking.enabled=false", *overrides])
    wall = time.perf_counter() - start
    errors = held_out_errors(result.model)
    return {"config": name, "seed": seed, "epochs": epochs, "overrides": overrides,
            "wall_s": round(wall, 1), "load_at_start": round(load, 2),
            "machine": f"{platform.node()} ({os.cpu_count()} cores), "
                       f"device {next(result.model.parameters()).device}",
            **errors, "equivariance": result.equivariance}


def _run_job(job: tuple) -> dict:
    return run_one(*job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=CONFIGS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (processes)")
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides for every run")
    args = parser.parse_intermixed_args()

    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    todo = [(name, seed, args.epochs, list(args.overrides))
            for name in args.configs for seed in args.seeds]

    def record(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)
        args.out.write_text(json.dumps(rows, indent=1))

    if args.jobs <= 1:
        for job in todo:
            record(run_one(*job))
        return
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for row in pool.imap_unordered(_run_job, todo, chunksize=1):
            record(row)  # as each finishes, so a run cut short keeps what it has


if __name__ == "__main__":
    main()
