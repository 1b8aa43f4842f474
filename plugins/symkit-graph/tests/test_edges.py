"""Radial-basis edge features: the formulas, the cutoff, finite gradients on the dense path's
zero self-distances, config errors, and the backbones that read them (dense = sparse, EGNN stays
E(3)-equivariant, forces exist)."""

from __future__ import annotations

import math

import pytest
import torch
from symkit_graph._edges import RadialBasis, radial_basis

from symkit.errors import ConfigError
from symkit.registry import registry
from symkit.spec import Field, Spec
from symkit.testing import assert_equivariant

RBF = {"n": 8, "cutoff": 4.0}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gaussian_basis_formula(dtype):
    basis = RadialBasis(n=5, cutoff=4.0, start=0.0).to(dtype)
    d = torch.tensor([0.5, 1.3, 3.9, 4.0, 7.0], dtype=dtype)
    got = basis(d.square())
    mu = torch.linspace(0.0, 4.0, 5, dtype=dtype)
    fc = torch.where(d < 4.0, 0.5 * (torch.cos(math.pi * d / 4.0) + 1), torch.zeros_like(d))
    want = torch.exp(-0.5 * (d[:, None] - mu) ** 2) * fc[:, None]  # spacing 1: width 1
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    assert got.dtype == dtype and got.shape == (5, 5)
    assert float(got[3:].abs().max()) == 0.0  # at and beyond the cutoff: nothing


def test_bessel_basis_formula():
    basis = RadialBasis(n=4, cutoff=5.0, basis="bessel").double()
    d = torch.tensor([0.7, 2.0, 4.5], dtype=torch.float64)
    k = torch.arange(1, 5, dtype=torch.float64)
    fc = 0.5 * (torch.cos(math.pi * d / 5.0) + 1)
    want = math.sqrt(2 / 5.0) * torch.sin(k * math.pi * d[:, None] / 5.0) / d[:, None]
    torch.testing.assert_close(basis(d.square()), want * fc[:, None], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["gaussian", "bessel"])
def test_smooth_at_the_cutoff_and_finite_at_zero_distance(kind):
    basis = RadialBasis(n=6, cutoff=3.0, basis=kind).double()
    d = torch.tensor([3.0 - 1e-6, 0.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(basis(d.square()).sum(), d, create_graph=True)
    assert bool(torch.isfinite(grad).all())
    assert float(grad[0].detach().abs()) < 1e-4  # derivative vanishes as d -> cutoff
    (hess,) = torch.autograd.grad(grad.sum(), d)  # double backward: what force training needs
    assert bool(torch.isfinite(hess).all())


def test_gradient_matches_finite_differences():
    basis = RadialBasis(n=6, cutoff=3.0).double()
    x = torch.tensor([[0.0, 0.0, 0.0], [1.1, -0.4, 0.9]], dtype=torch.float64)
    w = torch.linspace(-1, 1, 6, dtype=torch.float64)

    def energy(x):
        return (basis((x[0] - x[1]).square().sum()) * w).sum()

    x_ = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy(x_), x_)
    fd = torch.zeros_like(x)
    for i in range(2):
        for k in range(3):
            e = torch.zeros_like(x)
            e[i, k] = 1e-6
            fd[i, k] = (energy(x + e) - energy(x - e)) / 2e-6
    torch.testing.assert_close(grad, fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("cfg", "key"), [
    ([32], "edge_rbf"), ({"m": 3}, "edge_rbf.m"), ({"n": 0}, "edge_rbf.n"),
    ({"n": 2.5}, "edge_rbf.n"), ({"cutoff": -1.0}, "edge_rbf.cutoff"),
    ({"basis": "gauss"}, "edge_rbf.basis"), ({"start": 7.0}, "edge_rbf.start"),
])
def test_config_errors_name_the_key(cfg, key):
    with pytest.raises(ConfigError) as info:
        radial_basis(cfg)
    assert info.value.key == key


def test_off_when_not_given():
    assert radial_basis(None) is None and radial_basis(False) is None
    assert radial_basis({}).n == 32


def _rep(name: str) -> Field:
    return Field(registry("reps").build(name), nodes=True)


def test_gnn_dense_and_sparse_agree_with_radial_basis(graph_backbone, nbody_batch):
    model = graph_backbone("gnn", edge_rbf=RBF)
    x = nbody_batch(4)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    edges = torch.stack([j[i != j], i[i != j]])
    with torch.no_grad():
        torch.testing.assert_close(model(x)["target"], model({**x, "edge_index": edges})["target"],
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_egnn_with_radial_basis_is_e3_equivariant(graph_backbone, nbody_batch, dtype):
    spec_in = Spec({"pos": _rep("point"), "vel": _rep("vector"), "charge": _rep("scalar")})
    spec_out = Spec({"target": _rep("point")})
    x = nbody_batch(5, "float64" if dtype == torch.float64 else "float32")
    with torch.no_grad():
        assert_equivariant(graph_backbone("egnn", dtype, edge_rbf=RBF),
                           registry("groups").build("e3"), spec_in, spec_out, x,
                           generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ["gnn", "egnn"])
def test_zero_readout_starts_at_zero(graph_backbone, nbody_batch, name):
    params = {"readout": "scalar"} if name == "egnn" else {"residual": None}
    writes = {"energy": [-1, 1]}
    model = graph_backbone(name, edge_rbf=RBF, zero_readout=True, writes=writes, **params)
    out = model(nbody_batch(3))["energy"]
    assert out.shape == (3, 5, 1) and float(out.abs().max()) == 0.0
    other = graph_backbone(name, edge_rbf=RBF, zero_readout=False, writes=writes, **params)
    assert float(other(nbody_batch(3))["energy"].abs().max()) > 0.0
