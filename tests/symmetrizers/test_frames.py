"""PCA frames: degenerate inputs stay finite and are measured; frame math and Haar blocks."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from symkit.groups import e3, o3, se3, so2, so3
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.symmetrizers import (
    Canonicalization,
    FrameAveraging,
    haar_blocks,
    pca,
    point_moments,
    sign_vectors,
)
from symkit.testing._symmetrizers import FlatMLP

IN = Spec({"pos": Field(point(), nodes=True)})
OUT = Spec({"e": scalar(), "v": Field(vector(), nodes=True)})


def _pad(points: torch.Tensor, n: int = 8) -> torch.Tensor:
    return torch.cat([points, points[:1].expand(n - len(points), 3)])


def degenerate_sets() -> dict[str, torch.Tensor]:
    """Point sets with repeated covariance eigenvalues, each (8, 3), float64."""
    line = torch.linspace(-1, 2, 8)[:, None] * torch.tensor([[1.0, 2.0, -0.5]])
    angle = torch.arange(8.0) * math.pi / 4  # regular octagon in a tilted plane
    plane = torch.cos(angle)[:, None] * torch.tensor([[1.0, 0, 1]]) / math.sqrt(2)
    plane = plane + torch.sin(angle)[:, None] * torch.tensor([[0, 1.0, 0]])
    tetra = _pad(torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]), 4)
    tetra = torch.cat([tetra[:4], tetra[:4]])  # each vertex twice: same covariance
    cube = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=3)))
    same = torch.tensor([[0.3, -1.2, 2.0]]).expand(8, 3)
    return {"collinear": line, "planar": plane, "tetrahedron": tetra, "cube": cube,
            "coincident": same}


@pytest.mark.parametrize("group", [e3(), se3(), o3(), so3()], ids=repr)
@pytest.mark.parametrize("kind", ["frame_averaging", "canonicalization"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_degenerate_inputs_are_finite_and_measured(group, kind, dtype):
    pos = torch.stack(list(degenerate_sets().values()))
    pos = pos - pos.mean(1, keepdim=True)  # about the origin, so O(3)/SO(3) see the same
    pos = (pos + 0.5 if "translation" in group.kinds else pos).to(dtype)
    x = {"pos": pos}
    backbone = FlatMLP.for_sample(group, IN, OUT, x).to(dtype)
    cls = FrameAveraging if kind == "frame_averaging" else Canonicalization
    model = cls(backbone, group, IN, OUT).eval()
    y = model(x)
    assert all(torch.isfinite(v).all() for v in y.values())
    m = model.metrics()
    # the planar octagon, the doubled tetrahedron and the cube have finite stabilizers: their
    # symmetric frame sets (exact); the line and the coincident points cannot: flagged
    assert m["min_relative_gap"] < 1e-3
    assert m["degenerate_fraction"] == pytest.approx(0.4)
    assert m["symmetric_fraction"] == pytest.approx(0.6)
    assert model.flagged.tolist() == [True, False, False, False, True]


@pytest.mark.parametrize("kind", ["frame_averaging", "canonicalization"])
def test_generic_planar_set_is_not_degenerate_and_exact(kind):
    """A planar set with distinct in-plane variances has a unique frame (normal = 0-axis).

    Its reflection through the plane is a symmetry of the input: frame averaging averages over
    it (exact), canonicalization picks a random sign for the normal (exact for invariant
    outputs, equivariant in distribution otherwise: no single element can do better).
    """
    from symkit.testing import assert_equivariant

    group = e3()
    t = torch.randn(4, 7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t = t * torch.tensor([2.0, 0.5], dtype=torch.float64)
    pos = t[..., :1] * torch.tensor([1.0, 0, 1]) + t[..., 1:] * torch.tensor([0, 1.0, 0])
    x = {"pos": pos.double()}
    cls = FrameAveraging if kind == "frame_averaging" else Canonicalization
    model = cls(FlatMLP.for_sample(group, IN, OUT, x).double(), group, IN, OUT).eval()
    out = OUT if kind == "frame_averaging" else Spec({"e": scalar()})
    assert_equivariant(model, group, IN, out, x, rtol=1e-9)
    assert model.metrics()["degenerate_fraction"] == 0.0


def test_single_point_and_random_sets():
    group = e3()
    x = {"pos": torch.randn(4, 1, 3, dtype=torch.float64)}
    model = FrameAveraging(FlatMLP.for_sample(group, IN, OUT, x).double(), group, IN, OUT)
    assert torch.isfinite(model(x)["e"]).all()
    assert model.metrics()["degenerate_fraction"] == 1.0
    x = {"pos": torch.randn(16, 1, 3, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(3))}
    x["pos"] = torch.cat([x["pos"], torch.randn(16, 6, 3, dtype=torch.float64)], 1)
    model = FrameAveraging(FlatMLP.for_sample(group, IN, OUT, x).double(), group, IN, OUT)
    model(x)
    assert model.metrics()["degenerate_fraction"] == 0.0


def test_degenerate_output_is_equivariant_in_distribution():
    """A planar set with Haar-completed eigenspaces (``degenerate: haar``): averaging many
    stochastic outputs approaches an invariant value."""
    group = e3()
    gen = torch.Generator().manual_seed(0)
    plane = degenerate_sets()["planar"][None].double()
    x = {"pos": plane.expand(400, -1, -1).contiguous()}
    model = FrameAveraging(FlatMLP.for_sample(group, IN, OUT, x).double(), group, IN, OUT,
                           generator=gen, degenerate="haar").eval()
    g = group.sample(1, generator=gen, dtype=torch.float64)
    gx = IN.act(group, g.expand(400, -1, -1), x)
    with torch.no_grad():
        a, b = model(x)["e"].mean(0), model(gx)["e"].mean(0)
        spread = model(x)["e"].std(0)
    assert (a - b).abs().max() < 5 * spread.max() / math.sqrt(400) + 1e-9


def test_frame_math():
    x = torch.randn(5, 9, 3, dtype=torch.float64)
    mom = point_moments(x, center=True)
    frame = pca(mom)
    q = frame.basis
    tr = torch.diagonal(mom.cov, dim1=-2, dim2=-1).sum(-1)[:, None, None]
    torch.testing.assert_close(q @ torch.diag_embed(frame.eigenvalues) @ q.mT, mom.cov / tr)
    assert sign_vectors(3).shape == (8, 3) and sign_vectors(3, parity=1).shape == (4, 3)
    cluster = torch.tensor([[0, 1, 1], [0, 0, 0], [0, 1, 2]])
    h = haar_blocks(cluster, 4)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(h @ h.mT, eye.expand_as(h))
    assert torch.equal(h[2], eye.expand(4, 3, 3))  # no degeneracy: identity
    assert (h[0, :, 0, 1:] == 0).all() and (h[0, :, 0, 0] == 1).all()  # block structure


def test_masked_frames_use_valid_points_only():
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]]).bool()
    padded = torch.where(mask[..., None], x, torch.full_like(x, 1e3))
    mom = point_moments(padded, center=True, mask=mask)
    for b in range(3):
        ref = point_moments(x[b : b + 1, mask[b]], center=True)
        torch.testing.assert_close(mom.center[b], ref.center[0])
        torch.testing.assert_close(mom.cov[b], ref.cov[0])


def test_so2_frame_has_det_one():
    group = so2()
    x = {"pos": torch.randn(4, 5, 2, dtype=torch.float64)}
    model = FrameAveraging(FlatMLP.for_sample(group, IN, OUT, x).double(), group, IN, OUT)
    g, w = model.elements(x)
    assert w.shape == (4, 2)
    torch.testing.assert_close(torch.linalg.det(g), torch.ones(8, dtype=torch.float64))


def test_pca_reads_once_whether_any_sample_is_degenerate():
    """``PCA.any_degenerate`` is the batch's ``degenerate.any()``; a batch without degenerate,
    flat or empty samples skips the corrections and gives every sample the values of the
    general path (the same samples next to a degenerate one), bit for bit."""
    from symkit.symmetrizers._frames import pca

    gen = torch.Generator().manual_seed(5)
    generic = torch.randn(4, 7, 3, dtype=torch.float64, generator=gen)
    angle = torch.arange(6, dtype=torch.float64) * math.pi / 3  # a hexagon and its centre
    ring = torch.stack([angle.cos(), angle.sin(), torch.zeros(6, dtype=torch.float64)], -1)
    mixed = torch.cat([generic, torch.cat([ring, ring.new_zeros(1, 3)])[None]])
    fast = pca(point_moments(generic, center=True), 1e-3)
    slow = pca(point_moments(mixed, center=True), 1e-3)
    assert not fast.any_degenerate and slow.any_degenerate
    assert not fast.degenerate.any() and slow.degenerate.tolist() == [False] * 4 + [True]
    for name in ("basis", "eigenvalues", "cluster", "rel_gap"):
        assert torch.equal(getattr(fast, name), getattr(slow, name)[:4]), name
    empty = pca(point_moments(generic, center=True, mask=torch.zeros(4, 7, dtype=torch.bool)))
    assert empty.any_degenerate and empty.empty.all()
    assert torch.equal(empty.basis, torch.eye(3, dtype=torch.float64).expand(4, 3, 3))
