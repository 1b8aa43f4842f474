"""Shared cases: every registered group buildable with defaults, and the specs used on it."""

from __future__ import annotations

import pytest
import torch

from symkit.registry import registry
from symkit.reps import image, point, scalar, vector
from symkit.spec import Field, Spec

torch.set_num_threads(1)  # tiny tensors: threads only add contention


def registered_groups() -> list[tuple[str, object]]:
    """``(name, group)`` for each registered group buildable without arguments, plus products."""
    cases = []
    for entry in registry("groups").entries():
        try:
            cases.append((entry.name, entry.load()()))
        except TypeError:  # needs arguments (e.g. product); any other failure is a bug
            continue
    product = registry("groups").get("product").load()
    cases.append(("product(symmetric,so3)", product(["symmetric", "so3"])))
    cases.append(("product(c4,symmetric)", product(["c4", "symmetric"])))
    # point clouds and graphs: frame averaging and pca_sort canonicalization (issue 17 item 5)
    cases.append(("product(symmetric,e3)", product(["symmetric", "e3"])))
    cases.append(("product(o3,symmetric)", product(["o3", "symmetric"])))
    return cases


def in_spec() -> Spec:
    """A node scalar ``h`` (sorting key) and node positions ``pos``."""
    return Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})


def image_in_spec() -> Spec:
    """One image field, ``(B, 1, 8, 8)`` in :func:`grid_sample`."""
    return Spec({"image": image()})


def grid_sample(group, spec: Spec, batch: int = 3, seed: int = 1) -> dict:
    """``example_sample`` for point specs; one-channel ``8 x 8`` images for the image spec."""
    from symkit.testing import example_sample

    gen = torch.Generator().manual_seed(seed)
    if list(spec) == ["image"]:
        return {"image": torch.randn(batch, 1, 8, 8, dtype=torch.float64, generator=gen)}
    sample = example_sample(group, spec, batch=batch, generator=gen)
    if "boost" in getattr(group, "extra_kinds", ()):  # Lorentz: future-timelike four-vectors,
        p = sample["pos"]                              # the physical inputs (a total momentum
        p[..., 0] = p[..., 1:].norm(dim=-1) + 0.5 + p[..., 0].abs()  # that has a rest frame)
    return sample


def canonicalizer_inputs(name: str, group) -> tuple[Spec, dict]:
    """``(in_spec, canonicalizer node)`` on which the canonicalizer ``name`` builds and runs.

    Point canonicalizers read ``in_spec()``, image ones :func:`image_in_spec`. When neither
    works the point spec is returned, so the grid case fails and shows why (never a skip).
    """
    for spec in (in_spec(), image_in_spec()):
        node = {"type": name}
        try:
            canon = registry("canonicalizers").build(name, group, spec)
            canon(grid_sample(group, spec, batch=2, seed=0))
        except Exception:  # noqa: BLE001 - try the next input kind
            continue
        return spec, node
    return in_spec(), {"type": name}


OUT_SPECS = {
    "invariant": Spec({"e": scalar()}),
    "equivariant": Spec(
        {"e": scalar(), "v": Field(vector(), nodes=True), "y": Field(point(), nodes=True)}
    ),
}


@pytest.fixture(params=["invariant", "equivariant"])
def out_spec(request) -> Spec:
    return OUT_SPECS[request.param]
