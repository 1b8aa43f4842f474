"""Shared cases of the symmetrizer and canonicalizer tests: groups, specs and samples."""

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


def loads(entry) -> bool:
    """Whether a registered part's factory imports. An unloadable one (a plugin's typo'd
    ``module:attr`` target) is left out of the grids, which are built at collection, so that it
    cannot break the collection of every case; ``tests/test_plugins.py`` fails naming it."""
    from symkit.errors import RegistryError

    try:
        entry.load()
    except RegistryError:
        return False
    return True


def supports(entry, group) -> bool:
    """``entry.supports(group)`` for parts that load (see :func:`loads`)."""
    return loads(entry) and entry.supports(group)


def registered_groups() -> list[tuple[str, object]]:
    """``(name, group)`` for each registered group buildable without arguments, plus products
    (unloadable groups left out: see :func:`loads`)."""
    cases = []
    for entry in registry("groups").entries():
        if not loads(entry):
            continue
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

    Point canonicalizers read :func:`point_spec`, image ones :func:`image_spec`. When neither
    works the point spec is returned, so the grid case fails and shows why (never a skip).
    """
    for spec in (point_spec(), image_spec()):
        node = {"type": name}
        try:
            canon = registry("canonicalizers").build(name, group, spec)
            canon(grid_sample(group, spec, batch=2, seed=0))
        except Exception:  # noqa: BLE001 - try the next input kind
            continue
        return spec, node
    return point_spec(), {"type": name}
