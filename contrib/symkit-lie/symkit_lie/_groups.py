"""GL+(n), SL(n) and Aff+(n) through the polar decomposition ``A = R P``.

Every ``A`` with ``det A > 0`` factors uniquely as ``A = R P`` with ``R`` in SO(n) (compact) and
``P = exp(S)`` symmetric positive definite (``S`` symmetric; ``tr S = 0`` exactly when
``det A = 1``). This global diffeomorphism ``GL+(n) = SO(n) x PD(n)`` is the decomposition that
Mironenco and Forré (2024, "Lie Group Decompositions for Equivariant Neural Networks") use to
sample and integrate over these non-compact groups.

The groups are not compact, so they have no Haar probability measure. :meth:`sample` draws
``R`` Haar on SO(n) and ``S = stretch * (X + X^T) / 2`` with ``X`` a standard Gaussian ``n x n``
matrix (a GOE matrix: its law is invariant under ``S -> Q S Q^T``, so ``A`` is distributed
invariantly under rotations on both sides, though not under stretches); for SL(n) the trace
is removed, ``S - tr(S) I / n``. Larger ``stretch`` means worse conditioned elements
(``cond(A) = exp(lambda_max(S) - lambda_min(S))``), and rounding errors grow with it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.errors import ConfigError
from symkit.groups import Group, haar_orthogonal

__all__ = ["GeneralLinear", "Affine", "glp", "sl", "affine", "polar", "symmetric_gaussian"]


def symmetric_gaussian(n: int, d: int, generator, *, traceless: bool) -> Tensor:
    """``(X + X^T) / 2`` for ``X`` standard Gaussian ``(n, d, d)`` float64, traceless if asked."""
    device = generator.device if generator is not None else None
    x = torch.randn(n, d, d, generator=generator, dtype=torch.float64, device=device)
    s = (x + x.transpose(1, 2)) / 2
    if traceless:
        eye = torch.eye(d, dtype=s.dtype, device=s.device)
        s = s - s.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None] * eye
    return s


def polar(a: Tensor) -> tuple[Tensor, Tensor]:
    """``A = R P``: ``R`` orthogonal, ``P = (A^T A)^(1/2)`` symmetric positive definite.

    Shapes:
        a: ``(n, d, d)`` invertible; returns ``R``, ``P`` of the same shape.
    """
    u, s, vh = torch.linalg.svd(a)
    return u @ vh, vh.transpose(-1, -2) @ (s[..., None] * vh)


def _check(name: str, d: int, stretch: float) -> None:
    if not (isinstance(d, int) and d >= 1):
        raise ConfigError(f"{name}.d", f"must be an integer >= 1, got {d!r}")
    if not stretch > 0:
        raise ConfigError(f"{name}.stretch", f"must be > 0, got {stretch!r}")


class GeneralLinear(Group):
    """GL+(n) (``det A > 0``), or SL(n) (``det A = 1``) when ``special``, acting on R^n by ``A``.

    Args:
        d: dimension ``n`` of the space.
        stretch: scale of the symmetric generator ``S`` of sampled positive-definite factors.
        special: SL(n) instead of GL+(n).

    Kinds: ``rotation`` (Haar on SO(n)), for GL+(n) also ``scaling`` (``exp(stretch z) I``,
    ``z ~ N(0, 1)``); ``sample_kind("stretch")`` draws positive-definite factors ``exp(S)``
    alone (not in :attr:`kinds`, whose names symkit fixes).

    Shapes:
        element batch: ``(B, d, d)`` float; ``matrix``: the same tensor.
    """

    extra_kinds = ("stretch",)
    #: not compact: Monte-Carlo averaging over samples is not equivariant
    compact = False

    def __init__(self, d: int = 2, stretch: float = 0.3, special: bool = False):
        _check("sl" if special else "glp", d, stretch)
        self.dim, self.stretch, self.special = d, float(stretch), bool(special)
        self.kinds = ("rotation",) if special else ("rotation", "scaling")

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.eye(self.dim, dtype=dtype, device=device).expand(n, -1, -1).clone()

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return a @ b

    def inverse(self, a: Tensor) -> Tensor:
        return torch.linalg.inv(a)

    def matrix(self, g: Tensor) -> Tensor:
        return g

    # -- the polar decomposition: sampling ------------------------------------------------------
    def _linear(self, kind: str | None, n: int, generator) -> Tensor:
        """float64 ``(n, d, d)``: ``R exp(S)`` (``kind=None``) or one factor alone."""
        d = self.dim
        if kind == "scaling":
            device = generator.device if generator is not None else None
            z = torch.randn(n, generator=generator, dtype=torch.float64, device=device)
            return torch.exp(self.stretch * z)[:, None, None] * torch.eye(d, dtype=z.dtype,
                                                                          device=z.device)
        rot = haar_orthogonal(n, d, generator, det=1)
        if kind == "rotation":
            return rot
        stretch = torch.linalg.matrix_exp(
            self.stretch * symmetric_gaussian(n, d, generator, traceless=self.special))
        return stretch if kind == "stretch" else rot @ stretch

    def _finish(self, a: Tensor, dtype, device) -> Tensor:
        return a.to(dtype=dtype, device=device)

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None) -> Tensor:
        """``R exp(S)``: Haar rotation times a random positive-definite factor (module docs)."""
        return self._finish(self._linear(None, n, generator), dtype, device)

    def sample_kind(self, kind, n, *, generator=None, dtype=torch.float64, device=None):
        if kind not in self.kinds and kind not in self.extra_kinds:
            return super().sample_kind(kind, n)
        return self._finish(self._linear(kind, n, generator), dtype, device)

    def lie_algebra(self, dtype=torch.float64, device=None) -> Tensor:
        """Generators ``(k, d, d)`` of gl(n) (all ``E_ij``) or sl(n) (traceless ones)."""
        d = self.dim
        basis = []
        for i in range(d):
            for j in range(d):
                e = torch.zeros(d, d, dtype=dtype, device=device)
                e[i, j] = 1.0
                if self.special and i == j:
                    if i == d - 1:
                        continue
                    e[d - 1, d - 1] = -1.0
                basis.append(e)
        return torch.stack(basis) if basis else torch.zeros(0, d, d, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return f"{'SL' if self.special else 'GL+'}({self.dim})"


class Affine(GeneralLinear):
    """Aff+(n) = GL+(n) ⋉ T(n): maps ``x -> A x + t`` with ``det A > 0``.

    Sampling: ``A = R exp(S)`` as for :class:`GeneralLinear`, ``t ~ N(0, translation_scale^2
    I)``. Kinds: ``rotation``, ``scaling``, ``translation`` (``A = I``); ``stretch`` by name.

    Args:
        d: dimension of the space.
        stretch: scale of the symmetric generator of sampled positive-definite factors.
        translation_scale: standard deviation of sampled translations.

    Shapes:
        element batch: ``(B, d+1, d+1)`` homogeneous ``[[A, t], [0, 1]]``; ``matrix``:
        ``(B, d, d)``; ``translation``: ``(B, d)``.
    """

    def __init__(self, d: int = 2, stretch: float = 0.3, translation_scale: float = 1.0):
        super().__init__(d, stretch)
        if not translation_scale > 0:
            raise ConfigError("affine.translation_scale", f"must be > 0, got "
                              f"{translation_scale!r}")
        self.translation_scale = float(translation_scale)
        self.kinds = ("rotation", "scaling", "translation")

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.eye(self.dim + 1, dtype=dtype, device=device).expand(n, -1, -1).clone()

    def inverse(self, a: Tensor) -> Tensor:
        inv = torch.linalg.inv(self.matrix(a))
        return _homogeneous(inv, -(inv @ self.translation(a)[..., None])[..., 0])

    def matrix(self, g: Tensor) -> Tensor:
        return g[:, : self.dim, : self.dim]

    def translation(self, g: Tensor) -> Tensor:
        return g[:, : self.dim, self.dim]

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None) -> Tensor:
        """``(R exp(S), t)``: the polar sample of the linear part, a Gaussian translation."""
        return self._affine(self._linear(None, n, generator), n, generator, dtype, device)

    def sample_kind(self, kind, n, *, generator=None, dtype=torch.float64, device=None):
        if kind == "translation":
            eye = torch.eye(self.dim, dtype=torch.float64).expand(n, -1, -1)
            return self._affine(eye, n, generator, dtype, device)
        if kind not in self.kinds and kind not in self.extra_kinds:
            return super().sample_kind(kind, n)
        a = self._linear(kind, n, generator)
        return _homogeneous(a, torch.zeros(n, self.dim, dtype=a.dtype)).to(dtype=dtype,
                                                                           device=device)

    def _affine(self, a: Tensor, n: int, generator, dtype, device) -> Tensor:
        gen_device = generator.device if generator is not None else None
        t = self.translation_scale * torch.randn(n, self.dim, generator=generator,
                                                 dtype=torch.float64, device=gen_device)
        return _homogeneous(a.to(t.device), t).to(dtype=dtype, device=device)

    def lie_algebra(self, dtype=torch.float64, device=None) -> Tensor:
        """Generators of aff(n): ``[[E_ij, 0], [0, 0]]`` and ``[[0, e_i], [0, 0]]``."""
        d = self.dim
        lin = super().lie_algebra(dtype, device)
        out = torch.zeros(lin.shape[0] + d, d + 1, d + 1, dtype=dtype, device=device)
        out[: lin.shape[0], :d, :d] = lin
        for i in range(d):
            out[lin.shape[0] + i, i, d] = self.translation_scale
        return out

    def __repr__(self) -> str:
        return f"Aff+({self.dim})"


def _homogeneous(a: Tensor, t: Tensor) -> Tensor:
    n, d = t.shape
    out = torch.zeros(n, d + 1, d + 1, dtype=a.dtype, device=a.device)
    out[:, :d, :d] = a
    out[:, :d, d] = t
    out[:, d, d] = 1.0
    return out


def glp(d: int = 2, stretch: float = 0.3) -> GeneralLinear:
    """GL+(n): invertible linear maps with positive determinant, sampled as ``R exp(S)``.

    Args:
        d: dimension of the space.
        stretch: scale of the symmetric generator ``S`` of the positive-definite factor.
    """
    return GeneralLinear(d, stretch)


def sl(d: int = 2, stretch: float = 0.3) -> GeneralLinear:
    """SL(n): volume-preserving linear maps, sampled as ``R exp(S)`` with ``tr S = 0``.

    Args:
        d: dimension of the space.
        stretch: scale of the traceless symmetric generator ``S``.
    """
    return GeneralLinear(d, stretch, special=True)


def affine(d: int = 2, stretch: float = 0.3, translation_scale: float = 1.0) -> Affine:
    """Aff+(n): ``x -> A x + t`` with ``det A > 0``; ``A = R exp(S)``, Gaussian ``t``.

    Args:
        d: dimension of the space.
        stretch: scale of the symmetric generator of the positive-definite factor.
        translation_scale: standard deviation of sampled translations.
    """
    return Affine(d, stretch, translation_scale)
