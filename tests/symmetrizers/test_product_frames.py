"""Frame averaging and pca_sort canonicalization on S_N x E(3) / S_N x O(3) (point clouds).

A plain MLP over the flattened cloud knows neither the node order nor the frame; symmetrized
over the product it must be exact under relabelling *and* rigid motions, at generic inputs,
at symmetric molecules (methane: finite frame sets, then sorting) and with tied nodes.
"""

from __future__ import annotations

import pytest
import torch
from ase.build import molecule

from symkit.groups import product, symmetric
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.symmetrizers import Canonicalization, FrameAveraging, product_parts
from symkit.testing import FlatMLP, assert_equivariant

IN = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
OUT = Spec({"e": scalar(), "v": Field(vector(), nodes=True), "y": Field(point(), nodes=True)})
FACTORS = [("symmetric", "e3"), ("o3", "symmetric"), ("symmetric", "se3"), ("so3", "symmetric")]


def group_of(factors, n: int):
    return product([symmetric(n) if f == "symmetric" else f for f in factors])


def build(kind: str, group, x, **params):
    torch.manual_seed(0)
    net = FlatMLP.for_sample(group, IN, OUT, x).double()
    if kind == "frame_averaging":
        return FrameAveraging(net, group, IN, OUT, **params).eval()
    return Canonicalization(net, group, IN, OUT,
                            canonicalizer={"type": "pca_sort", **params}).eval()


def random_clouds(n: int = 6, b: int = 3) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"h": torch.randint(1, 4, (b, n), generator=gen).double(),
            "pos": torch.randn(b, n, 3, generator=gen, dtype=torch.float64)}


def methane() -> dict[str, torch.Tensor]:
    atoms = molecule("CH4")
    return {"h": torch.tensor(atoms.numbers, dtype=torch.float64)[None],
            "pos": torch.tensor(atoms.positions)[None]}


@pytest.mark.parametrize("kind", ["frame_averaging", "canonicalization"])
@pytest.mark.parametrize("factors", FACTORS, ids="x".join)
def test_product_is_exact_on_clouds_and_symmetric_molecules(kind, factors):
    for x in (random_clouds(), methane()):
        group = group_of(factors, x["pos"].shape[1])
        model = build(kind, group, x)
        y = model(x)
        assert not model.flagged.any()
        assert_equivariant(model, group, IN, OUT, x, rtol=1e-9)
        for k in y:
            assert torch.equal(model(x)[k], y[k])  # deterministic


def test_the_output_depends_on_the_order_without_the_product():
    """The negative control: E(3) frame averaging alone does not make the MLP permutation
    equivariant, so the product's test above can fail."""
    x = random_clouds()
    group = group_of(("symmetric", "e3"), 6)
    torch.manual_seed(0)
    net = FlatMLP.for_sample(group, IN, OUT, x).double()
    model = FrameAveraging(net, group.factors()[1], IN, OUT).eval()
    perm = torch.tensor([1, 0, 2, 3, 4, 5])
    y, y_perm = model(x), model({k: v[:, perm] for k, v in x.items()})
    assert (y["e"] - y_perm["e"]).abs().max() > 1e-3


def test_ties_are_enumerated_and_exact():
    """Two coincident atoms of the same type: both orders are in the frame (16 elements)."""
    x = random_clouds(n=5, b=2)
    x["pos"][:, 4] = x["pos"][:, 1]
    x["h"][:, 4] = x["h"][:, 1]
    group = group_of(("symmetric", "e3"), 5)
    model = build("frame_averaging", group, x)
    _, w = model.elements(x)
    assert w.shape == (2, 16) and not model.flagged.any()
    assert_equivariant(model, group, IN, OUT, x, rtol=1e-9)
    few = build("frame_averaging", group, x, max_ties=1)
    few(x)
    assert few.flagged.all()  # tie-breaks drawn: equivariant in distribution


def test_masked_clouds_sort_padding_last():
    x = random_clouds(n=6, b=2)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    group = group_of(("symmetric", "e3"), 6)
    model = build("frame_averaging", group, x)
    g, _ = model.elements(x | {"mask": mask})
    perm = g[0].reshape(2, 8, 6)[1]
    assert (perm[:, 4:] == torch.tensor([4, 5])).all()  # padded nodes stay in place, last


