"""FieldAdapter: plain tensor modules on sample dicts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symkit.backbones import FieldAdapter
from symkit.errors import SpecError


class TwoHeads(nn.Module):
    def forward(self, a, b):
        return a + b, (a * b).sum(-1)


def test_single_tensor_output_with_shape():
    adapter = FieldAdapter(nn.Linear(6, 15), "x", {"y": [5, 3]})
    out = adapter({"x": torch.randn(7, 6), "other": torch.zeros(1)})
    assert out["y"].shape == (7, 5, 3)


def test_tuple_output_and_positional_reads():
    adapter = FieldAdapter(TwoHeads(), ["a", "b"], ["sum", "dot"])
    a, b = torch.randn(2, 4), torch.randn(2, 4)
    out = adapter({"b": b, "a": a})
    torch.testing.assert_close(out["sum"], a + b)
    torch.testing.assert_close(out["dot"], (a * b).sum(-1))


def test_per_node_reshape_and_dict_output():
    class Dict(nn.Module):
        def forward(self, x):
            return {"z": x.repeat(1, 1, 2), "ignored": x}

    out = FieldAdapter(Dict(), ["x"], {"z": [-1, 2, 3]})({"x": torch.randn(1, 5, 3)})
    assert out["z"].shape == (1, 5, 2, 3)


def test_errors_name_the_field():
    adapter = FieldAdapter(nn.Identity(), ["x"], ["y", "z"])
    with pytest.raises(SpecError, match="missing"):
        adapter({"w": torch.zeros(1)})
    with pytest.raises(SpecError, match="writes"):
        adapter({"x": torch.zeros(1)})
