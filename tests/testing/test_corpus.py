"""The hard-input corpus: every symmetry class, the shipped file agrees with ase, the layouts."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from symkit.testing import (
    SYMMETRY_CLASSES,
    hard_inputs,
    molecule_in_spec,
    molecules,
    padded_batch,
    ragged_batch,
    remove_sample,
)

SPEC = molecule_in_spec()


def _inertia_eigenvalues(pos: torch.Tensor) -> torch.Tensor:
    c = pos - pos.mean(0)
    return torch.linalg.eigvalsh(c.T @ c)


def test_every_symmetry_class_has_a_molecule():
    assert {m.symmetry for m in molecules()} == set(SYMMETRY_CLASSES)
    assert [m.name for m in molecules("linear")] == ["co2"]
    with pytest.raises(ValueError, match="unknown symmetry"):
        molecules("chiral")


def test_symmetry_classes_are_what_they_say():
    """Linear: one non-zero moment; planar: one zero moment; tetrahedral/octahedral: three equal
    moments; rings and symmetric tops: two equal; asymmetric: all distinct."""
    for m in molecules():
        ev = _inertia_eigenvalues(m.tensors()[1])
        rel = ev / ev.max()
        equal = (rel[1:] - rel[:-1]).abs() < 1e-4
        if m.symmetry == "linear":
            assert rel[:2].abs().max() < 1e-8
        elif m.symmetry == "planar":
            assert rel[0] < 1e-8
        elif m.symmetry in ("tetrahedral", "octahedral"):
            assert equal.all()
        elif m.symmetry in ("hexagonal_ring", "symmetric_top"):
            assert equal.any() and not equal.all()
        elif m.symmetry == "asymmetric":
            assert not equal.any() and rel[0] > 1e-3


@pytest.mark.skipif(importlib.util.find_spec("ase") is None,
                    reason="optional: ase is not installed (pip install symkit[dev])")
def test_shipped_geometries_are_the_ase_g2_ones():
    for ours, theirs in zip(molecules(), molecules(source="ase")):
        assert ours.numbers == theirs.numbers
        assert torch.allclose(ours.tensors()[1], theirs.tensors()[1], atol=1e-6), ours.name


def test_padded_and_ragged_batches_hold_the_same_atoms():
    mols = molecules()[:3]
    pad = padded_batch(mols, SPEC, pad_to=12, generator=torch.Generator().manual_seed(0))
    rag = ragged_batch(mols, SPEC)
    assert pad["pos"].shape == (3, 12, 3) and pad["mask"].sum() == rag["pos"].shape[0]
    assert torch.equal(pad["pos"][pad["mask"]], rag["pos"])
    assert (pad["pos"][~pad["mask"]] != 0).all()  # padding is random, never zeros
    assert torch.equal(rag["batch"].bincount(), pad["mask"].sum(1))


def test_remove_sample_in_both_layouts():
    mols = molecules()[:3]
    rag = remove_sample(ragged_batch(mols, SPEC), SPEC, 1)
    assert int(rag["num_graphs"]) == 2 and rag["batch"].unique().tolist() == [0, 1]
    assert torch.equal(rag["pos"], ragged_batch([mols[0], mols[2]], SPEC)["pos"])
    pad = remove_sample(padded_batch(mols, SPEC), SPEC, 0)
    assert pad["pos"].shape[0] == pad["mask"].shape[0] == 2


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_hard_inputs_cover_layouts_scales_and_nan(dtype):
    cases = {c.name: c for c in hard_inputs(SPEC, dtype=dtype)}
    assert {"padded", "ragged", "empty_batch", "empty_batch_ragged", "empty_sample",
            "empty_sample_ragged", "nan"} <= set(cases)
    assert {f"mol:{m.name}" for m in molecules()} <= set(cases)
    assert all(c.sample["pos"].dtype == dtype for c in cases.values())
    assert cases["empty_batch"].sample["pos"].shape[0] == 0
    assert not cases["empty_sample"].sample["mask"][1].any()
    assert torch.isnan(cases["nan"].sample["pos"][1]).any() and cases["nan"].must_raise == {1}
    scales = {c.scale for c in cases.values()}
    if dtype in (torch.float64, torch.float32):
        assert {1e-8, 1e6} <= scales
    for c in cases.values():  # scaled inputs stay representable
        assert torch.isfinite(c.sample["pos"]).all() or c.name == "nan"


def test_with_nodes_resizes_the_permutation_factor_only():
    from symkit.groups import product, symmetric
    from symkit.testing import with_nodes

    group = product(["o3", symmetric(5)])
    assert repr(with_nodes(group, 9)) == "O(3) x S9"
    assert with_nodes(group, 5) is group
    e3 = product(["e3"])
    assert with_nodes(e3, 9) is e3  # nothing permutes nodes: unchanged


def test_positional_node_mlp_reads_node_order_but_not_padding():
    """``NodeMLP(positional=True)``: permuting the real nodes changes its output (so an S_N
    symmetrizer is tested, not the backbone's pooling); padding rows, wherever they are, and the
    rest of the batch do not."""
    from symkit.testing import MOLECULE_OUT_SPECS, NodeMLP

    out = MOLECULE_OUT_SPECS["invariant"]
    torch.manual_seed(0)
    net = NodeMLP(SPEC, out, positional=True).double()
    water, methane = molecules("planar")[-1], molecules("tetrahedral")[0]
    x = padded_batch([water, methane], SPEC, pad_to=7, generator=torch.Generator())
    alone = padded_batch([water], SPEC)
    y = net(x)["e"]
    assert torch.allclose(y[0], net(alone)["e"][0], rtol=1e-12)
    swapped = {k: v[:, [1, 0, 2, 3, 4, 5, 6]] for k, v in x.items()}
    assert (net(swapped)["e"][0] - y[0]).abs().max() > 1e-4  # order matters
    moved = {k: v[:, [0, 1, 5, 2, 3, 4, 6]] for k, v in x.items()}  # padding row 5 moved in
    assert torch.allclose(net(moved)["e"][0], y[0], rtol=1e-12)
    plain = NodeMLP(SPEC, out).double()
    assert torch.allclose(plain(swapped)["e"], plain(x)["e"], rtol=1e-12)
