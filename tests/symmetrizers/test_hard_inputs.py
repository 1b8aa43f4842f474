"""Every registered symmetrizer and canonicalizer through the hard-input corpus.

Real molecules of every symmetry class, padded / ragged / empty batches, a batch of one,
coordinates scaled from 1e-8 to 1e6, float16 and bfloat16 and a NaN sample, on every registered
group acting on 3-d points: each sample must be exact, flagged and equivariant in distribution,
or rejected with a SampleError naming it (``symkit.testing.check_outcomes``). In float64 the
forces of an invariant energy are checked too (``symkit.testing.check_forces``).
"""

from __future__ import annotations

import os

import pytest
import torch

from symkit.canonicalizers import default_canonicalizer
from symkit.registry import registry
from symkit.reps import scalar, space_dim, tensor, vector
from symkit.spec import Spec
from symkit.testing import (
    FRAME_OUTCOMES,
    check_hard_inputs,
    hard_inputs,
    molecule_in_spec,
    molecules,
    num_nodes,
)

from .._cases import registered_groups, supports
from .test_conformance import NO_CLAIM

#: CI runs the corpus in float64 (the run that proves the math, forces included; float32 on
#: generic inputs is the conformance grid's); ``SYMKIT_CORPUS=full`` adds float32, float16 and
#: bfloat16 through every part (the fixed symmetrizers' float32 and half-precision molecule tests
#: run always: tests/symmetrizers/test_frames_*). The full corpus costs ~4x the CI one.
#: Known failure of the full corpus (a true limitation of thresholded frames, not fixed here):
#: PCA frame parts in bfloat16 on ethanol (the padded batch) are silently wrong (relative error
#: 3.6-7): its relative eigen-gap (l2 - l1) / l3 = 0.0998 straddles bfloat16's degeneracy
#: threshold gap_tol = 0.1 once g.x is rounded (0.0964-0.1030 over 2000 random E(3) elements:
#: 60% take the symmetric frame set, 40% the PCA frames, two different exact functions).
FULL = os.environ.get("SYMKIT_CORPUS") == "full"
DTYPES = [torch.float64] + ([torch.float32, torch.float16, torch.bfloat16] if FULL else [])
#: the parts built for S_N x E(3) (a Euclidean frame, then a sort) run on every product group;
#: other parts that support a product (Monte-Carlo group averaging, constrained augmentation:
#: their math is checked on O(3) itself) run on O(3) x S_N in CI, on every product when full
PRODUCT_PARTS = ("frame_averaging", "canonicalization[pca_sort]")
CI_PRODUCT = "product(o3,symmetric)"


def _corpus_groups() -> list[tuple[str, object]]:
    """Non-trivial groups acting on 3-d points, one per repr: the Euclidean groups and the
    products S_N x E(3), S_N x SO(3), O(3) x S_N (``check_hard_inputs`` resizes S_N to each
    input's node count)."""
    spec, seen, out = molecule_in_spec(), set(), []
    for name, group in registered_groups():
        if (group.order == 1 or space_dim(group) != 3
                or not all(f.rep.supports(group) for f in spec.values())
                or repr(group) in seen):
            continue
        seen.add(repr(group))
        out.append((name, group))
    return out


def _supports(entry, group) -> bool:
    return supports(entry, group)


def _runs(part: str, gname: str, group) -> bool:
    """Whether ``part`` runs on ``group`` in this mode (see :data:`PRODUCT_PARTS`)."""
    return (FULL or num_nodes(group) is None or part in PRODUCT_PARTS
            or gname == CI_PRODUCT)


GROUPS = _corpus_groups()
CASES = [
    pytest.param(sym.name, None, group, id=f"{sym.name}-{gname}")
    for sym in registry("symmetrizers").entries() if sym.name not in NO_CLAIM
    # plain canonicalization builds its default canonicalizer: run once, as canonicalization[x]
    and sym.name != "canonicalization"
    for gname, group in GROUPS if _supports(sym, group) and _runs(sym.name, gname, group)
] + [
    pytest.param("canonicalization", can.name, group, id=f"canonicalization[{can.name}]-{gname}")
    for can in registry("canonicalizers").entries()
    for gname, group in GROUPS if _supports(can, group)
    and _runs(f"canonicalization[{can.name}]", gname, group)
]


def test_the_corpus_runs_every_part_that_acts_on_points():
    assert {repr(g) for _, g in GROUPS} >= {"SO(3)", "O(3)", "SE(3)", "E(3)", "S5 x E(3)",
                                            "O(3) x S5", "S5 x SO(3)"}
    ids = " ".join(p.id for p in CASES)
    for part in ("frame_averaging", "probabilistic", "mds_invariant", "orbit_distance",
                 "learned_canonicalization", "[pca]", "[learned_point_frame]",
                 "frame_averaging-product(symmetric,e3)", "[pca_sort]-product(o3,symmetric)",
                 "constrained_augmentation-product(o3,symmetric)"):
        assert part in ids, part
    assert not any(p.id.startswith("canonicalization-") for p in CASES)  # run as [default]
    defaults = {default_canonicalizer(g) for _, g in GROUPS}
    assert all(f"[{c}]" in ids for c in defaults), defaults


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize(("name", "canonicalizer", "group"), CASES)
def test_hard_inputs(name, canonicalizer, group, dtype):
    reports = check_hard_inputs(name, group, canonicalizer=canonicalizer, dtypes=(dtype,),
                                forces=dtype == torch.float64)
    part = name if canonicalizer is None else f"canonicalization[{canonicalizer}]"
    if part in PRODUCT_PARTS and num_nodes(group) is not None and dtype == torch.float64:
        _assert_product_frame_outcomes(reports)


