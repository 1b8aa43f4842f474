"""The equivariance error of ragged batches: one group element per sample, on all its nodes."""

from __future__ import annotations

import torch

from symkit.model import build_model
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
