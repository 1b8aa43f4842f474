"""The dihedral group D_n: symmetries of the regular n-gon in the plane."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from symkit.groups._base import Group
from symkit.groups._cyclic import rotation_2d
from symkit.groups._sampling import finish, uniform_int
from symkit.groups._validate import positive_int
from symkit.registry import register

__all__ = ["Dihedral", "dihedral", "d4"]


class Dihedral(Group):
    """D_n = {r^k s^s}, ``r`` the rotation by ``2 pi / n``, ``s`` the reflection across the x axis.

    Product: ``(k1, s1)(k2, s2) = (k1 + (-1)^s1 k2 mod n, s1 xor s2)`` (from ``s r = r^-1 s``).
    :meth:`elements` lists ``(k, s)`` at index ``k + n s``.

    Args:
        n: number of rotations (``n >= 1``; the order is ``2 n``).

    Shapes:
        element batch: ``(B, 2)`` long ``[k, s]``; ``matrix``: ``(B, 2, 2)`` float64.
    """

    dim = 2
    is_finite = True
    kinds = ("rotation", "reflection")
    orthogonal = True

    def __init__(self, n: int = 4):
        self.n = positive_int("dihedral", "n", n)

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.zeros(n, 2, dtype=torch.long, device=device)

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        sign = 1 - 2 * a[:, 1]
        k = (a[:, 0] + sign * b[:, 0]) % self.n
        return torch.stack([k, a[:, 1] ^ b[:, 1]], dim=1)

    def inverse(self, a: Tensor) -> Tensor:
        k = (-(1 - 2 * a[:, 1]) * a[:, 0]) % self.n
        return torch.stack([k, a[:, 1]], dim=1)

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None) -> Tensor:
        idx = uniform_int(2 * self.n, (n,), generator)
        return finish(torch.stack([idx % self.n, idx // self.n], dim=1), None, device)

    def sample_kind(self, kind, n, *, generator=None, dtype=torch.float64, device=None):
        if kind not in self.kinds:
            return super().sample_kind(kind, n)
        k = uniform_int(self.n, (n,), generator)
        s = torch.full_like(k, int(kind == "reflection"))
        return finish(torch.stack([k, s], dim=1), None, device)

    def elements(self, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        idx = torch.arange(2 * self.n, device=device)
        return torch.stack([idx % self.n, idx // self.n], dim=1)

    @property
    def order(self) -> int:
        return 2 * self.n

    def element_index(self, g: Tensor) -> Tensor:
        return g[:, 0] + self.n * g[:, 1]

    def matrix(self, g: Tensor) -> Tensor:
        rot = rotation_2d(g[:, 0].to(torch.float64) * (2 * math.pi / self.n))
        flip = 1.0 - 2.0 * g[:, 1].to(torch.float64)  # s: (x, y) -> (x, -y)
        return rot * torch.stack([torch.ones_like(flip), flip], -1).unsqueeze(-2)

    def __repr__(self) -> str:
        return f"D{self.n}"


@register("groups", "dihedral")
def dihedral(n: int = 4) -> Dihedral:
    """The dihedral group D_n (order 2n) of the regular n-gon."""
    return Dihedral(n)


@register("groups", "d4")
def d4() -> Dihedral:
    """D4: symmetries of the square (rotations by 90 degrees and reflections)."""
    return Dihedral(4)
