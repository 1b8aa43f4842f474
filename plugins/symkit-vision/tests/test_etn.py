"""The equivariant transformer canonicalizer: exact on quarter turns, equivariant up to a
measured resampling error elsewhere, composable, trainable, and honest in `symkit check`."""

from __future__ import annotations

import math

import pytest
import torch

from symkit.errors import ConfigError
from symkit.groups import Orthogonal, Scaling, SpecialOrthogonal, c4, product
from symkit.registry import registry
from symkit.reps import image
from symkit.spec import Spec
from symkit.testing import QuarterTurns, equivariance_error

SO2, SCALE = SpecialOrthogonal(2), Scaling(2, log_std=0.2)
ETN = "vision::equivariant_transformer"


def _canon(group, **options):
    torch.manual_seed(0)
    return registry("canonicalizers").build(ETN, group, Spec({"image": image()}), **options)


@pytest.fixture
def etn(canonicalized_cnn):
    """``etn(group, **options)``: the CNN behind an equivariant transformer."""
    return lambda group, **options: canonicalized_cnn(group, {"type": ETN, **options})


def _angle(m):
    return torch.atan2(m[:, 1, 0], m[:, 0, 0])


def test_groups_and_options_it_refuses():
    for group in (Orthogonal(2), c4(), SpecialOrthogonal(3), Scaling(3)):
        assert not registry("canonicalizers").get(
            "vision::equivariant_transformer").load().supports(group)
        with pytest.raises(ConfigError, match="equivariant_transformer makes elements"):
            _canon(group)
    with pytest.raises(ConfigError, match=r"transforms\.0"):
        _canon(SO2, transforms=["shear"])
    with pytest.raises(ConfigError, match="exactly once"):
        _canon(product([SO2, SCALE]), transforms=["rotation"])
    with pytest.raises(ConfigError, match="exactly once"):
        _canon(SO2, transforms=["rotation", "rotation"])
    with pytest.raises(ConfigError, match="centre"):
        _canon(SO2, center="corner")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("center", ["image", "centroid", "learned"])
def test_exact_on_quarter_turns(etn, digits, dtype, center):
    """Bilinear sampling commutes with the pixel grid's rot90: h(g x) = g h(x) and the
    canonicalized model is invariant, to rounding."""
    model = etn(SO2, center=center).to(dtype).eval()
    images, _ = digits(8)
    x = {"image": images.to(dtype)}
    turns = QuarterTurns(SO2)
    g = turns.sample(8, generator=torch.Generator().manual_seed(1), dtype=dtype)
    with torch.no_grad():
        h, hg = model.canonicalizer(x), model.canonicalizer({"image": image().act(SO2, g, x[
            "image"])})
        err = equivariance_error(model, turns, model.in_spec, model.out_spec, x, n_elements=4,
                                 generator=torch.Generator().manual_seed(0))
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert torch.allclose(hg, g @ h, atol=tol), (hg - g @ h).abs().max()
    assert err.relative <= tol, err


@pytest.mark.parametrize("center", ["centroid", "learned"])
def test_pose_follows_continuous_rotations_and_scalings_up_to_resampling(digits, center):
    """The resampling error, measured: for random angles and log-normal scales (std 0.2) the
    pose moves with the element to a few degrees and a tenth of the log scale."""
    group = product([SO2, SCALE])
    c = _canon(group, center=center).double()
    images, _ = digits(64)
    x = images.double()
    el = group.sample(64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        (r, s), (r_g, s_g) = c({"image": x}), c({"image": image().act(group, el, x)})
    d = torch.remainder(_angle(r_g) - _angle(r) - _angle(el[0]) + math.pi, 2 * math.pi) - math.pi
    d_log = s_g.log() - s.log() - el[1].log()
    assert d.abs().median() < math.radians(6), d.abs().median()
    assert d_log.abs().median() < 0.25 * el[1].log().abs().median(), d_log.abs().median()
    # not exact: the error is real and is what `symkit check` reports
    assert d.abs().max() > 1e-3


@pytest.mark.parametrize("transforms", [None, ["rotation", "scale"], ["scale", "rotation"]])
def test_composed_transforms_make_product_elements(digits, transforms):
    group = product([SO2, SCALE])
    c = _canon(group, transforms=transforms)
    images, _ = digits(4)
    r, s = c({"image": images})
    assert r.shape == (4, 2, 2) and s.shape == (4,) and (s > 0).all()
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(2).expand(4, 2, 2), atol=1e-5)
    assert len(c.poses) == (1 if transforms is None else 2)


def test_flags_a_blank_image():
    c = _canon(SO2)
    c({"image": torch.zeros(2, 1, 12, 12)})
    assert c.flagged.all() and c.metrics()["degenerate_fraction"] == 1.0


def test_trains_a_few_steps_and_the_pose_network_learns(etn, digits, train_briefly):
    model = etn(product([SO2, SCALE]), transforms=["rotation", "scale"], center="centroid")
    losses, moved = train_briefly(model, *digits(64, "so2"), steps=10)
    assert min(losses[-3:]) < losses[0], losses
    assert moved > 1e-4  # gradients reach both pose networks through the resampling


def test_check_reports_the_resampling_error(check_digits_config):
    data, out = check_digits_config("etn_cnn.yaml")
    assert data["exact"] is True and data["exact_actions"] is False
    assert 0 < data["equivariance"]["all"] < 0.1
    assert any("claims exact equivariance: up to resampling" in line for line in out)


def test_learned_translation_pose_follows_shifts_and_quarter_turns(digits):
    """Ordinary coordinates are canonical for translations: the learned centre moves with a
    shift of a digit inside the frame, and turns with it under rot90, to rounding."""
    from symkit_vision.canonicalizers._translation_pose import TranslationPose

    torch.manual_seed(0)
    pose = TranslationPose(1, 8).double()
    images, _ = digits(8)
    x = torch.nn.functional.pad(images.double(), (8, 8, 8, 8))  # room to move
    size = x.shape[-1]
    with torch.no_grad():
        c = pose(x)
        shifted = pose(torch.roll(x, (3, -4), dims=(-2, -1)))  # 3 rows down, 4 columns left
        turned = pose(torch.rot90(x, 1, dims=(-2, -1)))  # a quarter turn counterclockwise
    step = torch.tensor([-4 * 2 / size, -3 * 2 / size], dtype=torch.float64)
    assert torch.allclose(shifted - c, step.expand_as(c), atol=1e-9)
    assert torch.allclose(turned, torch.stack([-c[:, 1], c[:, 0]], -1), atol=1e-9)
    assert pose(torch.zeros(1, 1, 8, 8, dtype=torch.float64)).abs().max() == 0
