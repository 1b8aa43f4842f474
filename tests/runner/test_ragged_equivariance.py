"""The equivariance error of ragged batches: one group element per sample, on all its nodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symkit.model import build_model
from symkit.runner.data import first_batch
from symkit.runner.evaluation import ragged_equivariance

IN = {"pos": {"rep": "vector", "nodes": True}}
OUT = {"force": {"rep": "vector", "nodes": True}}


def model(symmetrizer):
    torch.manual_seed(0)
    return build_model({"group": "o3", "in_spec": IN, "out_spec": OUT,
                        "backbone": {"type": "mlp", "writes": {"force": [3]}, "hidden": [8]},
                        "symmetrizer": symmetrizer}).double()


def sample():
    g = torch.Generator().manual_seed(0)
    return {"pos": torch.randn(9, 3, generator=g, dtype=torch.float64),
            "batch": torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2]), "num_graphs": 3}


def test_exact_model_has_tiny_error_per_kind():
    errors = ragged_equivariance(model({"type": "frame_averaging", "field": "pos"}), sample(),
                                 3, torch.Generator().manual_seed(1))
    assert set(errors) == {"rotation", "reflection", "all"}
    assert max(errors.values()) < 1e-9, errors


def test_bare_backbone_is_caught():
    errors = ragged_equivariance(model(None), sample(), 3, torch.Generator().manual_seed(1))
    assert errors["all"] > 1e-2, errors


def _molecules_with_a_linear_one(tmp_path):
    """Three molecules of 3, 4 and 3 atoms; the second is linear (CO2-like: its frame is not
    unique, so frame averaging flags it)."""
    g = torch.Generator().manual_seed(2)
    linear = torch.zeros(4, 3, dtype=torch.float64)
    linear[:, 2] = torch.tensor([-1.2, 0.0, 1.2, 2.0])
    pos = torch.cat([torch.randn(3, 3, generator=g, dtype=torch.float64), linear,
                     torch.randn(3, 3, generator=g, dtype=torch.float64)])
    np.savez(tmp_path / "m.npz", R=pos.numpy(), N=np.array([3, 4, 3]),
             E=np.array([1.0, 2.0, 3.0]))
    return str(tmp_path / "m.npz")


@pytest.mark.parametrize("batching", ["ragged", "padded"])
def test_flagged_samples_are_left_out_of_ragged_and_dense_measurements_alike(tmp_path,
                                                                             batching):
    """A flagged (degenerate) molecule is equivariant in distribution only: the measured error
    is that of the exact claim on the others, whatever the batching, and they are counted."""
    from symkit.data import arrays
    from symkit.runner.evaluation import flagged_samples, measure_equivariance
    from symkit.runner.schema import EquivarianceConfig

    data = arrays(_molecules_with_a_linear_one(tmp_path),
                  {"pos": {"array": "R", "dtype": "float64"}, "e": "E"}, counts="N",
                  batching=batching)
    backbone = ({"type": "mlp", "writes": {"force": [3]}, "hidden": [8]} if batching == "ragged"
                else {"type": "deepsets", "writes": {"force": [-1, 3]}, "hidden": 8})
    torch.manual_seed(0)
    fa = build_model({"group": "o3", "in_spec": IN, "out_spec": OUT, "backbone": backbone,
                      "symmetrizer": {"type": "frame_averaging", "field": "pos"}}).double()
    errors = measure_equivariance(fa, data, EquivarianceConfig(n_elements=3, max_samples=3))
    assert max(errors.values()) < 1e-9, errors
    assert flagged_samples(fa, first_batch(data, 3)) == 1
