"""Generate the copper-cluster energy-and-forces data set with ase (EMT + Langevin dynamics).

Protocol (see ``benchmarks/forces/README.md``): a Cu13 icosahedron (ase's EMT potential, Jacobsen
et al. 1996) is heated and sampled by Langevin molecular dynamics at several temperatures, one
independent trajectory per (temperature, split), so train, valid and test configurations never
come from the same trajectory. Every ``stride`` steps the positions (Å), the potential energy
(eV) and the forces (eV/Å, ``F = -dE/dx``) are recorded. Trajectories are centred (EMT is
translation invariant), so the network sees clusters near the origin.

Output: an ``.npz`` with ``{split}_pos (S, N, 3)``, ``{split}_energy (S,)``,
``{split}_forces (S, N, 3)``, ``{split}_temperature (S,)`` (float64) for the splits train,
valid and test, plus ``numbers (N,)`` (atomic numbers) and ``seed``.

Usage::

    python benchmarks/forces/generate.py --out plugins/symkit-graph/symkit_graph/data/cu13.npz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SPLITS = {"train": 0, "valid": 1, "test": 2}


def trajectory(symbol: str, shells: int, temperature_k: float, n_frames: int, stride: int,
               seed: int, timestep_fs: float = 2.0, burn_in: int = 200) -> dict[str, np.ndarray]:
    """One Langevin trajectory of an icosahedral cluster at ``temperature_k``.

    Args:
        symbol: chemical element (EMT knows Al, Cu, Ag, Au, Ni, Pd, Pt).
        shells: icosahedron shells (2: 13 atoms, 3: 55 atoms).
        temperature_k: bath temperature (K); friction 0.02 / fs.
        n_frames: recorded configurations; stride: MD steps between two of them.
        seed: seeds the initial Maxwell-Boltzmann velocities and the Langevin noise.
        timestep_fs: MD time step (fs); burn_in: unrecorded steps before the first frame.

    Returns:
        ``pos (n_frames, N, 3)``, ``energy (n_frames,)``, ``forces (n_frames, N, 3)``.
    """
    from ase import units
    from ase.calculators.emt import EMT
    from ase.cluster import Icosahedron
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    rng = np.random.RandomState(seed)
    atoms = Icosahedron(symbol, noshells=shells)
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_k, friction=0.02,
                   fixcm=False, rng=rng)
    dyn.run(burn_in)
    pos, energy, forces = [], [], []
    for _ in range(n_frames):
        dyn.run(stride)
        x = atoms.get_positions()
        pos.append(x - x.mean(axis=0))
        energy.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    return {"pos": np.asarray(pos), "energy": np.asarray(energy), "forces": np.asarray(forces)}


def generate(symbol: str = "Cu", shells: int = 2, temperatures=(300.0, 600.0, 900.0),
             frames: tuple[int, int, int] = (400, 100, 100), stride: int = 10, seed: int = 0
             ) -> dict[str, np.ndarray]:
    """All splits: for each temperature, trajectory seeds ``seed * 1000 + 10 * t + split``.

    Args:
        frames: configurations per temperature for (train, valid, test).
    """
    from ase.cluster import Icosahedron

    out: dict[str, np.ndarray] = {}
    for split, s in SPLITS.items():
        parts = [trajectory(symbol, shells, t, frames[s], stride, seed * 1000 + 10 * i + s)
                 for i, t in enumerate(temperatures)]
        for key in ("pos", "energy", "forces"):
            out[f"{split}_{key}"] = np.concatenate([p[key] for p in parts])
        out[f"{split}_temperature"] = np.repeat(np.asarray(temperatures, dtype=float), frames[s])
    out["numbers"] = Icosahedron(symbol, noshells=shells).get_atomic_numbers()
    out["seed"] = np.asarray(seed)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--symbol", default="Cu")
    parser.add_argument("--shells", type=int, default=2)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 600.0, 900.0])
    parser.add_argument("--frames", type=int, nargs=3, default=[400, 100, 100],
                        metavar=("TRAIN", "VALID", "TEST"))
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    arrays = generate(args.symbol, args.shells, tuple(args.temperatures), tuple(args.frames),
                      args.stride, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    sizes = {s: len(arrays[f"{s}_energy"]) for s in SPLITS}
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {sizes} configurations of "
          f"{len(arrays['numbers'])} atoms in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
