"""The shipped charged 5-body data set."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from symkit_graph._nbody import load_arrays, nbody

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "nbody" / "charged5.npz"


@pytest.mark.parametrize(("split", "size"), [("train", 3000), ("valid", 2000), ("test", 2000)])
def test_split_sizes_and_fields(split, size):
    ds = nbody(split)
    assert len(ds) == size
    item = ds[0]
    assert {k: tuple(v.shape) for k, v in item.items()} == {
        "pos": (5, 3), "vel": (5, 3), "charge": (5, 1), "target": (5, 3)
    }
    assert all(v.dtype == torch.float32 for v in item.values())
    assert set(ds.fields["charge"].unique().tolist()) == {-1.0, 1.0}


def test_max_samples_and_dtype():
    ds = nbody("valid", max_samples=10, dtype="float64")
    assert len(ds) == 10 and ds[3]["pos"].dtype == torch.float64
    np.testing.assert_array_equal(ds.fields["pos"].numpy(), load_arrays("valid")["loc_t30"][:10])


def test_no_motion_baseline():
    """Predicting no motion gives test MSE 0.2715 (the data README's reference)."""
    ds = nbody("test", dtype="float64")
    mse = (ds.fields["pos"] - ds.fields["target"]).square().mean().item()
    assert round(mse, 4) == 0.2715


@pytest.mark.skipif(not SHARED.exists(), reason="shared data folder not present")
def test_matches_shared_copy():
    shipped = resources.files("symkit_graph.data").joinpath("charged5.npz").read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == hashlib.sha256(SHARED.read_bytes()).hexdigest()
