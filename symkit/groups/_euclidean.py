"""The Euclidean groups E(d) and SE(d): isometries x -> R x + t of R^d."""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.groups._base import Group
from symkit.groups._sampling import finish, gaussian, haar_orthogonal
from symkit.groups._validate import positive_float, positive_int
from symkit.registry import register

__all__ = ["Euclidean", "SpecialEuclidean", "e", "se", "e2", "e3", "se2", "se3", "homogeneous"]


def homogeneous(rot: Tensor, t: Tensor) -> Tensor:
    """Homogeneous matrices ``[[R, t], [0, 1]]``.

    Shapes:
        rot: ``(n, d, d)``; t: ``(n, d)``; returns ``(n, d+1, d+1)``.
    """
    n, d = t.shape
    out = torch.zeros(n, d + 1, d + 1, dtype=rot.dtype, device=rot.device)
    out[:, :d, :d] = rot
    out[:, :d, d] = t
    out[:, d, d] = 1.0
    return out


class Euclidean(Group):
    """E(d) = O(d) ⋉ T(d): maps ``x -> R x + t`` with ``R`` orthogonal.

    :meth:`sample` draws ``R`` from Haar measure on O(d) and ``t ~ N(0, translation_scale^2 I)``
    (E(d) is not compact; this is a convenient sampling law, not a Haar measure). Kinds:
    ``rotation`` (Haar on SO(d), ``t = 0``), ``reflection`` (Haar on ``det R = -1``, ``t = 0``),
    ``translation`` (``R = I``, random ``t``).

    Args:
        d: dimension of the space (``d >= 1``).
        translation_scale: standard deviation of sampled translations (``> 0``).

    Shapes:
        element batch: ``(B, d+1, d+1)`` float homogeneous ``[[R, t], [0, 1]]``;
        ``matrix``: ``(B, d, d)``; ``translation``: ``(B, d)``.
    """

    orthogonal = True
    kinds: tuple[str, ...] = ("rotation", "reflection", "translation")
    _name = "e"

    def __init__(self, d: int = 3, translation_scale: float = 1.0):
        self.dim = positive_int(self._name, "d", d)
        self.translation_scale = positive_float(self._name, "translation_scale", translation_scale)

    def _det(self) -> int | None:
        return None

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.eye(self.dim + 1, dtype=dtype, device=device).expand(n, -1, -1).clone()

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return a @ b

    def inverse(self, a: Tensor) -> Tensor:
        rt = self.matrix(a).transpose(-1, -2)
        t = -(rt @ self.translation(a).unsqueeze(-1)).squeeze(-1)
        return homogeneous(rt, t)

    def _draw(
        self, n: int, generator: torch.Generator | None, *, det: int | None, rotate: bool,
        translate: bool,
    ) -> Tensor:
        """float64 draw: Haar ``R`` (on the ``det`` coset) or ``I``; Gaussian ``t`` or ``0``."""
        rot = haar_orthogonal(n, self.dim, generator, det=det)
        t = gaussian((n, self.dim), generator) * self.translation_scale
        if not rotate:
            rot = torch.eye(self.dim, dtype=rot.dtype, device=rot.device).expand_as(rot)
        if not translate:
            t = torch.zeros_like(t)
        return homogeneous(rot, t)

    def sample(
        self, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        g = self._draw(n, generator, det=self._det(), rotate=True, translate=True)
        return finish(g, dtype, device)

    def sample_kind(
        self, kind: str, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        if kind not in self.kinds:
            return super().sample_kind(kind, n)
        if kind == "translation":
            g = self._draw(n, generator, det=None, rotate=False, translate=True)
        else:
            det = 1 if kind == "rotation" else -1
            g = self._draw(n, generator, det=det, rotate=True, translate=False)
        return finish(g, dtype, device)

    def matrix(self, g: Tensor) -> Tensor:
        return g[:, : self.dim, : self.dim]

    def translation(self, g: Tensor) -> Tensor:
        return g[:, : self.dim, self.dim]

    def __repr__(self) -> str:
        return f"E({self.dim})"


class SpecialEuclidean(Euclidean):
    """SE(d) = SO(d) ⋉ T(d): rigid motions ``x -> R x + t`` with ``det R = 1``.

    Sampling as for :class:`Euclidean`, with ``R`` Haar on SO(d). Kinds: ``rotation``,
    ``translation``.

    Shapes:
        element batch: ``(B, d+1, d+1)`` float homogeneous; ``matrix``: ``(B, d, d)``;
        ``translation``: ``(B, d)``.
    """

    kinds = ("rotation", "translation")
    _name = "se"

    def _det(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f"SE({self.dim})"


@register("groups", "e")
def e(d: int = 3, translation_scale: float = 1.0) -> Euclidean:
    """E(d): rotations, reflections and translations of R^d."""
    return Euclidean(d, translation_scale)


@register("groups", "se")
def se(d: int = 3, translation_scale: float = 1.0) -> SpecialEuclidean:
    """SE(d): rigid motions (rotations and translations) of R^d."""
    return SpecialEuclidean(d, translation_scale)


@register("groups", "e2")
def e2(translation_scale: float = 1.0) -> Euclidean:
    """E(2): isometries of the plane."""
    return Euclidean(2, translation_scale)


@register("groups", "e3")
def e3(translation_scale: float = 1.0) -> Euclidean:
    """E(3): isometries of space."""
    return Euclidean(3, translation_scale)


@register("groups", "se2")
def se2(translation_scale: float = 1.0) -> SpecialEuclidean:
    """SE(2): rigid motions of the plane."""
    return SpecialEuclidean(2, translation_scale)


@register("groups", "se3")
def se3(translation_scale: float = 1.0) -> SpecialEuclidean:
    """SE(3): rigid motions of space."""
    return SpecialEuclidean(3, translation_scale)
