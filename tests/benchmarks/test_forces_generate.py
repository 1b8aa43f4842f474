"""``benchmarks/forces/generate.py``: splits, shapes, determinism, and EMT forces are -dE/dx."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    path = ROOT / "benchmarks" / "forces" / "generate.py"
    spec = importlib.util.spec_from_file_location("forces_generate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_data_set_is_deterministic_with_disjoint_splits():
    gen = _generator()
    kwargs = {"temperatures": (300.0, 900.0), "frames": (3, 2, 2), "stride": 2, "seed": 7}
    a, b = gen.generate(**kwargs), gen.generate(**kwargs)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert a["train_pos"].shape == (6, 13, 3) and a["valid_energy"].shape == (4,)
    assert a["test_forces"].shape == (4, 13, 3) and list(a["numbers"]) == [29] * 13
    assert list(a["train_temperature"]) == [300.0] * 3 + [900.0] * 3
    assert not np.allclose(a["train_pos"][:2], a["valid_pos"][:2])
    assert np.abs(a["train_pos"].mean(axis=1)).max() < 1e-12


def test_recorded_forces_are_minus_the_energy_gradient():
    """The stored forces are the EMT forces of the stored (centred) positions."""
    from ase import Atoms
    from ase.calculators.emt import EMT

    arrays = _generator().generate(temperatures=(600.0,), frames=(1, 1, 1), stride=1)
    pos, forces = arrays["train_pos"][0], arrays["train_forces"][0]
    atoms = Atoms(numbers=arrays["numbers"], positions=pos, calculator=EMT())
    step, fd = 1e-5, np.zeros_like(pos)
    for i in range(len(pos)):
        for k in range(3):
            for sign in (1, -1):
                moved = pos.copy()
                moved[i, k] += sign * step
                atoms.set_positions(moved)
                fd[i, k] -= sign * atoms.get_potential_energy() / (2 * step)
    assert np.abs(fd - forces).max() < 1e-5
    atoms.set_positions(pos)
    assert abs(atoms.get_potential_energy() - arrays["train_energy"][0]) < 1e-10