def _assert_product_frame_outcomes(reports) -> None:
    """S_N x E(3) frames (and pca_sort averaging its candidates): the H atoms of methane, the F
    atoms of SF6, the C and H atoms of benzene have tied features, but in every frame of the
    finite Euclidean frame set their canonical coordinates differ, so the sort has no ties and
    the product frame is finite and equivariant: ``exact``, not ``flagged`` (the stabilizer in
    the product is the point group, each rotation paired with the permutation of the atoms it
    induces: finite). Only the linear CO2 (an infinite stabilizer) is flagged, alone and in the
    padded batch. A ragged batch is rejected as a whole (a SpecError naming 'batch': S_N needs a
    fixed N per sample); the NaN sample with a SampleError."""
    expected = [FRAME_OUTCOMES[m.stabilizer] for m in molecules()]
    for m, want in zip(molecules(), expected):
        assert reports[("float64", f"mol:{m.name}")].outcomes == [want], m.name
    assert reports[("float64", "padded")].outcomes == expected
    for layout in ("ragged", "empty_sample_ragged"):
        size = len(reports[("float64", layout)].outcomes)
        assert size and reports[("float64", layout)].outcomes == ["rejected"] * size, layout
    assert reports[("float64", "nan")].outcomes == ["exact", "error"]
    assert reports[("float64", "empty_sample")].outcomes == ["exact", "flagged"]


#: the corpus groups both PCA-frame parts act on (O(3), SO(3), E(3), SE(3))
ROTATION_GROUPS = [(n, g) for n, g in GROUPS
                   if _supports(registry("canonicalizers").get("pca"), g)]


@pytest.mark.parametrize(("name", "canonicalizer"), [("frame_averaging", None),
                                                      ("canonicalization", "pca")])
@pytest.mark.parametrize(("gname", "group"), ROTATION_GROUPS, ids=[g for g, _ in ROTATION_GROUPS])
def test_frames_are_exact_wherever_the_stabilizer_is_finite(name, canonicalizer, gname, group):
    """Methane, benzene, SF6, ammonia (degenerate covariance, finite point group): ``exact``,
    not ``flagged``; only the linear CO2 (an infinite stabilizer) is flagged. Per molecule
    alone and inside the padded and ragged batches of every molecule."""
    spec = molecule_in_spec()
    inputs = [c for c in hard_inputs(spec) if c.name.startswith("mol:")
              or c.name in ("padded", "ragged")]
    reports = check_hard_inputs(name, group, canonicalizer=canonicalizer, inputs=inputs,
                                dtypes=(torch.float64,))
    expected = [FRAME_OUTCOMES[m.stabilizer] for m in molecules()]
    for m, want in zip(molecules(), expected):
        assert reports[("float64", f"mol:{m.name}")].outcomes == [want], m.name
    for layout in ("padded", "ragged"):
        assert reports[("float64", layout)].outcomes == expected, layout
    assert {repr(g) for _, g in ROTATION_GROUPS} == {"O(3)", "SO(3)", "E(3)", "SE(3)"}



#: per-sample equivariant outputs: a vector (a dipole) and a rank-2 tensor (a polarizability)
PER_SAMPLE = Spec({"e": scalar(), "d": vector(), "t": tensor(2)})
#: the parts whose elements come from PCA frames, on every group they act on
PCA_PARTS = [(n, c, g) for n, c, g in (p.values for p in CASES)
             if (n == "frame_averaging" or c in ("pca", "pca_sort")) and "rotation" in g.kinds]


def test_every_pca_frame_part_is_checked_on_empty_samples():
    ids = {(n, c, repr(g)) for n, c, g in PCA_PARTS}
    assert {("frame_averaging", None, "O(3)"), ("frame_averaging", None, "S5 x E(3)"),
            ("canonicalization", "pca", "SE(3)"),
            ("canonicalization", "pca_sort", "S5 x E(3)")} <= ids


@pytest.mark.parametrize(("name", "canonicalizer", "group"), PCA_PARTS,
                         ids=[f"{n}[{c}]-{g!r}" for n, c, g in PCA_PARTS])
def test_a_sample_without_points_gets_a_haar_random_element(name, canonicalizer, group):
    """A sample with no valid point (an all-False mask row, a graph of 0 nodes) is fixed by the
    whole group: its per-sample vector and tensor outputs are equivariant in distribution only
    if its elements are Haar-random (a fixed identity element leaves ``backbone(empty)``
    unrotated). Flagged, and the statistical check of ``check_outcomes`` passes."""
    inputs = [c for c in hard_inputs(molecule_in_spec()) if c.name.startswith("empty_sample")]
    reports = check_hard_inputs(name, group, out_spec=PER_SAMPLE, canonicalizer=canonicalizer,
                                inputs=inputs, dtypes=(torch.float64,))
    assert reports[("float64", "empty_sample")].outcomes == ["exact", "flagged"]
    assert reports[("float64", "empty_sample")].stat  # checked in distribution
