"""PointNet and DGCNN: shapes, masks and permutation invariance."""

from __future__ import annotations

import pytest
import torch
from symkit_pointcloud.backbones import dgcnn, pointnet

BUILDERS = {
    "pointnet": lambda: pointnet(hidden=(16, 32), head=(32,),
                                 writes={"logits": [5], "seg": [-1, 2]}),
    "dgcnn": lambda: dgcnn(k=4, edge_dims=(8, 16), emb_dim=16, head=(16,),
                           writes={"logits": [5], "seg": [-1, 2]}),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_shapes_and_permutations(name):
    torch.manual_seed(0)
    model = BUILDERS[name]().double()
    x = torch.randn(3, 20, 3, dtype=torch.float64)
    out = model({"pos": x})
    assert out["logits"].shape == (3, 5) and out["seg"].shape == (3, 20, 2)
    perm = torch.randperm(20)
    permuted = model({"pos": x[:, perm]})
    torch.testing.assert_close(permuted["logits"], out["logits"], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(permuted["seg"], out["seg"][:, perm], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", BUILDERS)
def test_padding_is_ignored(name):
    torch.manual_seed(0)
    model = BUILDERS[name]().double()
    x = torch.randn(2, 12, 3, dtype=torch.float64)
    padded = torch.cat([x, 100 * torch.randn(2, 5, 3, dtype=torch.float64)], dim=1)
    mask = torch.arange(17).expand(2, 17) < 12
    a = model({"pos": x})["logits"]
    b = model({"pos": padded, "mask": mask})["logits"]
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pointnet_invariant_with_symkit_testing(dtype):
    import symkit.testing as testing
    from symkit.registry import registry
    from symkit.spec import Field, Spec

    n = 16
    group = registry("groups").build("symmetric", n)
    scalar = registry("reps").build("scalar")
    in_spec = Spec({"pos": Field(scalar, nodes=True)})
    out_spec = Spec({"logits": Field(scalar)})
    model = pointnet(hidden=(16, 32), head=(32,)).to(dtype)
    sample = {"pos": torch.randn(4, n, 3, dtype=dtype)}
    testing.assert_equivariant(model, group, in_spec, out_spec, sample)


@pytest.mark.parametrize("name", BUILDERS)
def test_so3_frame_averaging_makes_backbone_invariant(name):
    """Each backbone under the core PCA frame averaging: SO(3)-invariant logits on shapes."""
    from symkit_pointcloud.datasets import shapes

    from symkit.config import build_spec
    from symkit.registry import registry
    from symkit.testing import assert_equivariant

    group = registry("groups").build("so3")
    in_spec = build_spec({"pos": {"rep": "point", "nodes": True}}, key="in_spec")
    out_spec = build_spec({"logits": "scalar"}, key="out_spec")
    torch.manual_seed(0)
    backbone = BUILDERS[name]().double()
    model = registry("symmetrizers").build("frame_averaging", backbone, group, in_spec, out_spec)
    pos = shapes("test", test_size=4, num_points=48, classes=["cube", "cone", "helix"]).pos
    assert_equivariant(model.eval(), group, in_spec, out_spec, {"pos": pos.double()})
