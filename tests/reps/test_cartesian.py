"""Scalar, vector, point, pseudovector and tensor reps: formulas, broadcasting, ragged rows."""

import torch

from symkit.registry import registry
from symkit.spec import Field

groups, reps = registry("groups"), registry("reps")
GEN = torch.Generator().manual_seed(0)


def test_formulas_on_e3():
    e3 = groups.build("e3")
    g = e3.sample(4, generator=GEN)
    r, t = e3.matrix(g), e3.translation(g)
    v = torch.randn(4, 3, dtype=torch.float64, generator=GEN)
    rv = torch.einsum("nij,nj->ni", r, v)
    torch.testing.assert_close(reps.build("vector").act(e3, g, v), rv)
    torch.testing.assert_close(reps.build("point").act(e3, g, v), rv + t)
    torch.testing.assert_close(reps.build("pseudovector").act(e3, g, v),
                               r.det()[:, None] * rv)
    m = torch.randn(4, 3, 3, dtype=torch.float64, generator=GEN)
    torch.testing.assert_close(reps.build("tensor", rank=2).act(e3, g, m),
                               r @ m @ r.transpose(1, 2))


def test_pseudovector_is_the_cross_product_law():
    o3 = groups.build("o3")
    g = o3.sample(6, generator=GEN)
    a, b = torch.randn(2, 6, 3, dtype=torch.float64, generator=GEN)
    vec, pseudo = reps.build("vector"), reps.build("pseudovector")
    torch.testing.assert_close(torch.cross(vec.act(o3, g, a), vec.act(o3, g, b), dim=-1),
                               pseudo.act(o3, g, torch.cross(a, b, dim=-1)))


def test_broadcast_over_node_and_channel_dims():
    e3 = groups.build("e3")
    g = e3.sample(2, generator=GEN)
    x = torch.randn(2, 5, 4, 3, dtype=torch.float64, generator=GEN)  # (B, N, C, 3)
    for name in ("vector", "point", "pseudovector"):
        rep = reps.build(name)
        rows = [rep.act(e3, e3.index(g, torch.full((20,), b)), x[b].reshape(20, 3))
                for b in range(2)]  # every (node, channel) as its own row
        rowwise = torch.stack(rows).reshape(x.shape)
        torch.testing.assert_close(rep.act(e3, g, x), rowwise)


def test_ragged_rows_with_gathered_elements():
    """Ragged layout: pos (total_nodes, d), one element per graph gathered per node row."""
    se3 = groups.build("se3")
    batch = torch.tensor([0, 0, 0, 1, 1])
    g = se3.sample(2, generator=GEN)
    pos = torch.randn(5, 3, dtype=torch.float64, generator=GEN)
    point = reps.build("point")
    ragged = point.act(se3, se3.index(g, batch), pos)
    torch.testing.assert_close(ragged[:3], point.act(se3, se3.index(g, [0]), pos[None, :3])[0])
    torch.testing.assert_close(ragged[3:], point.act(se3, se3.index(g, [1]), pos[None, 3:])[0])


def test_integer_encoded_groups_keep_the_data_dtype():
    c4, d4 = groups.build("c4"), groups.build("d4")
    x = torch.randn(3, 2, dtype=torch.float32)
    for group in (c4, d4):
        g = group.sample(3, generator=GEN)
        for name in ("vector", "point", "pseudovector", "tensor"):
            y = x if name != "tensor" else torch.randn(3, 2, 2)
            assert reps.build(name).act(group, g, y).dtype == torch.float32


def test_groups_without_matrix_act_trivially_on_vectors():
    x = torch.randn(2, 5, 3)
    for name in ("symmetric", "translation", "trivial"):
        group = groups.build(name)
        assert torch.equal(reps.build("vector").act(group, group.sample(2, generator=GEN), x), x)


def test_scalar_accepts_integers_and_any_shape():
    group, scalar = groups.build("so3"), reps.build("scalar")
    labels = torch.randint(0, 9, (4, 7, 2))
    assert scalar.act(group, group.sample(4, generator=GEN), labels) is labels
    Field(scalar).check(group, "label", labels)
    assert scalar.feature_shape(group) == () and scalar.is_invariant(group)
    assert reps.build("vector").feature_shape(group) == (3,)
    assert reps.build("tensor", rank=3).feature_shape(group) == (3, 3, 3)
