"""symkit-lorentz against symkit's conformance suite, in float64 (the math) and float32.

Boosts amplify rounding errors (entries of a boost grow like cosh(rapidity)), so the tests
sample rapidities up to 1 (gamma <= 1.54) for the 1e-9 float64 and 1e-5 float32 tolerances;
``test_larger_boosts`` shows how the error grows with the rapidity.
"""

from __future__ import annotations

import pytest
import torch
from symkit_lorentz import SYMKIT_API_VERSION
from symkit_lorentz._group import METRIC, Lorentz, boost_matrix, minkowski_dot
from symkit_lorentz._jets import jets

from symkit.registry import registry
from symkit.reps import scalar, vector
from symkit.spec import Field, Spec
from symkit.testing import (
    check_group_axioms,
    check_homomorphism,
    check_rep_conformance,
    check_sample_kinds,
    check_symmetrizer,
    equivariance_error,
)

COMPONENTS = ["proper", "orthochronous", "full"]
DTYPES = [pytest.param(torch.float64, 1e-12, id="f64"), pytest.param(torch.float32, 1e-5, id="f32")]
IN_SPEC = Spec({"p": Field(vector(), nodes=True)})
OUT_SPEC = Spec({"mass": scalar(), "axis": vector()})


def events(b: int = 4, n: int = 5) -> dict:
    """On-shell four-momenta ``(b, n, 4)`` float64: a generic, timelike total momentum."""
    return {"p": jets("test", n=b, particles=n, dtype="float64").p}


@pytest.mark.parametrize("component", COMPONENTS)
@pytest.mark.parametrize(("dtype", "atol"), DTYPES)
def test_group_axioms(component, dtype, atol):
    group = Lorentz(component)
    check_group_axioms(group, dtype=dtype, atol=atol)
    check_homomorphism(group, dtype=dtype, atol=atol)
    check_sample_kinds(group, dtype=dtype, atol=atol)
    check_rep_conformance(vector(), group)


@pytest.mark.parametrize("component", COMPONENTS)
def test_elements_preserve_the_metric(component):
    group = Lorentz(component, max_rapidity=2.0)
    eta = torch.diag(torch.tensor(METRIC, dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    for g in (group.sample(64, generator=gen), group.sample_kind("boost", 64, generator=gen)):
        assert torch.allclose(g.transpose(1, 2) @ eta @ g, eta.expand_as(g), atol=1e-12)
    g = group.sample(4000, generator=gen)
    det, time = torch.linalg.det(g), torch.sign(g[:, 0, 0])
    assert ((det < 0).any().item(), (time < 0).any().item()) == {
        "proper": (False, False), "orthochronous": (True, False), "full": (True, True)
    }[component]


def test_sampling_measure():
    """Rapidity uniform in [0, max]: mean max/2; boost directions average to zero."""
    b = Lorentz(max_rapidity=1.5).sample_kind("boost", 4000, generator=torch.Generator())
    rapidity = torch.acosh(b[:, 0, 0])
    assert abs(rapidity.mean().item() - 0.75) < 5 * 1.5 / (12**0.5) / 4000**0.5
    assert b[:, 0, 1:].mean(0).abs().max() < 0.05


def test_boost_matrix_moves_the_rest_vector():
    u = torch.randn(8, 3, dtype=torch.float64)
    rest = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    moved = boost_matrix(u) @ rest
    assert torch.allclose(moved[:, 1:], u) and torch.allclose(minkowski_dot(moved, moved),
                                                              torch.ones(8, dtype=torch.float64))


@pytest.mark.parametrize("component", COMPONENTS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_rest_frame_canonicalization_is_equivariant(component, dtype):
    """check_symmetrizer: rtol 1e-9 (float64) / 1e-5 (float32), whole group and each kind."""
    group = Lorentz(component)
    errors = check_symmetrizer("canonicalization", group, IN_SPEC, OUT_SPEC, events(),
                               dtype=dtype, params={"canonicalizer": "lorentz::rest_frame"})
    model = registry("symmetrizers").build(
        "canonicalization", lambda s: {"mass": s["p"][:, :1, 0], "axis": s["p"][:, 0]},
        group, IN_SPEC, OUT_SPEC, canonicalizer="rest_frame",
    )
    sample = {"p": events()["p"].to(dtype)}
    boost = equivariance_error(model, group, IN_SPEC, OUT_SPEC, sample, kind="boost",
                               generator=torch.Generator().manual_seed(0))
    assert boost.relative < (1e-9 if dtype == torch.float64 else 1e-5), boost
    assert errors["all"] < (1e-9 if dtype == torch.float64 else 1e-5)


def test_larger_boosts():
    """Rounding grows with the rapidity but the canonicalization stays exact in float64."""
    for max_rapidity, rtol in ((1.0, 1e-11), (3.0, 1e-9)):
        group = Lorentz("proper", max_rapidity)
        model = registry("symmetrizers").build(
            "canonicalization", lambda s: {"mass": s["p"][:, :1, 0], "axis": s["p"][:, 0]},
            group, IN_SPEC, OUT_SPEC, canonicalizer="rest_frame",
        )
        err = equivariance_error(model, group, IN_SPEC, OUT_SPEC, events(), n_elements=8,
                                 generator=torch.Generator().manual_seed(0))
        assert err.relative < rtol, (max_rapidity, err)


def test_jets_data_is_invariant_mass():
    data = jets("train", n=16, particles=4)
    item = data[0]
    assert item["p"].shape == (4, 4) and item["target"].shape == (1,)
    assert (data.p[..., 0] > 0).all() and (minkowski_dot(data.p, data.p) > -1e-4).all()
    assert not torch.equal(jets("valid", n=16).p, jets("train", n=16).p)


def test_declares_api_version():
    assert SYMKIT_API_VERSION == 1


CONFIG = __import__("pathlib").Path(__file__).resolve().parents[1] / "configs" / "jets.yaml"


def test_jets_config_validates_and_builds():
    from symkit.config import build
    from symkit.runner.parts import read_config

    run = read_config(CONFIG, ["data.n=32"])
    assert run.train.epochs > 0
    data = build(run.cfg.data, "datasets", key="data", context={"split": "train"})
    assert len(data) == 32


def test_jets_config_trains(tmp_path):
    """One short epoch through the runner."""
    from symkit.runner.trainer import train

    result = train(CONFIG, ["data.n=64", "train.epochs=1", "train.progress=false",
                            f"train.checkpoint_dir={tmp_path}", "tracking.enabled=false"])
    assert result.equivariance and max(result.equivariance.values()) < 1e-4
