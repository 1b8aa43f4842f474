"""symkit.model.build_model: YAML node -> symmetrized (or bare) model."""

from __future__ import annotations

import pytest
import torch

from symkit.errors import ConfigError
from symkit.model import build_model
from symkit.symmetrizers import Canonicalization, FrameAveraging, Unsymmetrized
from symkit.testing import assert_equivariant


def _cfg(symmetrizer):
    return {
        "group": "e3",
        "in_spec": {"pos": {"rep": "point", "nodes": True}},
        "out_spec": {"e": "scalar"},
        "backbone": {"type": "mlp", "writes": {"e": [1]}, "hidden": [16]},
        "symmetrizer": symmetrizer,
    }


@pytest.mark.parametrize(
    ("symmetrizer", "cls"),
    [
        ({"type": "frame_averaging", "field": "pos", "chunk_size": 5}, FrameAveraging),
        ({"type": "canonicalization", "canonicalizer": "pca"}, Canonicalization),
        ({"type": "canonicalization", "canonicalizer": {"type": "pca", "sign_tol": 1e-5}},
         Canonicalization),
    ],
)
def test_build_symmetrized_model(symmetrizer, cls):
    model = build_model(_cfg(symmetrizer)).eval()
    assert isinstance(model, cls)
    assert model.group.dim == 3 and list(model.in_spec) == ["pos"] and list(model.out_spec) == ["e"]
    x = {"pos": torch.randn(4, 6, 3, generator=torch.Generator().manual_seed(0))}
    assert model(x)["e"].shape == (4, 1)
    assert model.extra_losses() == {}
    assert "degenerate_fraction" in model.metrics()
    assert_equivariant(model, model.group, model.in_spec, model.out_spec, x, rtol=1e-5)


def test_without_symmetrizer_is_the_bare_backbone():
    model = build_model(_cfg(None))
    assert isinstance(model, Unsymmetrized)
    x = {"pos": torch.randn(2, 6, 3)}
    assert torch.equal(model(x)["e"], model.backbone(x)["e"])
    assert model.extra_losses() == {} and model.metrics() == {}


def test_errors_name_the_key_path():
    with pytest.raises(ConfigError, match=r"model\.symmetrizer\.feild"):
        build_model(_cfg({"type": "frame_averaging", "feild": "pos"}))
    with pytest.raises(ConfigError, match=r"model\.symmetrizer"):
        build_model(_cfg({"type": "frame_averagin"}))
    with pytest.raises(ConfigError, match=r"model\.colour"):
        build_model({**_cfg(None), "colour": 1})
    bad = _cfg({"type": "group_averaging"})  # E(3) is not compact
    with pytest.raises(ConfigError, match=r"model\.symmetrizer"):
        build_model(bad)


@pytest.mark.parametrize("chunk", ["auto", None, 3])
def test_chunk_size_from_yaml(chunk):
    sym = {"type": "frame_averaging", "field": "pos", "chunk_size": chunk}
    assert build_model(_cfg(sym)).chunk_size == chunk


@pytest.mark.parametrize("bad", [-3, 0, "fast"])
def test_bad_chunk_size_is_one_config_error_naming_the_key(bad):
    for kind in ({"type": "frame_averaging", "field": "pos"},
                 {"type": "canonicalization", "canonicalizer": "pca"}):
        with pytest.raises(ConfigError, match=r"^model\.symmetrizer: chunk_size must be a "
                                              r"positive int, 'auto' or None, got ") as err:
            build_model(_cfg({**kind, "chunk_size": bad}))
        assert "\n" not in str(err.value)
