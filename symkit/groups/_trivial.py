"""The trivial group {e}: every element acts as the identity."""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.groups._base import Group
from symkit.registry import register

__all__ = ["Trivial", "trivial"]


class Trivial(Group):
    """The group with one element; a model over it is unconstrained.

    Shapes:
        element batch: ``(n, 0)`` float (no parameters).
    """

    is_finite = True

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.zeros(n, 0, dtype=dtype, device=device)

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return a

    def inverse(self, a: Tensor) -> Tensor:
        return a

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None) -> Tensor:
        return self.identity(n, dtype=dtype, device=device)

    def elements(self, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return self.identity(1, dtype=dtype, device=device)

    @property
    def order(self) -> int:
        return 1

    def element_index(self, g: Tensor) -> Tensor:
        return torch.zeros(g.shape[0], dtype=torch.long, device=g.device)

    def __repr__(self) -> str:
        return "Trivial"


@register("groups", "trivial")
def trivial() -> Trivial:
    """The trivial group {e} (no symmetry)."""
    return Trivial()