def test_product_parts_and_refusals():
    assert product_parts(group_of(("o3", "symmetric"), 4)).perm == 1
    assert product_parts(product(["symmetric", "c4"])) is None
    assert product_parts(product(["symmetric", "translation"])) is None
    x = random_clouds()
    group = group_of(("symmetric", "e3"), 6)
    model = build("frame_averaging", group, x)
    ragged = {"h": x["h"].reshape(-1), "pos": x["pos"].reshape(-1, 3),
              "batch": torch.arange(3).repeat_interleave(6), "num_graphs": torch.tensor(3)}
    with pytest.raises(ValueError, match="dense samples"):
        model.elements(ragged)


def test_stochastic_product_frames_draw_from_the_frame():
    x = random_clouds()
    group = group_of(("symmetric", "e3"), 6)
    model = build("frame_averaging", group, x, stochastic=True, train_samples=2)
    model.generator = torch.Generator().manual_seed(0)
    model.train()
    (perm, e), w = model.elements(x)
    assert perm.shape == (6, 6) and e.shape == (6, 4, 4) and w.shape == (3, 2)
    model.eval()
    (perm_all, e_all), _ = model.elements(x)
    for i in range(6):
        b = i // 2
        same = ((e_all[8 * b: 8 * b + 8] - e[i]).abs().flatten(1).amax(1) < 1e-12) & (
            perm_all[8 * b: 8 * b + 8] == perm[i]).all(1)
        assert same.any()


def test_product_groups_build_from_yaml():
    from symkit.config import build as build_node

    group = build_node({"type": "product", "factors": [{"type": "symmetric", "n": 5}, "e3"]},
                       "groups", key="model.group")
    assert repr(group) == "S5 x E(3)" and product_parts(group) is not None


def test_feature_labels_group_values_equal_up_to_rounding():
    """Node features that symmetry makes equal and rounding makes differ share a label; the
    sort of S_N x E(d) frames then ties them (as exact equality would not)."""
    from symkit.reps import scalar
    from symkit.spec import Field, Spec
    from symkit.symmetrizers._product_frames import _feature_labels

    h = torch.tensor([[[1.0], [1.0 + 1e-13], [2.0], [1.0 - 1e-13]]], dtype=torch.float64)
    spec = Spec({"h": Field(scalar(), nodes=True)})
    labels = _feature_labels({"h": h}, spec, torch.ones(1, 4, dtype=torch.bool), 1e-3)
    assert labels.tolist() == [[0, 0, 1, 0]]


def _positional(kind: str, group, **params):
    """``kind`` around a node MLP that reads each node's rank (order-sensitive, padding-free)."""
    from symkit.testing import NodeMLP

    torch.manual_seed(0)
    net = NodeMLP(IN, OUT, positional=True).double()
    if kind == "frame_averaging":
        return FrameAveraging(net, group, IN, OUT, **params).eval()
    if kind == "sort":  # S_N alone: sorting frames keyed on the atom types
        return FrameAveraging(net, symmetric(group.factors()[0].n), IN, OUT, key="h",
                              **params).eval()
    return Canonicalization(net, group, IN, OUT,
                            canonicalizer={"type": "pca_sort", **params}).eval()


def _ethanol_padded() -> dict[str, torch.Tensor]:
    """Ethanol (9 atoms) with 3 padding rows interleaved (rows 1, 5, 10), random values."""
    atoms = molecule("CH3CH2OH")
    real = [0, 2, 3, 4, 6, 7, 8, 9, 11]
    gen = torch.Generator().manual_seed(1)
    h = torch.rand(1, 12, generator=gen, dtype=torch.float64) * 20
    pos = torch.randn(1, 12, 3, generator=gen, dtype=torch.float64) * 5
    h[0, real] = torch.tensor(atoms.numbers, dtype=torch.float64)
    pos[0, real] = torch.tensor(atoms.positions)
    mask = torch.zeros(1, 12, dtype=torch.bool)
    mask[0, real] = True
    return {"h": h, "pos": pos, "mask": mask}


