"""Degenerate inputs of the finite and image canonicalizers: ties are flagged and broken at
random (equivariant in distribution); generic inputs are untouched."""

from __future__ import annotations

import torch

from symkit.canonicalizers import (
    GroupCNNCanonicalizer,
    ImageFrameCanonicalizer,
    LearnedSortCanonicalizer,
)
from symkit.reps import scalar
from symkit.spec import Field, Spec
from symkit.symmetrizers.learned._ties import argmax_ties, argsort_ties

from ..._cases import group, image_sample, image_spec


def test_argmax_ties_are_uniform_and_flagged():
    logits = torch.tensor([[1.0, 3.0, 3.0, 0.0], [0.0, 1.0, 2.0, 0.5]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(4)
    for _ in range(400):
        index, flagged = argmax_ties(logits, 1e-12, gen)
        counts[index[0]] += 1
        assert index[1] == 2
    assert flagged.tolist() == [True, False]
    assert counts[0] == counts[3] == 0 and 150 < counts[1] < 250  # about 200 each


def test_argsort_ties_shuffle_only_within_a_tie():
    scores = torch.tensor([[0.5, 0.1, 0.5, 0.9]], dtype=torch.float64)
    seen = set()
    for seed in range(40):
        order, flagged = argsort_ties(scores, 1e-12, torch.Generator().manual_seed(seed))
        assert bool(flagged.all()) and order[0, 0] == 1 and order[0, 3] == 3
        seen.add(tuple(order[0, 1:3].tolist()))
    assert seen == {(0, 2), (2, 0)}
    order, flagged = argsort_ties(torch.tensor([[0.3, 0.1, 0.2]]), 1e-6)
    assert order.tolist() == [[1, 2, 0]] and not bool(flagged.any())


def _c4_symmetric(x: torch.Tensor) -> torch.Tensor:
    return sum(torch.rot90(x, k, dims=(-2, -1)) for k in range(4))


def test_group_cnn_flags_a_symmetric_image():
    torch.manual_seed(0)
    canon = GroupCNNCanonicalizer(group("c4"), image_spec(), hidden=8).double()
    x = image_sample(batch=2)["image"]
    x[1] = _c4_symmetric(x[1])
    canon({"image": x})
    assert canon.flagged.tolist() == [False, True]
    assert canon.metrics()["degenerate_fraction"] == 0.5


def test_image_frame_flags_a_symmetric_image_and_stays_orthogonal():
    torch.manual_seed(0)
    canon = ImageFrameCanonicalizer(group("o2"), image_spec(), hidden=8)
    x = image_sample(batch=2)["image"]
    x[1] = _c4_symmetric(x[1])
    q = canon({"image": x}).double()
    assert canon.flagged.tolist() == [False, True]
    assert (q.transpose(1, 2) @ q - torch.eye(2, dtype=torch.float64)).abs().max() < 1e-12


def test_learned_sort_flags_identical_nodes():
    spec = Spec({"h": Field(scalar(), nodes=True)})
    torch.manual_seed(0)
    canon = LearnedSortCanonicalizer(group("symmetric", 4), spec).double()
    h = torch.randn(2, 4, dtype=torch.float64)
    h[1, 2] = h[1, 0]
    order = canon({"h": h})
    assert canon.flagged.tolist() == [False, True]
    assert sorted(order[1].tolist()) == [0, 1, 2, 3]
