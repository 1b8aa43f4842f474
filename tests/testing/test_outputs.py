"""Output layout and dtype: a model whose outputs are equivariant but have the wrong shape (a
node field without its node axis, a row too few) or the wrong dtype (float64 for float32 inputs)
fails the conformance checks with one line naming the field and what was expected."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symkit.registry import registry
from symkit.testing import check_outcomes, check_symmetrizer, example_sample, hard_inputs
from symkit.testing._hard_inputs import MOLECULE_OUT_SPECS, molecule_in_spec
from symkit.testing._outputs import output_problem

from ._toys import Toy

E3 = registry("groups").build("e3")
SPEC, OUT = molecule_in_spec(), MOLECULE_OUT_SPECS["equivariant"]


class Wrong(nn.Module):
    """:class:`Toy` (exact) with one output bug: ``float64`` outputs, ``nodes`` (``v`` summed
    over its node axis: still equivariant), ``row`` (one sample's rows dropped)."""

    is_exact = True

    def __init__(self, bug: str):
        super().__init__()
        self.toy, self.bug = Toy(), bug

    @property
    def flagged(self):
        return self.toy.flagged

    def forward(self, sample):
        y = self.toy(sample)
        if self.bug == "float64":
            return {k: v.double() for k, v in y.items()}
        if self.bug == "nodes":
            return {**y, "v": y["v"].sum(-3)}
        if self.bug == "row":
            return {**y, "e": y["e"][1:]}
        return y


def cases(dtype):
    return {c.name: c for c in hard_inputs(SPEC, dtype=dtype)}


@pytest.mark.parametrize("name", ["mol:water", "padded", "ragged", "empty_batch",
                                  "empty_batch_ragged", "empty_sample_ragged"])
def test_correct_outputs_have_no_problem(name):
    sample = cases(torch.float32)[name].sample
    assert output_problem(Toy()(sample), E3, SPEC, OUT, sample) is None


@pytest.mark.parametrize(("bug", "match"), [
    ("float64", r"output field 'e' has dtype torch.float64 for torch.float32 inputs"),
    ("nodes", r"output field 'v': expected shape \(B, N, \.\.\., 3\)"),
    ("row", r"output field 'e': expected shape \(B, \.\.\.\) with B = 1 samples, got \(0, 2\)"),
])
def test_a_wrong_output_layout_or_dtype_fails_the_corpus(bug, match):
    case = cases(torch.float32)["mol:water"]
    with pytest.raises(AssertionError, match=match):
        check_outcomes(Wrong(bug), E3, SPEC, OUT, case)


def test_a_node_field_of_a_ragged_batch_keeps_one_row_per_node():
    case = cases(torch.float64)["ragged"]
    with pytest.raises(AssertionError, match=r"output field 'v': expected shape \(T, \.\.\., 3\) "
                                             r"\(T = \d+ node rows of the ragged batch\)"):
        check_outcomes(Wrong("nodes"), E3, SPEC, OUT, case)


def _wrapped(bug):
    def factory(backbone, group, in_spec, out_spec):
        return Wrong(bug)
    factory.__name__ = f"wrong_{bug}"
    return factory


@pytest.mark.parametrize(("bug", "match"), [
    ("float64", "output field 'e' has dtype torch.float64 for torch.float32 inputs"),
    ("nodes", r"output field 'v': expected shape \(B, N, \.\.\., 3\)"),
])
def test_check_symmetrizer_checks_the_output_layout_and_dtype(bug, match):
    sample = example_sample(E3, SPEC, batch=3, generator=torch.Generator().manual_seed(0))
    head = f"wrong_{bug} on E\\(3\\) \\(torch.float32\\): "
    with pytest.raises(AssertionError, match=head + match):
        check_symmetrizer(_wrapped(bug), E3, SPEC, OUT, sample, dtype=torch.float32)
