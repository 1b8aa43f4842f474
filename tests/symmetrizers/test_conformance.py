"""Every registered symmetrizer and canonicalizer (core, first-party plugins, contrib) x every
registered group it supports x dtype x output kind; and negative controls that must fail.

The grid comes from the whole registry, so a part a plugin registers is tested the day it is
added. Groups of order one are left out: on them ``f(g x) = g f(x)`` compares ``f(x)`` with
itself. Monte-Carlo symmetrizers (``probabilistic``, ``group_averaging`` on continuous groups,
``learned_augmentation``) are checked in distribution (see ``check_symmetrizer``).
"""

from __future__ import annotations

import pytest
import torch

from symkit.groups import map_element
from symkit.registry import registry
from symkit.spec import Spec
from symkit.testing import check_hard_inputs, hard_inputs, molecule_in_spec
from symkit.testing._symmetrizers import QuarterTurns, check_symmetrizer, example_sample

from .._cases import (
    OUT_SPECS,
    canonicalizer_inputs,
    grid_sample,
    loads,
    registered_groups,
    supports,
)
from .._cases import point_spec as in_spec


def _non_trivial(group) -> bool:
    return group.order != 1


GROUPS = [(n, g) for n, g in registered_groups() if _non_trivial(g)]
SYMMETRIZERS = list(registry("symmetrizers").entries())
CANONICALIZERS = list(registry("canonicalizers").entries())


def _supports(entry, group) -> bool:
    return supports(entry, group)


def _canonicalizer_case(name: str, gname: str, group):
    spec, node = canonicalizer_inputs(name, group)
    return pytest.param("canonicalization", {"canonicalizer": node}, spec, gname, group,
                        id=f"canonicalization[{name}]-{gname}")


CASES = [
    pytest.param(sym.name, {}, in_spec(), gname, group, id=f"{sym.name}-{gname}")
    for sym in SYMMETRIZERS
    for gname, group in GROUPS
    if _supports(sym, group)
] + [
    _canonicalizer_case(can.name, gname, group)
    for can in CANONICALIZERS
    for gname, group in GROUPS
    if _supports(can, group)
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("name", "params", "spec", "gname", "group"), CASES)
def test_symmetrizer_is_equivariant(name, params, spec, gname, group, dtype, out_spec):
    sample = grid_sample(group, spec)
    exact = all(f.rep.is_exact(group) for f in spec.values())
    check_symmetrizer(name, group, spec, out_spec, sample, dtype=dtype, params=params,
                      elements=None if exact else QuarterTurns(group))


def test_the_grid_covers_the_whole_registry():
    """Third-party parts too (the Lorentz contrib plugin's canonicalizer), probabilistic, and
    no case on a group of order one."""
    ids = {p.id for p in CASES}
    assert {e.name for e in SYMMETRIZERS} >= {"group_averaging", "frame_averaging",
                                              "canonicalization", "probabilistic"}
    assert any(i.startswith("probabilistic-") for i in ids)
    if "rest_frame" in registry("canonicalizers"):
        assert any("[rest_frame]" in i for i in ids)
    assert not any(i.endswith("-trivial") for i in ids)
    for entry in [*SYMMETRIZERS, *CANONICALIZERS]:
        if not loads(entry):  # fails tests/test_plugins.py::test_every_registered_part_loads
            continue
        covered = any(_supports(entry, g) for _, g in GROUPS)
        assert covered != (entry.name in NO_CLAIM), entry.name


#: parts that claim no equivariance: they support only groups without kinds (the trivial
#: group), where the check would compare f(x) with itself; their penalties have their own tests
NO_CLAIM = {"soft_equivariance", "spatial_transformer"}


# -- negative controls: broken symmetrizers that the checkers must catch -----------------------

def _dropping_one_element(name: str):
    """The registered symmetrizer with the last element of every sample's set dropped."""
    def factory(backbone, group, in_spec, out_spec, **params):
        model = registry("symmetrizers").get(name).load()(backbone, group, in_spec, out_spec,
                                                          **params)
        elements = model.elements

        def fewer(sample):
            g, w = elements(sample)
            b, k = w.shape
            g = map_element(lambda t: t.reshape(b, k, *t.shape[1:])[:, : k - 1].reshape(
                b * (k - 1), *t.shape[1:]), g)
            w = w[:, : k - 1]
            return g, w / w.sum(1, keepdim=True)

        model.elements = fewer
        return model

    factory.__name__ = f"{name}_minus_one_element"
    return factory


def _without_output_action(name: str):
    """The registered symmetrizer told that every output is invariant (no ``g .`` on outputs)."""
    def factory(backbone, group, in_spec, out_spec, **params):
        from symkit.reps import scalar
        from symkit.spec import Field

        invariant = Spec({n: Field(scalar(), nodes=f.nodes) for n, f in out_spec.items()})
        return registry("symmetrizers").get(name).load()(backbone, group, in_spec, invariant,
                                                         **params)

    factory.__name__ = f"{name}_without_output_action"
    return factory


NEGATIVE = [
    pytest.param(_dropping_one_element("group_averaging"), "d4", id="group_averaging-minus-one"),
    pytest.param(_dropping_one_element("frame_averaging"), "o3", id="frame_averaging-minus-one"),
    pytest.param(_without_output_action("frame_averaging"), "o3", id="fa-no-output-action"),
    pytest.param(_without_output_action("group_averaging"), "c4", id="ga-no-output-action"),
]


@pytest.mark.parametrize(("factory", "gname"), NEGATIVE)
def test_negative_controls_fail_the_grid(factory, gname):
    group = registry("groups").build(gname)
    spec = in_spec()
    sample = example_sample(group, spec, batch=3, generator=torch.Generator().manual_seed(1))
    with pytest.raises(AssertionError, match="not equivariant"):
        check_symmetrizer(factory, group, spec, OUT_SPECS["equivariant"], sample)


@pytest.mark.parametrize(("factory", "gname"), [NEGATIVE[1], NEGATIVE[2]])
def test_negative_controls_fail_the_corpus(factory, gname):
    group = registry("groups").build(gname)
    spec = molecule_in_spec()
    inputs = [c for c in hard_inputs(spec) if c.name == "mol:ethanol_displaced"]
    with pytest.raises(AssertionError, match="silently wrong"):
        check_hard_inputs(factory, group, inputs=inputs, dtypes=(torch.float64,))
