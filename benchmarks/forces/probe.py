"""A quick learning probe for one configs/forces model: a plain Adam loop, no runner.

Trains ``configs/forces/CONFIG.yaml`` (with ``key=value`` overrides) for a number of steps on
random batches of 25 training frames with the loss ``MSE(forces) + w * MSE(energy)`` and prints
the force MAE and the energy MAE per atom on the first 100 validation frames (whose zero-force
force MAE is 0.310 eV/Å). This is how the ablation in ``benchmarks/forces/README.md`` was
measured; minutes on one core for 100 steps of the cheap configs.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/forces/probe.py gnn --lr 2e-3 --steps 101 \\
        model.backbone.zero_readout=false
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a name in configs/forces (gnn, egnn, canon_gnn, ...)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--steps", type=int, default=101)
    parser.add_argument("--energy-weight", type=float, default=0.05)
    parser.add_argument("--every", type=int, default=50, help="evaluate every this many steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_intermixed_args()

    import torch
    from symkit_graph._clusters import clusters

    from symkit.runner.parts import build_model, materialize, read_config

    torch.set_num_threads(1)
    run = read_config(ROOT / "configs" / "forces" / f"{args.config}.yaml", args.overrides)
    torch.manual_seed(args.seed)
    model = build_model(run)
    train = clusters("train")
    materialize(model, train)
    fields = train.fields
    valid = {k: v[:100] for k, v in clusters("valid").fields.items()}
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    for step in range(args.steps):
        idx = torch.randint(0, len(fields["pos"]), (25,))
        batch = {k: v[idx] for k, v in fields.items()}
        model.train()
        out = model(batch)
        loss_f = (out["forces"] - batch["forces"]).square().mean()
        loss_e = (out["energy"] - batch["energy"]).square().mean()
        opt.zero_grad()
        (loss_f + args.energy_weight * loss_e).backward()
        opt.step()
        if step % args.every == 0 or step == args.steps - 1:
            model.eval()
            with torch.no_grad():
                v = model(valid)
            f_mae = float((v["forces"] - valid["forces"]).abs().mean())
            e_mae = float((v["energy"] - valid["energy"]).abs().mean()) / valid["pos"].shape[1]
            print(f"step {step}: train force MSE {float(loss_f):.4f} energy MSE "
                  f"{float(loss_e):.4f} | valid force MAE {f_mae:.4f} energy MAE/atom "
                  f"{e_mae:.4f} | {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
