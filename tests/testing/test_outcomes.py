"""The three-outcome checker on models whose outcome is known: it accepts exact, flagged-and-
random and rejected samples, and fails every silently wrong one."""

from __future__ import annotations

import pytest
import torch

from symkit.canonicalizers import Canonicalization, PCACanonicalizer
from symkit.registry import registry
from symkit.reps import point, scalar, vector
from symkit.spec import Spec
from symkit.symmetrizers import FrameAveraging
from symkit.testing import (
    HardInputFailure,
    check_hard_inputs,
    check_outcomes,
    check_symmetrizer,
    example_sample,
    hard_inputs,
    invalid_elements,
    molecule_in_spec,
    per_sample_error,
)
from symkit.testing._hard_inputs import MOLECULE_OUT_SPECS

from ._toys import Toy

E3 = registry("groups").build("e3")
SPEC, OUT = molecule_in_spec(), MOLECULE_OUT_SPECS["equivariant"]


def cases(dtype=torch.float64):
    return {c.name: c for c in hard_inputs(SPEC, dtype=dtype)}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_an_exact_model_passes_every_input(dtype):
    for case in cases(dtype).values():
        report = check_outcomes(Toy(), E3, SPEC, OUT, case)
        if case.name == "nan":
            assert report.outcomes == ["exact", "error"]
        else:
            assert set(report.outcomes) <= {"exact"}, (case.name, report)


@pytest.mark.parametrize("name", ["mol:co2", "padded", "ragged", "empty_sample_ragged"])
def test_a_silently_wrong_model_fails(name):
    with pytest.raises(AssertionError, match="silently wrong"):
        check_outcomes(Toy(offset=0.1), E3, SPEC, OUT, cases()[name])


def test_flagged_and_random_is_equivariant_in_distribution():
    report = check_outcomes(Toy(flag=True, randomize=True), E3, SPEC, OUT, cases()["mol:co2"])
    assert report.outcomes == ["flagged"]
    lo, hi = report.stat.values()
    assert hi < lo / 8


def test_flagged_but_biased_fails_the_statistical_check():
    with pytest.raises(AssertionError, match="not equivariant in distribution"):
        check_outcomes(Toy(flag=True, randomize=True, offset=0.3), E3, SPEC, OUT,
                       cases()["mol:methane"])


def test_a_nan_sample_must_raise_a_sample_error_naming_it():
    case = cases()["nan"]
    with pytest.raises(AssertionError, match="crashed with RuntimeError"):
        check_outcomes(Toy(nan="crash"), E3, SPEC, OUT, case)
    with pytest.raises(AssertionError, match="must raise a SampleError"):
        check_outcomes(Toy(nan="pass"), E3, SPEC, OUT, case)


def test_an_output_that_depends_on_padding_fails():
    class ReadsPadding(Toy):
        def forward(self, sample):
            out = super().forward(sample)
            if "mask" in sample:
                out["e"] = out["e"] + sample["pos"][:, -1:, 0].abs()  # padding row (rotation
            return out                                                # invariant: |x| no)

    with pytest.raises(AssertionError):
        check_outcomes(ReadsPadding(), E3, SPEC, OUT, cases()["padded"])


def test_relative_error_is_relative_to_the_spread_of_the_output():
    ref = torch.tensor([[1000.0, 0, 0], [1001.0, 0, 0]], dtype=torch.float64)
    y = ref + torch.tensor([[0.0, 0.1, 0], [0, 0, 0]], dtype=torch.float64)
    assert per_sample_error(ref, y, point()) == pytest.approx(0.1 / 0.5**0.5)
    assert per_sample_error(ref, y, vector()) == pytest.approx(0.1 / ref.norm().item())


#: a per-molecule vector (a dipole): on methane, SF6 and benzene the point group forces the
#: exact frame average to 0, so its computed value is rounding
DIPOLE = Spec({"e": scalar(), "d": vector()})
O3 = registry("groups").build("o3")
ZERO_BY_SYMMETRY = ("mol:methane", "mol:sf6", "mol:benzene", "padded", "ragged")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("name", "canonicalizer"), [("frame_averaging", None),
                                                      ("canonicalization", "pca")])
def test_a_vector_that_symmetry_forces_to_zero_is_exact(name, canonicalizer, dtype):
    """The error of a dipole forced to 0 is measured against the size of what was averaged
    (the per-copy outputs), not against its own rounding: rounding / rounding is no error."""
    inputs = [cases(dtype)[n] for n in ZERO_BY_SYMMETRY]
    reports = check_hard_inputs(name, O3, out_spec=DIPOLE, canonicalizer=canonicalizer,
                                inputs=inputs, dtypes=(dtype,))
    d = str(dtype).removeprefix("torch.")
    for mol in ("methane", "sf6", "benzene"):
        assert reports[(d, f"mol:{mol}")].outcomes == ["exact"], mol


