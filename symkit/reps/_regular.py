"""The regular representation of a finite group, on functions ``f: G -> R``."""

from __future__ import annotations

import weakref

import torch
from torch import Tensor

from symkit.groups._base import Element, Group
from symkit.registry import register
from symkit.reps._base import Rep

__all__ = ["Regular", "regular", "cayley_table"]

_CAYLEY: dict[int, tuple[weakref.ref, Tensor]] = {}


def cayley_table(group: Group) -> Tensor:
    """``table[a, b]`` = index of ``elements[a] * elements[b]``; cached per group object.

    Shapes:
        out: ``(|G|, |G|)`` long.
    """
    cached = _CAYLEY.get(id(group))
    if cached is not None and cached[0]() is group:
        return cached[1]
    elems = group.elements()
    n = group.order
    left = group.repeat_interleave(elems, n)  # a a a ... b b b ...
    right = group.index(elems, torch.arange(n).repeat(n))  # a b c ... a b c ...
    table = group.element_index(group.compose(left, right)).reshape(n, n)
    key = id(group)
    try:
        ref = weakref.ref(group, lambda _: _CAYLEY.pop(key, None))
    except TypeError:  # group without weakref support: do not cache
        return table
    _CAYLEY[key] = (ref, table)
    return table


def _acts_on_nodes(group: Group) -> bool:
    return "permutation" in group.kinds


class Regular(Rep):
    """Regular representation of a finite ``G``: ``(rho(g) f)(h) = f(g^-1 h)``.

    ``f`` is stored as a last axis of size ``|G|`` indexed like ``group.elements()``. It is a
    permutation representation: ``rho(g)`` permutes that axis. Permutation groups (``S_n``) in a
    product act on the node axis instead (through :class:`symkit.spec.Field`), not here.

    Shapes:
        x: ``(n, ..., |G|)``.
    """

    feature_ndim = 1

    def act_factor(self, group: Group, g: Element, x: Tensor) -> Tensor:
        if _acts_on_nodes(group) or group.order == 1:
            return x
        table = cayley_table(group).to(x.device)
        source = table[group.element_index(group.inverse(g)).to(x.device)]  # (n, |G|)
        source = source.reshape(source.shape[0], *(1,) * (x.ndim - 2), source.shape[1])
        return torch.gather(x, -1, source.expand_as(x))

    def _factor(self, group: Group) -> Group | None:
        acting = [f for f in group.factors() if not _acts_on_nodes(f)]
        nontrivial = [f for f in acting if f.order != 1]
        if len(nontrivial) > 1:
            return None
        return (nontrivial or acting or [None])[0]

    def feature_shape(self, group: Group) -> tuple[int | None, ...]:
        factor = self._factor(group)
        return (factor.order if factor is not None else None,)

    def supports(self, group: Group) -> bool:
        factor = self._factor(group)
        return factor is not None and factor.is_finite

    def __repr__(self) -> str:
        return "Regular"


@register("reps", "regular")
def regular() -> Regular:
    """Regular representation of a finite group on a last axis of size ``|G|``."""
    return Regular()
