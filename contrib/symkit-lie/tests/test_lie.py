"""symkit-lie: group axioms, the polar sampler, exact whitening canonicalization, a trained task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from symkit_lie import SYMKIT_API_VERSION
from symkit_lie._groups import Affine, GeneralLinear, polar
from symkit_lie._shapes import affine_shapes

from symkit.registry import registry
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.testing import (
    check_group_axioms,
    check_homomorphism,
    check_rep_conformance,
    check_sample_kinds,
    check_symmetrizer,
    equivariance_error,
)

GROUPS = {"glp": lambda: GeneralLinear(2), "sl": lambda: GeneralLinear(3, special=True),
          "glp3": lambda: GeneralLinear(3), "affine": lambda: Affine(2),
          "affine3": lambda: Affine(3)}
DTYPES = [pytest.param(torch.float64, 1e-12, id="f64"), pytest.param(torch.float32, 1e-5, id="f32")]


@pytest.mark.parametrize("name", GROUPS)
@pytest.mark.parametrize(("dtype", "atol"), DTYPES)
def test_group_axioms(name, dtype, atol):
    group = GROUPS[name]()
    check_group_axioms(group, dtype=dtype, atol=atol)
    check_homomorphism(group, dtype=dtype, atol=atol)
    check_sample_kinds(group, dtype=dtype, atol=atol)
    check_rep_conformance(vector(), group)
    check_rep_conformance(point(), group)


@pytest.mark.parametrize("name", GROUPS)
def test_samples_are_in_the_group_and_follow_the_polar_law(name):
    group = GROUPS[name]()
    gen = torch.Generator().manual_seed(0)
    a = group.matrix(group.sample(4000, generator=gen))
    det = torch.linalg.det(a)
    assert (det > 0).all()
    if group.special:
        assert torch.allclose(det, torch.ones_like(det), atol=1e-10)
    rot, pd = polar(a)
    assert torch.allclose(rot @ pd, a, atol=1e-10) and (torch.linalg.det(rot) > 0).all()
    # S = log P is stretch * GOE: off-diagonal entries have variance stretch^2 / 2
    lam, v = torch.linalg.eigh(pd)
    s = (v * lam.log()[:, None, :]) @ v.transpose(1, 2)
    var = s[:, 0, 1].var().item()
    assert abs(var - group.stretch**2 / 2) < 0.1 * group.stretch**2 / 2
    # the rotation factor is Haar: its mean vanishes
    assert rot.mean(0).abs().max() < 0.06
    for kind in group.kinds + group.extra_kinds:
        g = group.sample_kind(kind, 8, generator=gen)
        assert group.allclose(group.compose(g, group.inverse(g)), group.identity(8), atol=1e-10)


def test_stretch_factors_are_positive_definite():
    group = GeneralLinear(3, stretch=1.0, special=True)
    p = group.sample_kind("stretch", 64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(p, p.transpose(1, 2)) and (torch.linalg.eigvalsh(p) > 0).all()
    assert torch.allclose(torch.linalg.det(p), torch.ones(64, dtype=p.dtype), atol=1e-10)


def test_bad_parameters_are_config_errors():
    from symkit.errors import ConfigError

    with pytest.raises(ConfigError, match="stretch"):
        GeneralLinear(2, stretch=0.0)
    with pytest.raises(ConfigError, match="translation_scale"):
        Affine(2, translation_scale=-1.0)


IN_SPEC = Spec({"pos": Field(point(), nodes=True)})
OUT_SPEC = Spec({"e": scalar(), "v": vector()})


def _points(b=4, n=9, d=2, seed=0):
    return {"pos": torch.randn(b, n, d, dtype=torch.float64,
                               generator=torch.Generator().manual_seed(seed))}


@pytest.mark.parametrize("name", GROUPS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_whitening_canonicalization_is_exactly_equivariant(name, dtype):
    """check_symmetrizer: rtol 1e-9 (float64) / 1e-5 (float32), whole group and each kind."""
    group = GROUPS[name]()
    errors = check_symmetrizer("canonicalization", group, IN_SPEC, OUT_SPEC,
                               _points(d=group.dim), dtype=dtype,
                               params={"canonicalizer": "lie::whitening"})
    assert max(errors.values()) < (1e-9 if dtype == torch.float64 else 1e-5)


@pytest.mark.parametrize("name", GROUPS)
def test_canonical_element_is_equivariant_under_random_affine_maps(name):
    """h(g x) = g h(x) to 1e-9 relative in float64, stretches included; not flagged."""
    group = GROUPS[name]()
    canon = registry("canonicalizers").build("whitening", group, IN_SPEC)
    sample = _points(b=16, d=group.dim, seed=3)
    gen = torch.Generator().manual_seed(1)
    for kind in (None, "stretch"):
        g = group.sample(16, generator=gen) if kind is None else group.sample_kind(
            kind, 16, generator=gen)
        h = canon(sample)
        assert not canon.flagged.any()
        h_moved = canon(IN_SPEC.act(group, g, sample))
        expected = group.compose(g, h)
        rel = (h_moved - expected).norm() / expected.norm()
        assert rel < 1e-9, (kind, rel)


def test_degenerate_point_sets_are_flagged():
    """Collinear points have a singular covariance: flagged, never silently canonical."""
    group = Affine(2)
    canon = registry("canonicalizers").build("whitening", group, IN_SPEC)
    t = torch.linspace(-1, 1, 7, dtype=torch.float64)
    line = torch.stack([t, 2 * t], -1)[None]
    canon({"pos": torch.cat([line, _points(b=1, n=7)["pos"]])})
    assert canon.flagged.tolist() == [True, False]
    assert canon.metrics()["degenerate_fraction"] == 0.5


def test_other_groups_are_refused():
    from symkit.groups import SpecialOrthogonal

    assert not registry("canonicalizers").get("whitening").load().supports(SpecialOrthogonal(2))
    with pytest.raises(ValueError, match="does not support"):
        registry("canonicalizers").build("whitening", SpecialOrthogonal(2), IN_SPEC)


def test_affine_shapes_are_affine_images_of_the_templates():
    data = affine_shapes("train", n=32)
    item = data[0]
    assert item["pos"].shape == (12, 2) and item["label"].dtype == torch.long
    assert set(data.label.tolist()) == {0, 1, 2, 3}
    assert not torch.equal(affine_shapes("valid", n=32).pos, data.pos)


def test_trained_canonicalized_model_classifies_affine_images_invariantly():
    """A plain Deep Sets classifier behind whitening canonicalization: a few Adam steps fit the
    templates, and the trained model is invariant under random affine maps (1e-5, float32)."""
    torch.manual_seed(0)
    group = Affine(2, stretch=0.5, translation_scale=2.0)
    spec_out = Spec({"logits": scalar()})
    backbone = registry("backbones").build("deepsets", writes={"logits": [4]}, hidden=32,
                                           in_spec=IN_SPEC)
    model = registry("symmetrizers").build("canonicalization", backbone, group, IN_SPEC,
                                           spec_out, canonicalizer="whitening")
    data = affine_shapes("train", n=256)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(60):
        idx = torch.arange(64) + 64 * (step % 4)
        loss = torch.nn.functional.cross_entropy(model({"pos": data.pos[idx]})["logits"],
                                                 data.label[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = affine_shapes("test", n=128)
    with torch.no_grad():
        acc = (model({"pos": test.pos})["logits"].argmax(-1) == test.label).double().mean()
    assert acc > 0.9, acc  # chance is 0.25: the classes are told apart only through the frame
    err = equivariance_error(model.eval(), group, IN_SPEC, spec_out, {"pos": test.pos[:32]},
                             n_elements=4, generator=torch.Generator().manual_seed(0))
    assert err.relative < 1e-4, err


def test_worst_case_search_uses_the_lie_algebra():
    from symkit.testing import worst_case_error

    group = Affine(2)
    model = registry("symmetrizers").build(
        "canonicalization", lambda s: {"e": s["pos"][:, :1, 0]}, group, IN_SPEC,
        Spec({"e": scalar()}), canonicalizer="whitening")
    found = worst_case_error(model, group, IN_SPEC, Spec({"e": scalar()}), _points(),
                             restarts=2, steps=5, generator=torch.Generator().manual_seed(0))
    assert found.method == "gradient" and found.error < 1e-9


def test_declares_api_version():
    assert SYMKIT_API_VERSION == 1


CONFIG = Path(__file__).resolve().parents[3] / "configs" / "affine" / "whitening_deepsets.yaml"


def test_config_trains(tmp_path):
    pytest.importorskip("symkit.model")
    if not CONFIG.is_file():
        pytest.fail(f"the example config {CONFIG} is missing")
    from symkit.runner.trainer import train

    result = train(CONFIG, ["data.n=64", "train.epochs=1", "train.progress=false",
                            f"train.checkpoint_dir={tmp_path}", "tracking.enabled=false"])
    assert result.equivariance and max(result.equivariance.values()) < 1e-4
