"""``mds_invariant``: sign-fixed MDS coordinates are E(d)-invariant; the model is exact."""

from __future__ import annotations

import pytest
import torch

from symkit.reps import point
from symkit.spec import Field
from symkit.symmetrizers.learned import mds_coordinates
from symkit.testing._symmetrizers import check_symmetrizer

from ..._cases import DTYPE_IDS, DTYPES, OUT_SPECS, group, point_sample, point_spec


@pytest.mark.parametrize("gname", ["e3", "e2"])
def test_coordinates_are_invariant_and_permutation_equivariant(gname):
    g = group(gname)
    x = point_sample(d=g.dim, batch=4)["pos"]
    y = mds_coordinates(x)
    for kind in (None, *g.kinds):
        gen = torch.Generator().manual_seed(0)
        el = g.sample(4, generator=gen) if kind is None else g.sample_kind(kind, 4, generator=gen)
        assert torch.allclose(mds_coordinates(point().act(g, el, x)), y, atol=1e-10), kind
    sn = group("symmetric", x.shape[1])
    perm = sn.sample(4, generator=torch.Generator().manual_seed(1))
    moved = Field(point(), nodes=True).act(sn, perm, x)
    assert torch.allclose(mds_coordinates(moved), Field(point(), nodes=True).act(sn, perm, y),
                          atol=1e-10)
    # the coordinates reproduce every pairwise distance
    assert torch.allclose(torch.cdist(y, y), torch.cdist(x, x), atol=1e-10)


def test_normalized_coordinates_are_scale_invariant():
    x = point_sample(batch=2)["pos"]
    a = mds_coordinates(x, normalize_scale=True)
    b = mds_coordinates(3.7 * x, normalize_scale=True)
    assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("out", ["invariant", "equivariant"])
@pytest.mark.parametrize("gname", ["e3", "se3", "o3", "so2"])
def test_model_is_exact(gname, out, dtype):
    g = group(gname)
    check_symmetrizer("mds_invariant", g, point_spec(), OUT_SPECS[out],
                      point_sample(d=g.dim, batch=3), dtype=dtype)
