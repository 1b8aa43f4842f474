"""``check_symmetrizer`` on a model broken for one kind of element only: the failure names
every failing kind, the kinds that passed and the worst sample, not just "all"."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symkit.registry import registry
from symkit.testing import check_symmetrizer, example_sample
from symkit.testing._hard_inputs import MOLECULE_OUT_SPECS, molecule_in_spec

from ._toys import Toy

O3 = registry("groups").build("o3")
SPEC, OUT = molecule_in_spec(), MOLECULE_OUT_SPECS["equivariant"]


class Chiral(nn.Module):
    """:class:`Toy` with ``v`` times the handedness of sample ``bad``'s first three centred
    points: invariant under rotations, flipped by reflections (a pseudovector declared as a
    vector). The other samples are exact."""

    is_exact = True

    def __init__(self, bad: int):
        super().__init__()
        self.toy, self.bad, self.flagged = Toy(), bad, None

    def forward(self, sample):
        y = self.toy(sample)
        x = sample["pos"] - sample["pos"].mean(1, keepdim=True)
        hand = torch.linalg.det(x[:, :3]).sign()
        keep = torch.arange(x.shape[0]) != self.bad
        hand = torch.where(keep, torch.ones_like(hand), hand)
        return {**y, "v": y["v"] * hand[:, None, None, None]}


@pytest.mark.parametrize("bad", [0, 2])
def test_a_failure_for_reflections_only_names_the_kind_and_the_sample(bad):
    sample = example_sample(O3, SPEC, batch=3, generator=torch.Generator().manual_seed(0))

    def chiral(backbone, group, in_spec, out_spec):
        return Chiral(bad)

    with pytest.raises(AssertionError) as info:
        check_symmetrizer(chiral, O3, SPEC, OUT, sample)
    message = str(info.value)
    head = message.splitlines()[0]
    failed = head.split("is not equivariant for ")[1].split(" elements")[0].split(", ")
    assert "reflection" in failed and "rotation" not in failed, head
    assert "passed: " in head and "rotation (" in head.split("passed: ")[1], head
    assert "field 'v'" in message
    assert message.count(f"(worst: sample {bad})") == len(failed), message
