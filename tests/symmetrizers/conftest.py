"""Shared cases: every registered group buildable with defaults, and the specs used on it."""

from __future__ import annotations

import pytest
import torch

from symkit.registry import registry
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec

torch.set_num_threads(1)  # tiny tensors: threads only add contention


def registered_groups() -> list[tuple[str, object]]:
    """``(name, group)`` for each registered group buildable without arguments, plus products."""
    cases = []
    for entry in registry("groups").entries():
        try:
            cases.append((entry.name, entry.load()()))
        except Exception:  # noqa: BLE001 - needs arguments (e.g. product)
            continue
    product = registry("groups").get("product").load()
    cases.append(("product(symmetric,so3)", product(["symmetric", "so3"])))
    cases.append(("product(c4,symmetric)", product(["c4", "symmetric"])))
    return cases


def in_spec() -> Spec:
    """A node scalar ``h`` (sorting key) and node positions ``pos``."""
    return Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})


OUT_SPECS = {
    "invariant": Spec({"e": scalar()}),
    "equivariant": Spec(
        {"e": scalar(), "v": Field(vector(), nodes=True), "y": Field(point(), nodes=True)}
    ),
}


@pytest.fixture(params=["invariant", "equivariant"])
def out_spec(request) -> Spec:
    return OUT_SPECS[request.param]
