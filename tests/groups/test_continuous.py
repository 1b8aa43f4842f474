"""Continuous groups: encodings, sample kinds, dtypes and bad parameters."""

from __future__ import annotations

import pytest
import torch

from symkit.errors import ConfigError
from symkit.groups import Euclidean, Orthogonal, Scaling, SpecialEuclidean, Translation
from symkit.registry import registry


def test_euclidean_layout_and_kinds():
    e3 = Euclidean(3, translation_scale=2.0)
    gen = torch.Generator().manual_seed(0)
    g = e3.sample(4000, generator=gen, dtype=torch.float32)
    assert g.dtype == torch.float32 and g.shape == (4000, 4, 4)
    assert torch.equal(g[:, 3], torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(4000, 4))
    assert abs(float(e3.translation(g).std()) - 2.0) < 0.05
    refl = e3.sample_kind("reflection", 8, generator=gen)
    assert torch.allclose(torch.linalg.det(e3.matrix(refl)), -torch.ones(8, dtype=torch.float64))
    assert torch.equal(e3.translation(refl), torch.zeros(8, 3, dtype=torch.float64))
    shift = e3.sample_kind("translation", 8, generator=gen)
    assert torch.equal(e3.matrix(shift), torch.eye(3, dtype=torch.float64).expand(8, 3, 3))
    assert (e3.translation(shift).abs() > 0).all()
    assert SpecialEuclidean(2).kinds == ("rotation", "translation")


def test_inverse_of_affine_map():
    e2 = Euclidean(2)
    g = e2.sample(5)
    x = torch.randn(5, 2, dtype=torch.float64)
    gx = (e2.matrix(g) @ x[..., None])[..., 0] + e2.translation(g)
    gi = e2.inverse(g)
    back = (e2.matrix(gi) @ gx[..., None])[..., 0] + e2.translation(gi)
    assert torch.allclose(back, x)


def test_translation_and_scaling():
    t = Translation(2)
    assert t.matrix(t.sample(3)) is None and t.translation(t.sample(3)).shape == (3, 2)
    s = Scaling(4, log_std=0.1)
    g = s.sample(3, dtype=torch.float32)
    assert g.dtype == torch.float32 and (g > 0).all()
    assert torch.allclose(s.matrix(g), g[:, None, None] * torch.eye(4))


def test_reprs():
    names = {"so3": "SO(3)", "o2": "O(2)", "se3": "SE(3)", "e2": "E(2)", "c4": "C4", "d4": "D4",
             "translation": "T(3)", "symmetric": "S5", "trivial": "Trivial"}
    for name, text in names.items():
        assert repr(registry("groups").build(name)) == text


def test_orthogonal_sample_is_float_and_follows_dtype():
    g = Orthogonal(3).sample(2, dtype=torch.float32)
    assert g.dtype == torch.float32


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("cyclic", {"n": 0}, "cyclic: n must be an integer >= 1"),
        ("dihedral", {"n": -2}, "dihedral: n must be"),
        ("dihedral", {"n": 2.5}, "got 2.5"),
        ("so", {"d": 0}, "so: d must be"),
        ("o", {"d": True}, "o: d must be"),
        ("se", {"d": "3"}, "se: d must be"),
        ("e", {"translation_scale": -1.0}, "e: translation_scale must be a number > 0"),
        ("translation", {"d": 0}, "translation: d must be"),
        ("scaling", {"log_std": 0}, "scaling: log_std must be"),
        ("symmetric", {"n": 0}, "symmetric: n must be"),
    ],
)
def test_bad_parameters(name, kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        registry("groups").build(name, **kwargs)
    assert info.value.key is None
