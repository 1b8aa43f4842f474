"""Shared setup of the graph plugin's tests: collated n-body batches, graph backbones and
symmetrized ``graph::gnn`` models (layer-wise frame averaging, ``graph::local_frames``) built
from one config, each materialized on a float32 batch and cast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from symkit_graph._nbody import nbody
from torch.utils.data import default_collate

from symkit.model import build_model
from symkit.registry import registry

#: the n-body input and output specs, as config nodes
NBODY_IN = {"pos": {"rep": "point", "nodes": True}, "vel": {"rep": "vector", "nodes": True},
            "charge": {"rep": "scalar", "nodes": True}}
NBODY_OUT = {"target": {"rep": "point", "nodes": True}}


def collate_nbody(b: int = 6, dtype: str = "float64") -> dict[str, torch.Tensor]:
    """The first ``b`` n-body test samples, collated (dense, 5 nodes each)."""
    ds = nbody("test", max_samples=b, dtype=dtype)
    return default_collate([ds[i] for i in range(b)])


@pytest.fixture
def nbody_batch() -> Callable[..., dict[str, torch.Tensor]]:
    """``nbody_batch(b=6, dtype="float64")``: :func:`collate_nbody`."""
    return collate_nbody


@pytest.fixture
def graph_backbone() -> Callable[..., torch.nn.Module]:
    """``graph_backbone(name, dtype=float64, **params)``: ``graph::<name>`` with 16 hidden units
    and 2 layers, seeded, lazy layers materialized, in eval mode."""

    def build(name: str, dtype: torch.dtype = torch.float64, **params: Any) -> torch.nn.Module:
        torch.manual_seed(0)
        model = registry("backbones").build(f"graph::{name}", hidden=16, layers=2, **params)
        model(collate_nbody(2, "float32"))  # materialize lazy layers
        return model.to(dtype).eval()

    return build


@pytest.fixture
def gnn_model() -> Callable[..., torch.nn.Module]:
    """``gnn_model(symmetrizer, group="e3", dtype=float64, **backbone)``: ``graph::gnn`` (16
    hidden units, 2 layers, ``backbone`` options) on the n-body specs, wrapped by the
    ``symmetrizer`` config node, seeded, materialized, in eval mode."""

    def build(symmetrizer: dict, group: str = "e3", dtype: torch.dtype = torch.float64,
              **backbone: Any) -> torch.nn.Module:
        torch.manual_seed(0)
        cfg = {"group": group, "in_spec": NBODY_IN, "out_spec": NBODY_OUT,
               "backbone": {"type": "graph::gnn", "hidden": 16, "layers": 2, **backbone},
               "symmetrizer": symmetrizer}
        m = build_model(cfg)
        m(collate_nbody(2, "float32"))  # materialize lazy layers
        return m.to(dtype).eval()

    return build


@pytest.fixture
def padded_nbody() -> Callable[..., dict[str, torch.Tensor]]:
    """``padded_nbody(x, value)``: ``x`` with one more node per sample, every field ``value``
    there, behind a ``mask`` (padding must change nothing on the real nodes)."""

    def pad(x: dict[str, torch.Tensor], value: float) -> dict[str, torch.Tensor]:
        out = {k: torch.cat([v, value + torch.zeros_like(v[:, :1])], 1) for k, v in x.items()}
        b, n = out["pos"].shape[:2]
        mask = torch.ones(b, n, dtype=torch.bool)
        mask[:, -1] = False
        return out | {"mask": mask}

    return pad
