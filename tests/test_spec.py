"""Spec validation errors name the field and the expected shape; Spec.act moves named fields."""

import pytest
import torch

from symkit.errors import SpecError
from symkit.registry import registry
from symkit.spec import Field, Spec, permute_nodes

reps = registry("reps")


@pytest.fixture
def group():
    return registry("groups").build("product", ["symmetric", "e3"])  # S5 x E(3)


@pytest.fixture
def spec():
    return Spec({
        "pos": Field(reps.build("point"), nodes=True),
        "vel": Field(reps.build("vector"), nodes=True),
        "charge": Field(reps.build("scalar"), nodes=True),
        "energy": reps.build("scalar"),
    })


def _sample(b=2, n=5):
    return {"pos": torch.randn(b, n, 3), "vel": torch.randn(b, n, 3),
            "charge": torch.randint(0, 3, (b, n)), "energy": torch.randn(b, 1)}


def test_valid_sample_passes(group, spec):
    spec.check(group, _sample())


@pytest.mark.parametrize("field, value, match", [
    ("vel", None, "missing field"),
    ("vel", torch.randn(2, 5, 2), "expected shape"),
    ("pos", torch.randn(2, 5, 3).long(), "floating-point"),
    ("vel", torch.randn(3, 5, 3), "B = 2"),
    ("vel", torch.randn(2, 4, 3), "N = 5"),
])
def test_errors_name_field_and_expected_shape(group, spec, field, value, match):
    sample = _sample()
    if value is None:
        del sample[field]
    else:
        sample[field] = value
    with pytest.raises(SpecError, match=match) as info:
        spec.check(group, sample, prefix="batch.")
    assert info.value.field == f"batch.{field}"
    assert "(B, N, ..., 3)" in str(info.value)


def test_act_transforms_named_fields_and_copies_others(group, spec):
    sample = _sample() | {"target": torch.randn(2, 5, 3)}
    g = group.sample(2, generator=torch.Generator().manual_seed(0))
    out = spec.act(group, g, sample)
    assert out["target"] is sample["target"]
    assert torch.equal(out["energy"], sample["energy"])
    perm, r, t = group.permutation(g), group.matrix(g), group.translation(g)
    pos = permute_nodes(sample["pos"], perm)
    expected = torch.einsum("bij,bnj->bni", r.float(), pos) + t.float()[:, None]
    torch.testing.assert_close(out["pos"], expected)
    assert torch.equal(out["charge"], permute_nodes(sample["charge"], perm))


def test_permute_nodes_moves_node_i_to_perm_i():
    x = torch.arange(4.0)[None, :, None]
    perm = torch.tensor([[2, 0, 3, 1]])
    assert permute_nodes(x, perm)[0, :, 0].tolist() == [1.0, 3.0, 0.0, 2.0]


def test_from_config_builds_fields():
    spec = Spec.from_config({"pos": "point", "vel": {"rep": "vector", "nodes": True}})
    assert set(spec) == {"pos", "vel"} and spec["vel"].nodes


def test_from_config_is_build_spec_errors_included():
    config = pytest.importorskip("symkit.config")
    from omegaconf import OmegaConf

    from symkit.errors import ConfigError

    node = OmegaConf.create({"pos": {"rep": "point", "nodes": True}, "q": "scalar"})
    spec = Spec.from_config(node, key="model.in_spec")
    assert repr(spec) == repr(config.build_spec(node, key="model.in_spec"))
    with pytest.raises(ConfigError, match=r"model\.in_spec"):
        Spec.from_config(["pos"], key="model.in_spec")
    with pytest.raises(ConfigError, match=r"model\.in_spec\.pos\.nodes"):
        Spec.from_config({"pos": {"rep": "point", "nodes": "yes"}}, key="model.in_spec")


def test_a_node_permutation_moves_the_padding_mask(group, spec):
    """The mask says which node rows are real: under S_N it moves with the nodes (a mask left
    in place would call padding rows real); under E(3) alone it stays."""
    x = _sample(b=2, n=5) | {"mask": torch.tensor([[True, True, True, False, False]] * 2)}
    g = group.sample(2, generator=torch.Generator().manual_seed(0))
    moved = spec.act(group, g, x)
    perm = group.split(g)[0]
    assert torch.equal(moved["mask"], permute_nodes(x["mask"], perm))
    for b in range(2):  # the real rows of g.x are the real rows of x, moved
        assert moved["mask"][b].sum() == 3
        assert torch.equal(moved["charge"][b][moved["mask"][b]].sort().values,
                           x["charge"][b][x["mask"][b]].sort().values)
    euclid = group.factors()[1]
    kept = Spec({"pos": spec["pos"]}).act(euclid, euclid.sample(2), x)
    assert kept["mask"] is x["mask"]
