"""equivariance_error is ~0 for an equivariant map and clearly > 0 for a broken one."""

import pytest
import torch

from symkit.registry import registry
from symkit.spec import Field, Spec
from symkit.testing import (
    EquivarianceError,
    assert_equivariant,
    equivariance_error,
    equivariance_report,
)

reps = registry("reps")
IN = Spec({"pos": Field(reps.build("point"), nodes=True),
           "vel": Field(reps.build("vector"), nodes=True)})
OUT = Spec({"force": Field(reps.build("vector"), nodes=True), "energy": reps.build("scalar")})


def equivariant(sample):
    """Force = vel scaled by an invariant (norms, centred distances); energy invariant."""
    vel, pos = sample["vel"], sample["pos"]
    centred = pos - pos.mean(1, keepdim=True)
    weight = torch.tanh(centred.norm(dim=-1, keepdim=True)) + vel.norm(dim=-1, keepdim=True)
    return {"force": weight * vel, "energy": (centred**2).sum((1, 2))[:, None]}


def broken(sample):
    out = equivariant(sample)
    return {"force": out["force"] + 0.5, "energy": out["energy"]}


@pytest.fixture
def group():
    return registry("groups").build("product", ["symmetric", "e3"])


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_equivariant_function_has_tiny_error(group, dtype, tol):
    gen = torch.Generator().manual_seed(0)
    sample = {k: torch.randn(3, 5, 3, generator=gen, dtype=dtype) for k in ("pos", "vel")}
    err = equivariance_error(equivariant, group, IN, OUT, sample, generator=gen)
    assert isinstance(err, EquivarianceError)
    assert err.relative < tol and set(err.per_field) == {"force", "energy"}
    assert_equivariant(equivariant, group, IN, OUT, sample, generator=gen)


def test_broken_function_is_caught(group):
    gen = torch.Generator().manual_seed(0)
    sample = {k: torch.randn(3, 5, 3, generator=gen, dtype=torch.float64) for k in ("pos", "vel")}
    err = equivariance_error(broken, group, IN, OUT, sample, generator=gen)
    assert err.relative > 0.05 and err.worst_field == "force"
    assert err.per_field["energy"].relative < 1e-12
    with pytest.raises(AssertionError, match="field 'force'.*relative error"):
        assert_equivariant(broken, group, IN, OUT, sample, generator=gen)


def test_report_separates_kinds(group):
    gen = torch.Generator().manual_seed(0)
    sample = {k: torch.randn(2, 5, 3, generator=gen, dtype=torch.float64) for k in ("pos", "vel")}
    report = equivariance_report(broken, group, IN, OUT, sample, generator=gen)
    assert set(report) == set(group.kinds) | {"all"}
    assert report["translation"].relative < 1e-12  # adding a constant survives pure shifts
    assert report["permutation"].relative < 1e-12
    assert report["rotation"].relative > 0.05 and report["all"].relative > 0.05
    assert report["reflection"].kind == "reflection"


def test_transforms_keep_the_sample_dtype(group):
    seen = []

    def fn(sample):
        seen.append(sample["pos"].dtype)
        return equivariant(sample)

    sample = {k: torch.randn(2, 5, 3) for k in ("pos", "vel")}
    equivariance_error(fn, group, IN, OUT, sample, n_elements=2)
    assert seen == [torch.float32] * 3


def test_relative_error_does_not_shrink_with_the_translation():
    """Item 12: the relative error of a point output is relative to the spread of the output
    itself, not to ``||R y + t||``: CO2 through a noisy (broken) model reads the same under
    E(3) whether sampled translations are of size 1 or 1000 (it read ~1000x lower before)."""
    from symkit.registry import registry
    from symkit.reps import point
    from symkit.spec import Field, Spec
    from symkit.testing import molecule_in_spec, molecule_sample, molecules

    spec = molecule_in_spec()
    out = Spec({"y": Field(point(), nodes=True)})
    co2 = molecule_sample(molecules("linear"), spec)
    spread = (co2["pos"] - co2["pos"].mean(1, keepdim=True)).norm().item()
    noise = 0.01

    def noisy(sample):
        return {"y": sample["pos"] + noise * torch.randn_like(sample["pos"])}

    errors = {}
    for scale in (1.0, 1000.0):
        group = registry("groups").build("e3", translation_scale=scale)
        torch.manual_seed(0)
        errors[scale] = equivariance_error(noisy, group, spec, out, co2, n_elements=8,
                                           generator=torch.Generator().manual_seed(0)).relative
    expected = noise * (2 * co2["pos"].numel()) ** 0.5 / spread  # ||n' - R n|| ~ sqrt(2 m) s
    for err in errors.values():
        assert 0.5 * expected < err < 2.5 * expected, (errors, expected)
    assert errors[1000.0] > 0.5 * errors[1.0]
