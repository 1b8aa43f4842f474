"""Direct products G_1 x ... x G_k (e.g. S_N x E(3) for point clouds and graphs)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from symkit.errors import ConfigError
from symkit.groups._base import Element, Group
from symkit.registry import register

__all__ = ["DirectProduct", "product"]


class DirectProduct(Group):
    """The direct product ``G_1 x ... x G_k``: ``(g_1..g_k)(h_1..h_k) = (g_1 h_1, ..., g_k h_k)``.

    Products of products are flattened. The factors act on data one after the other, first
    factor first, so the affine action is ``x -> A_k(...A_1(x))``: :meth:`matrix`,
    :meth:`translation` and :meth:`permutation` fold the factors' parts in that order (they must
    act on the same dimension, and factors acting on the same space must commute, as in
    SO(d) x scaling, for this to be a group action). It is finite when every factor is; then
    :meth:`elements` lists the Cartesian product with the first factor varying slowest.

    Args:
        factors: groups (or registered group names), at least one.

    Shapes:
        element batch: tuple with one element batch per factor.
    """

    def __init__(self, factors: Sequence[Group | str]):
        if isinstance(factors, (Group, str)) or not factors:
            raise ConfigError(None, f"product: factors must be a non-empty list, got {factors!r}")
        flat: list[Group] = []
        for f in factors:
            if isinstance(f, str):
                from symkit.registry import registry

                f = registry("groups").build(f)
            if not isinstance(f, Group):
                raise ConfigError(None, f"product: factor {f!r} is not a group")
            flat.extend(f.factors())
        self._factors = tuple(flat)
        dims = {f.dim for f in flat if f.dim is not None}
        self.dim = dims.pop() if len(dims) == 1 else None
        self.is_finite = all(f.is_finite for f in flat)
        self.kinds = tuple(dict.fromkeys(k for f in flat for k in f.kinds))
        with_matrix = [f for f in flat if f.dim is not None and type(f).matrix is not Group.matrix]
        self.orthogonal = all(f.orthogonal for f in with_matrix)

    def factors(self) -> tuple[Group, ...]:
        return self._factors

    def split(self, g: Element) -> tuple[Element, ...]:
        return tuple(g)

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Element:
        return tuple(f.identity(n, dtype=dtype, device=device) for f in self._factors)

    def compose(self, a: Element, b: Element) -> Element:
        return tuple(f.compose(x, y) for f, x, y in zip(self._factors, a, b))

    def inverse(self, a: Element) -> Element:
        return tuple(f.inverse(x) for f, x in zip(self._factors, a))

    def sample(
        self, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Element:
        return tuple(
            f.sample(n, generator=generator, dtype=dtype, device=device) for f in self._factors
        )

    def sample_kind(
        self, kind: str, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Element:
        """Elements of one kind: the first factor having ``kind`` samples it, the rest are ``e``."""
        owner = next((f for f in self._factors if kind in f.kinds), None)
        if owner is None:
            return super().sample_kind(kind, n)
        return tuple(
            f.sample_kind(kind, n, generator=generator, dtype=dtype, device=device)
            if f is owner else f.identity(n, dtype=dtype, device=device)
            for f in self._factors
        )

    # -- finite products ----------------------------------------------------------------------
    @property
    def order(self) -> int | None:
        return math.prod(f.order for f in self._factors) if self.is_finite else None

    def elements(self, *, dtype: torch.dtype = torch.float64, device=None) -> Element:
        if not self.is_finite:
            return super().elements()
        parts = [f.elements(dtype=dtype, device=device) for f in self._factors]
        sizes = [f.order for f in self._factors]
        grids = torch.meshgrid(*[torch.arange(s, device=device) for s in sizes], indexing="ij")
        return tuple(f.index(p, i.reshape(-1)) for f, p, i in zip(self._factors, parts, grids))

    def element_index(self, g: Element) -> Tensor:
        if not self.is_finite:
            return super().element_index(g)
        index = torch.zeros((), dtype=torch.long)
        for f, x in zip(self._factors, g):
            index = index * f.order + f.element_index(x)
        return index

    # -- action -------------------------------------------------------------------------------
    def _affine(self, g: Element) -> tuple[Tensor | None, Tensor | None]:
        """Fold ``x -> M_f x + t_f`` over the factors, first factor first."""
        m: Tensor | None = None
        t: Tensor | None = None
        for f, x in zip(self._factors, g):
            mf, tf = f.matrix(x), f.translation(x)
            if mf is not None and self.dim is None:
                raise TypeError(f"{self!r}: factors act on different dimensions")
            if mf is not None:
                t = None if t is None else (mf.to(t.dtype) @ t.unsqueeze(-1)).squeeze(-1)
                m = mf if m is None else mf.to(m.dtype) @ m
            if tf is not None:
                t = tf if t is None else t + tf.to(t.dtype)
        return m, t

    def matrix(self, g: Element) -> Tensor | None:
        return self._affine(g)[0]

    def translation(self, g: Element) -> Tensor | None:
        return self._affine(g)[1]

    def permutation(self, g: Element) -> Tensor | None:
        perm = None
        for f, x in zip(self._factors, g):
            p = f.permutation(x)
            if p is not None:
                perm = p if perm is None else torch.gather(p, 1, perm)
        return perm

    def __repr__(self) -> str:
        return " x ".join(repr(f) for f in self._factors)


@register("groups", "product")
def product(factors: Sequence[Group | str]) -> DirectProduct:
    """Direct product of groups, e.g. ``[symmetric, e3]`` for point clouds."""
    return DirectProduct(factors)
