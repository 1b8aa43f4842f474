"""The three-outcome checker on models whose outcome is known: it accepts exact, flagged-and-
random and rejected samples, and fails every silently wrong one."""

from __future__ import annotations

import pytest
import torch

from symkit.registry import registry
from symkit.reps import point, scalar, vector
from symkit.spec import Spec
from symkit.symmetrizers import FrameAveraging
from symkit.testing import (
    HardInputFailure,
    check_hard_inputs,
    check_outcomes,
    hard_inputs,
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
