"""The symmetric group S_N of permutations of N nodes."""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

from symkit.groups._base import Group
from symkit.groups._sampling import finish, gaussian
from symkit.groups._validate import positive_int
from symkit.registry import register

__all__ = ["Symmetric", "symmetric", "MAX_ENUMERABLE"]

#: :meth:`Symmetric.elements` refuses larger N (N! elements).
MAX_ENUMERABLE = 8


class Symmetric(Group):
    """S_N: permutations ``p`` of ``{0..N-1}``; node ``i`` goes to position ``p[i]``.

    Composition is ``(a b)[i] = a[b[i]]`` (apply ``b``, then ``a``). :meth:`sample` is uniform
    (argsort of i.i.d. noise); :meth:`elements` lists permutations in lexicographic order
    (``N <= 8``) and :meth:`element_index` is the lexicographic rank (any ``N <= 20``).

    Args:
        n: number of nodes ``N`` (``>= 1``).

    Shapes:
        element batch: ``(B, N)`` long; ``permutation``: the same tensor.
    """

    is_finite = True
    kinds = ("permutation",)

    def __init__(self, n: int = 5):
        self.n = positive_int("symmetric", "n", n)

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.arange(self.n, device=device).expand(n, -1).clone()

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.gather(a, 1, b)

    def inverse(self, a: Tensor) -> Tensor:
        return torch.argsort(a, dim=1)

    def sample(
        self, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        return finish(torch.argsort(gaussian((n, self.n), generator), dim=1), None, device)

    def sample_kind(
        self, kind: str, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        if kind != "permutation":
            return super().sample_kind(kind, n)
        return self.sample(n, generator=generator, device=device)

    def elements(self, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        if self.n > MAX_ENUMERABLE:
            raise TypeError(f"{self!r} has {self.order} elements; too many to list, use sample()")
        return torch.tensor(list(itertools.permutations(range(self.n))), device=device)

    @property
    def order(self) -> int:
        return math.factorial(self.n)

    def element_index(self, g: Tensor) -> Tensor:
        """Lexicographic rank via the Lehmer code: ``sum_i #{j > i : p_j < p_i} (N-1-i)!``."""
        smaller_later = (g.unsqueeze(1) < g.unsqueeze(2)).triu(diagonal=1).sum(dim=2)
        weights = torch.tensor(
            [math.factorial(self.n - 1 - i) for i in range(self.n)], device=g.device
        )
        return (smaller_later * weights).sum(dim=1)

    def permutation(self, g: Tensor) -> Tensor:
        return g

    def __repr__(self) -> str:
        return f"S{self.n}"


@register("groups", "symmetric")
def symmetric(n: int = 5) -> Symmetric:
    """S_N: permutations of N nodes or points."""
    return Symmetric(n)
