"""Shared inputs for the learned-symmetrizer tests."""

from __future__ import annotations

import torch

from symkit.registry import registry
from symkit.reps import image, point, scalar, vector
from symkit.spec import Field, Spec

DTYPES = [torch.float64, torch.float32]
DTYPE_IDS = ["f64", "f32"]


def group(name: str, *args):
    return registry("groups").build(name, *args)


def point_spec() -> Spec:
    """A node scalar ``h`` and node positions ``pos``."""
    return Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})


OUT_SPECS = {
    "invariant": Spec({"e": scalar()}),
    "equivariant": Spec(
        {"e": scalar(), "v": Field(vector(), nodes=True), "y": Field(point(), nodes=True)}
    ),
}


def image_spec() -> Spec:
    return Spec({"image": image()})


def image_out_spec() -> Spec:
    return Spec({"e": scalar(), "v": vector()})


def point_sample(n_nodes: int = 6, d: int = 3, batch: int = 3, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"h": torch.randn(batch, n_nodes, generator=gen, dtype=torch.float64).to(dtype),
            "pos": torch.randn(batch, n_nodes, d, generator=gen, dtype=torch.float64).to(dtype)}


def image_sample(batch: int = 3, size: int = 8, channels: int = 1, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, size, size, generator=gen, dtype=torch.float64)
    return {"image": x.to(dtype)}
