"""The batched affine in/out transforms agree with the generic ``Field.act`` path."""

from __future__ import annotations

import pytest
import torch

from symkit.groups import c4, e3, o3, se3, translation
from symkit.reps import point, pseudovector, scalar, vector
from symkit.spec import Field, Spec
from symkit.symmetrizers import FrameAveraging, GroupAveraging
from symkit.symmetrizers import _base as base
from symkit.testing import FlatMLP

IN = Spec({"pos": Field(point(), nodes=True), "vel": Field(vector(), nodes=True),
           "q": Field(scalar(), nodes=True), "spin": Field(pseudovector(), nodes=True)})
OUT = Spec({"e": scalar(), "y": Field(point(), nodes=True), "v": Field(vector(), nodes=True),
            "w": Field(pseudovector(), nodes=True)})


def _sample(d: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {"pos": torch.randn(3, 4, d, dtype=torch.float64, generator=gen),
            "vel": torch.randn(3, 4, d, dtype=torch.float64, generator=gen),
            "q": torch.randn(3, 4, 1, dtype=torch.float64, generator=gen),
            "spin": torch.randn(3, 4, d, dtype=torch.float64, generator=gen)}


@pytest.mark.parametrize("group", [e3(), se3(), o3(), translation(3), c4()], ids=repr)
def test_affine_action_matches_generic_path(group, monkeypatch):
    d = group.dim or 3
    gen = torch.Generator().manual_seed(0)
    x = _sample(2 if repr(group) == "C4" else d, gen)
    out = OUT if group.matrix(group.identity(1)) is not None else Spec(
        {"e": scalar(), "y": Field(point(), nodes=True)})
    net = FlatMLP.for_sample(group, IN, out, x).double()
    if group.is_finite or repr(group).startswith("O"):
        model = GroupAveraging(net, group, IN, out, eval_samples=4,
                               generator=torch.Generator().manual_seed(1)).eval()
    else:
        model = FrameAveraging(net, group, IN, out).eval()
    assert base.AffineAction.of(group, model.elements(x)[0], torch.float64) is not None
    if isinstance(model, GroupAveraging):
        model.generator.manual_seed(1)
    fast = model(x)
    if isinstance(model, GroupAveraging):
        model.generator.manual_seed(1)
    monkeypatch.setattr(base.AffineAction, "of", classmethod(lambda cls, *a, **k: None))
    slow = model(x)
    for name in out:
        torch.testing.assert_close(fast[name], slow[name], rtol=1e-12, atol=1e-12)