def test_a_symmetrizer_that_forgets_to_rotate_the_dipole_is_still_caught():
    """The scale floor is the per-copy outputs' size: an unrotated dipole (averaged as if it
    were invariant) is wrong by that much and fails on every molecule that forces it to 0."""

    def forgets(backbone, group, in_spec, out_spec, **params):
        return FrameAveraging(backbone, group, in_spec, Spec({"e": scalar(), "d": scalar()}))

    inputs = [cases()[n] for n in ZERO_BY_SYMMETRY]
    with pytest.raises(HardInputFailure) as failure:
        check_hard_inputs(forgets, O3, out_spec=DIPOLE, inputs=inputs, dtypes=(torch.float64,))
    for name in ZERO_BY_SYMMETRY:
        assert "silently wrong" in failure.value.failures[("float64", name)], name


def test_the_error_floor_is_the_size_of_the_averaged_copies():
    ref = torch.tensor([1e-17, 0.0, 0.0], dtype=torch.float64)
    y = torch.tensor([0.0, 2e-17, 0.0], dtype=torch.float64)
    assert per_sample_error(ref, y, vector()) > 1.0  # rounding / rounding
    assert per_sample_error(ref, y, vector(), floor=0.5) == pytest.approx(
        (y - ref).norm().item() / 0.5)
    assert per_sample_error(ref, ref + 1.0, vector(), floor=1e-3) == pytest.approx(
        3**0.5 / max(1e-3, ref.norm().item()))


def _without_points(sample) -> torch.Tensor:
    """``(B,)`` bool: samples with no valid point (an all-False mask row, a graph of 0 nodes)."""
    if "batch" in sample:
        return torch.bincount(sample["batch"], minlength=int(sample["num_graphs"])) == 0
    if "mask" in sample:
        return ~sample["mask"].any(1)
    return torch.zeros(sample["pos"].shape[0], dtype=torch.bool)


class BrokenOnEmpty(PCACanonicalizer):
    """``pca``, except that samples without points get NaN elements (``bad="nan"``) or twice
    the identity (``"scaled"``, not orthogonal): no output depends on them."""

    def __init__(self, group, in_spec, bad):
        super().__init__(group, in_spec)
        self.bad = bad

    def elements(self, sample):
        g, weights = super().elements(sample)
        b, k = weights.shape
        g = g.reshape(b, k, 3, 3).clone()
        wrong = torch.full((3, 3), float("nan")) if self.bad == "nan" else 2 * torch.eye(3)
        g[_without_points(sample)] = wrong.to(g)
        return g.reshape(b * k, 3, 3), weights


@pytest.mark.parametrize("bad", ["nan", "scaled"])
def test_an_invalid_element_for_a_sample_without_points_fails(bad):
    def broken(backbone, group, in_spec, out_spec, **params):
        return Canonicalization(backbone, group, in_spec, out_spec,
                                canonicalizer=BrokenOnEmpty(group, in_spec, bad))

    inputs = [cases()[n] for n in ("empty_sample", "empty_sample_ragged", "mol:water")]
    with pytest.raises(HardInputFailure) as failure:
        check_hard_inputs(broken, O3, inputs=inputs, dtypes=(torch.float64,))
    why = "not finite" if bad == "nan" else "R^T R differs from I by 3"
    for name in ("empty_sample", "empty_sample_ragged"):
        message = failure.value.failures[("float64", name)]
        assert message.startswith("sample 1: element 0 (of K = ") and why in message, message
    assert ("float64", "mol:water") not in failure.value.failures


def test_check_symmetrizer_names_the_sample_with_an_invalid_element():
    class Scaled(PCACanonicalizer):
        def elements(self, sample):
            g, weights = super().elements(sample)
            return torch.cat([g[:2], 2 * g[2:3], g[3:]]), weights

    def broken(backbone, group, in_spec, out_spec, **params):
        return Canonicalization(backbone, group, in_spec, out_spec,
                                canonicalizer=Scaled(group, in_spec))

    sample = example_sample(O3, SPEC, generator=torch.Generator().manual_seed(0))
    with pytest.raises(AssertionError, match=r"sample 2: element 0 .*R\^T R"):
        check_symmetrizer(broken, O3, SPEC, OUT, sample)


def test_invalid_elements_names_each_bad_element_and_why():
    so3 = registry("groups").build("so3")
    g = so3.sample(5, generator=torch.Generator().manual_seed(0))
    g[1] = float("inf")
    g[3] = g[3] @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=g.dtype))  # det -1
    bad = invalid_elements(so3, g, 1e-9)
    assert list(bad) == [1, 3]
    assert "not finite" in bad[1] and "det R = -1" in bad[3]
    assert invalid_elements(O3, g[3:], 1e-9) == {}  # a reflection is an element of O(3)
    sym = registry("groups").build("symmetric", n=4)
    assert list(invalid_elements(sym, torch.tensor([[0, 1, 2, 3], [0, 0, 2, 3]]), 0.0)) == [1]
