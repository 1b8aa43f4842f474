"""Conformance of every registered group, in float64 (the math) and float32 (real use)."""

from __future__ import annotations

import inspect

import pytest
import torch

from symkit.groups import KINDS, Group, element_size
from symkit.registry import registry
from symkit.testing._group_axioms import (
    check_group_axioms,
    check_haar_statistics,
    check_homomorphism,
    check_sample_kinds,
)

#: arguments for registered factories that have required parameters
EXAMPLE_ARGS = {"product": (["symmetric", "e3"],)}


def registered_group_cases() -> list:
    cases = []
    for entry in registry("groups").entries():
        factory = entry.load()
        params = inspect.signature(factory).parameters.values()
        required = [p for p in params if p.default is inspect.Parameter.empty]
        args = EXAMPLE_ARGS.get(entry.name, ()) if required else ()
        marks = [] if (not required or entry.name in EXAMPLE_ARGS) else [
            pytest.mark.skip(reason=f"{entry.qualname} has required parameters and no example")
        ]
        cases.append(pytest.param(entry.qualname, args, id=entry.qualname, marks=marks))
    return cases


def build(qualname: str, args: tuple):
    return registry("groups").build(qualname, *args)


CASES = registered_group_cases()
DTYPES = [pytest.param(torch.float64, 1e-12, id="f64"), pytest.param(torch.float32, 1e-5, id="f32")]


@pytest.mark.parametrize(("name", "args"), CASES)
@pytest.mark.parametrize(("dtype", "atol"), DTYPES)
def test_axioms(name, args, dtype, atol):
    group = build(name, args)
    assert isinstance(group, Group)
    check_group_axioms(group, dtype=dtype, atol=atol)
    check_homomorphism(group, dtype=dtype, atol=atol)
    check_sample_kinds(group, dtype=dtype, atol=atol)


@pytest.mark.parametrize(("name", "args"), CASES)
def test_haar_statistics(name, args):
    check_haar_statistics(build(name, args), n=4000)


@pytest.mark.parametrize(("name", "args"), CASES)
def test_sampling_is_reproducible_across_dtypes(name, args):
    group = build(name, args)
    a = group.sample(8, generator=torch.Generator().manual_seed(7))
    b = group.sample(8, generator=torch.Generator().manual_seed(7))
    c = group.sample(8, generator=torch.Generator().manual_seed(7), dtype=torch.float32)
    assert group.allclose(a, b, atol=0)
    assert element_size(c) == 8
    leaves = a if isinstance(a, tuple) else (a,)
    leaves32 = c if isinstance(c, tuple) else (c,)
    for x, y in zip(leaves, leaves32):
        assert torch.allclose(x.to(torch.float64), y.to(torch.float64), atol=1e-6)
    for kind in group.kinds:
        x = group.sample_kind(kind, 4, generator=torch.Generator().manual_seed(3))
        y = group.sample_kind(kind, 4, generator=torch.Generator().manual_seed(3))
        assert group.allclose(x, y, atol=0)


@pytest.mark.parametrize(("name", "args"), CASES)
def test_interface(name, args):
    group = build(name, args)
    assert set(group.kinds) <= set(KINDS)
    assert repr(group) and "object at" not in repr(group)
    with pytest.raises(ValueError, match="no elements of kind"):
        group.sample_kind("no-such-kind", 2)
    if group.is_finite and group.order <= 5040:
        assert element_size(group.elements()) == group.order
    if not group.is_finite:
        with pytest.raises(TypeError):
            group.elements()
    g = group.sample(3)
    m = group.matrix(g)
    if m is not None:
        assert m.shape == (3, group.dim, group.dim)
    t = group.translation(g)
    if t is not None:
        assert t.shape == (3, group.dim)
