"""The backbone I/O helpers that core and plugin backbones share (symkit/backbones/_fields.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symkit.backbones import OutputHeads, masked_pool, mlp, parse_writes
from symkit.errors import ConfigError


def test_parse_writes_shapes_and_default():
    assert parse_writes({"a": 3, "b": [-1, 2], "c": []}) == {"a": (3,), "b": (-1, 2), "c": ()}
    assert parse_writes(None, default={"logits": [10]}) == {"logits": (10,)}
    with pytest.raises(ConfigError, match="writes"):
        parse_writes(None)


@pytest.mark.parametrize("writes, options, key", [
    ({"seg": [-1, 2]}, {"per_node": False}, "writes.seg"),
    ({"e": []}, {"scalar": False}, "writes.e"),
    ({"e": [2, -1]}, {}, "writes.e"),
    ({"e": [0]}, {}, "writes.e"),
])
def test_parse_writes_rejects_with_the_field_named(writes, options, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_writes(writes, **options)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_pool_ignores_padding(dtype):
    torch.manual_seed(0)
    h = torch.randn(3, 6, 4, dtype=dtype)
    mask = torch.tensor([[True] * 4 + [False] * 2, [True] * 6, [False] * 6])
    padded = h.masked_fill(~mask.unsqueeze(-1), 1e6)
    for pool in ("sum", "mean", "max"):
        got = masked_pool(padded, mask, pool)
        for b in range(2):
            real = h[b, mask[b]]
            expected = {"sum": real.sum(0), "mean": real.mean(0), "max": real.amax(0)}[pool]
            torch.testing.assert_close(got[b], expected)
        assert torch.equal(got[2], torch.zeros(4, dtype=dtype)), pool  # no real node: 0
    torch.testing.assert_close(masked_pool(h, None, "max"), h.amax(1))
    with pytest.raises(ConfigError, match="pool"):
        masked_pool(h, mask, "median")


def test_mlp_layers_widths_and_dropout():
    net = mlp([8, 8], 2, "tanh", in_features=3, dropout=0.5)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.Tanh, nn.Dropout, nn.Linear, nn.Tanh, nn.Dropout, nn.Linear]
    assert net[0].in_features == 3 and net[-1].out_features == 2
    assert isinstance(mlp([4], None)[0], nn.LazyLinear)
    assert len(mlp([], None, in_features=5)) == 0  # no layer: the identity
    with pytest.raises(ConfigError, match="hidden"):
        mlp([], None)


def test_output_heads_read_node_and_pooled_features_of_their_own_widths():
    torch.manual_seed(0)
    heads = OutputHeads({"logits": (5,), "seg": (-1, 2, 3)}, 7, node_in_features=11)
    assert heads.heads["logits"].in_features == 7 and heads.heads["seg"].in_features == 11
    node, pooled = torch.randn(2, 4, 11), torch.randn(2, 7)
    mask = torch.tensor([[True, True, False, False], [True] * 4])
    out = heads(node, pooled, mask)
    assert out["logits"].shape == (2, 5) and out["seg"].shape == (2, 4, 2, 3)
    assert torch.equal(out["seg"][0, 2:], torch.zeros(2, 2, 3))
    torch.testing.assert_close(out["seg"][1], heads.heads["seg"](node[1]).reshape(4, 2, 3))


def test_output_heads_dropout_only_while_training():
    torch.manual_seed(0)
    heads = OutputHeads({"y": (3,)}, 16, dropout=0.5)
    x = torch.randn(4, 16)
    heads.eval()
    torch.testing.assert_close(heads(None, x)["y"], heads.heads["y"](x))
    heads.train()
    assert not torch.allclose(heads(None, x)["y"], heads.heads["y"](x))


def test_dense_node_features_refuse_a_ragged_batch_and_say_how_to_pad():
    from symkit.backbones._fields import node_features
    from symkit.errors import SpecError

    ragged = {"pos": torch.randn(7, 3), "charge": torch.randn(7, 1),
              "batch": torch.tensor([0, 0, 0, 1, 1, 1, 1])}
    with pytest.raises(SpecError, match=r"^batch: this backbone reads dense node fields "
                                        r"\(B, N, \.\.\.\) .* got a ragged batch .*"
                                        r"data\.batching: padded"):
        node_features(ragged, ["pos", "charge"])
    dense = {"pos": torch.randn(2, 4, 3), "charge": torch.randn(2, 4, 1)}
    assert node_features(dense, ["pos", "charge"]).shape == (2, 4, 4)
