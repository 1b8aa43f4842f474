"""CNN backbones: output shapes and batch independence."""

from __future__ import annotations

import pytest
import torch
from symkit_vision.backbones import cnn_classifier, resnet_small

BUILDERS = {
    "cnn_classifier": lambda: cnn_classifier(channels=(8, 16),
                                             writes={"logits": [10], "aux": [2, 3]}),
    "resnet_small": lambda: resnet_small(widths=(8, 16), blocks=1,
                                         writes={"logits": [10], "aux": [2, 3]}),
}


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("size", [28, 29])
def test_shapes(name, size):
    torch.manual_seed(0)
    model = BUILDERS[name]()
    out = model({"image": torch.rand(5, 1, size, size)})
    assert out["logits"].shape == (5, 10) and out["aux"].shape == (5, 2, 3)


@pytest.mark.parametrize("name", BUILDERS)
def test_batch_independent_in_train_mode(name):
    torch.manual_seed(0)
    model = BUILDERS[name]().double().train()
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    full = model({"image": x})["logits"]
    torch.testing.assert_close(model({"image": x[:1]})["logits"], full[:1])


def test_missing_field_is_reported():
    from symkit.errors import SpecError

    with pytest.raises(SpecError, match="image"):
        cnn_classifier()({"img": torch.rand(1, 1, 28, 28)})


def test_c4_group_averaging_makes_cnn_invariant():
    """The plugin's CNN under the core symmetrizer: exactly C4-invariant on real digits."""
    from symkit_vision.datasets import mnist

    from symkit.config import build_spec
    from symkit.registry import registry
    from symkit.testing import assert_equivariant

    group = registry("groups").build("c4")
    in_spec = build_spec({"image": "image"}, key="in_spec")
    out_spec = build_spec({"logits": "scalar"}, key="out_spec")
    model = registry("symmetrizers").build(
        "group_averaging", cnn_classifier(channels=(8, 16)).double(), group, in_spec, out_spec
    ).eval()
    images = mnist("test", test_size=8).images.double()
    assert_equivariant(model, group, in_spec, out_spec, {"image": images})