@pytest.mark.parametrize("kind", ["frame_averaging", "canonicalization", "sort"])
def test_the_padding_mask_moves_with_the_nodes(kind):
    """The canonical sample ``g^-1 x`` puts the real nodes first: its mask must move with them,
    or the backbone reads padding rows as atoms. Wherever the padding is, the output on the
    real nodes equals the molecule's output alone (before the fix: relative error ~1)."""
    x = _ethanol_padded()
    if kind == "sort":  # distinct keys: no tie-breaks drawn, so the S_N frame is exact
        x["h"][x["mask"]] = torch.tensor([3.0, 1, 4, 9, 5, 2, 6, 8, 7], dtype=torch.float64)
    group = group_of(("symmetric", "e3"), 12)
    model = _positional(kind, group)
    y = model(x)
    assert not model.flagged.any()
    alone = {k: v[:, x["mask"][0]] for k, v in x.items() if k != "mask"}
    model_alone = _positional(kind, group_of(("symmetric", "e3"), 9))
    y_alone = model_alone(alone)
    for k in OUT:
        got = y[k][:, x["mask"][0]] if OUT[k].nodes else y[k]
        assert torch.allclose(got, y_alone[k], rtol=1e-9, atol=1e-12), k


@pytest.mark.parametrize("kind", ["frame_averaging", "canonicalization"])
def test_padding_values_never_change_the_sort(kind):
    """Atom types are clustered relative to their largest magnitude over the *real* nodes: a
    padding row holding 1e6 must not merge H, C and O into one type (then the sort, and the
    output of an order-sensitive backbone, would depend on the padding)."""
    x = _ethanol_padded()
    x["h"][~x["mask"]] = 1e6
    group = group_of(("symmetric", "e3"), 12)
    y = _positional(kind, group)(x)
    alone = {k: v[:, x["mask"][0]] for k, v in x.items() if k != "mask"}
    y_alone = _positional(kind, group_of(("symmetric", "e3"), 9))(alone)
    assert torch.allclose(y["e"], y_alone["e"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["frame_averaging", "canonicalization"])
def test_an_empty_batch_gives_empty_outputs(kind):
    x = {"h": torch.zeros(0, 4, dtype=torch.float64),
         "pos": torch.zeros(0, 4, 3, dtype=torch.float64)}
    y = _positional(kind, group_of(("o3", "symmetric"), 4))(x)
    assert y["e"].shape[0] == 0 and y["v"].shape[:2] == (0, 4)


def test_sampled_tie_breaks_are_equivariant_in_distribution():
    """Five coincident H atoms: 5! = 120 tie-breaks > max_ties, so max_ties are drawn: the
    sample is flagged, and the mean of n forwards approaches its expectation like 1/sqrt(n)
    (``check_outcomes``); with a pair of coincident atoms (2 tie-breaks) it is exact."""
    from symkit.testing import HardInput, check_outcomes

    atoms = molecule("CH3CH2OH")
    pos = torch.tensor(atoms.positions)[None]
    h = torch.tensor(atoms.numbers, dtype=torch.float64)[None]
    hydrogens = (h[0] == 1).nonzero().flatten()
    pair, five = pos.clone(), pos.clone()
    pair[0, hydrogens[1]] = pos[0, hydrogens[0]]
    five[0, hydrogens[1:]] = pos[0, hydrogens[0]]
    group = group_of(("symmetric", "e3"), 9)
    for kind in ("frame_averaging", "canonicalization"):
        model = _positional(kind, group)
        exact = check_outcomes(model, group, IN, OUT, HardInput("pair", {"h": h, "pos": pair},
                                                                [True]))
        assert exact.outcomes == ["exact"], kind
    # the statistical check costs 2 x 128 forwards of 8 x max_ties copies: one part (the same
    # sort), 6 tie-breaks drawn of 120
    model = _positional("frame_averaging", group, max_ties=6)
    drawn = check_outcomes(model, group, IN, OUT, HardInput("five", {"h": h, "pos": five},
                                                            [True]))
    assert drawn.outcomes == ["flagged"] and drawn.stat
