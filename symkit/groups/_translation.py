"""The translation group T(d) = (R^d, +)."""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.groups._base import Group
from symkit.groups._sampling import finish, gaussian
from symkit.groups._validate import positive_float, positive_int
from symkit.registry import register

__all__ = ["Translation", "translation"]


class Translation(Group):
    """T(d): maps ``x -> x + t``; vectors are invariant, so :meth:`matrix` is ``None``.

    :meth:`sample` draws ``t ~ N(0, scale^2 I)`` (T(d) has no Haar probability measure).

    Args:
        d: dimension of the space (``d >= 1``).
        scale: standard deviation of sampled translations (``> 0``).

    Shapes:
        element batch: ``(B, d)`` float ``t``; ``translation``: the same tensor.
    """

    kinds = ("translation",)

    def __init__(self, d: int = 3, scale: float = 1.0):
        self.dim = positive_int("translation", "d", d)
        self.scale = positive_float("translation", "scale", scale)

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.zeros(n, self.dim, dtype=dtype, device=device)

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b

    def inverse(self, a: Tensor) -> Tensor:
        return -a

    def sample(
        self, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        return finish(gaussian((n, self.dim), generator) * self.scale, dtype, device)

    def sample_kind(
        self, kind: str, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        if kind != "translation":
            return super().sample_kind(kind, n)
        return self.sample(n, generator=generator, dtype=dtype, device=device)

    def translation(self, g: Tensor) -> Tensor:
        return g

    def __repr__(self) -> str:
        return f"T({self.dim})"


@register("groups", "translation")
def translation(d: int = 3, scale: float = 1.0) -> Translation:
    """T(d): translations of R^d."""
    return Translation(d, scale)
