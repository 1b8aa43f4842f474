"""Matrix constructions for learned frames: Gram-Schmidt, polar projections, orbit distance.

For a group ``G_eta = {A : A^T eta A = eta}`` defined by a diagonal invariant form ``eta``
(O(d): ``eta = I``; the Lorentz group O(1,3): ``eta = diag(1,-1,-1,-1)``):

* :func:`orbit_distance` ``||M^T eta M - eta||_F^2`` is zero exactly on ``G_eta``;
* :func:`project_to_group` maps a matrix to ``G_eta`` and commutes with left multiplication by
  ``G_eta`` (``P(A M) = A P(M)``), so it keeps equivariance: for ``eta = I`` the orthogonal
  polar factor ``U V^T`` (from the SVD), otherwise the generalized polar factor computed by the
  Newton iteration ``X <- (X + eta X^-T eta) / 2`` (Higham, Mackey, Mackey & Tisseur, 2005),
  which converges quadratically for matrices near the group.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "gram_schmidt",
    "frame_from_vectors",
    "orbit_distance",
    "project_to_group",
    "skew_basis",
]


def gram_schmidt(vectors: Tensor, eps: float = 1e-12) -> Tensor:
    """Orthonormalize the columns of ``vectors`` in order (equivariant under O(d) from the left).

    Shapes:
        vectors: ``(B, d, m)`` with ``m <= d``; returns ``(B, d, m)`` orthonormal columns.
    """
    cols: list[Tensor] = []
    for i in range(vectors.shape[-1]):
        v = vectors[..., i]
        for u in cols:
            v = v - (u * v).sum(-1, keepdim=True) * u
        cols.append(v / v.norm(dim=-1, keepdim=True).clamp_min(eps))
    return torch.stack(cols, dim=-1)


def frame_from_vectors(vectors: Tensor, *, proper: bool) -> Tensor:
    """An orthogonal frame ``F(V)`` with ``F(R V) = R F(V)`` for every ``R`` in O(d) (SO(d) if
    ``proper``).

    Gram-Schmidt on ``d`` vectors gives ``F`` in O(d); its determinant is the sign of the
    pseudo-scalar ``det V``, which is how reflections are detected. With ``proper`` the last
    column is negated where ``det F = -1`` (for ``d = 3`` this is ``e_3 = e_1 x e_2``); that
    right multiplication commutes with rotations, so ``F`` stays SO(d)-equivariant.

    Shapes:
        vectors: ``(B, d, d)`` (columns); returns ``(B, d, d)``.
    """
    frame = gram_schmidt(vectors)
    if proper:
        sign = torch.where(torch.linalg.det(frame) < 0, -1.0, 1.0).to(frame.dtype)
        frame = torch.cat([frame[..., :-1], frame[..., -1:] * sign[:, None, None]], dim=-1)
    return frame


def orbit_distance(m: Tensor, eta: Tensor) -> Tensor:
    """``||M^T eta M - eta||_F^2`` per matrix: zero iff ``M`` preserves the form ``eta``.

    Shapes:
        m: ``(B, d, d)``; eta: ``(d,)`` diagonal; returns ``(B,)``.
    """
    e = torch.diag_embed(eta.to(m.dtype)).expand_as(m)
    return (m.transpose(-1, -2) @ e @ m - e).pow(2).sum(dim=(-1, -2))


def project_to_group(m: Tensor, eta: Tensor | None = None, *, steps: int = 30) -> Tensor:
    """The (generalized) polar factor of ``M`` in ``G_eta``; left-equivariant under ``G_eta``.

    Args:
        m: matrices near the group (any invertible matrix when ``eta = I``).
        eta: diagonal of the invariant form (``None``: identity, i.e. O(d)).
        steps: Newton iterations for a general ``eta``.

    Shapes:
        m: ``(B, d, d)``; eta: ``(d,)``; returns ``(B, d, d)``.
    """
    if eta is None or bool((eta == 1).all()):
        u, _, vh = torch.linalg.svd(m)
        return u @ vh
    e = torch.diag_embed(eta.to(m.dtype))
    x = m
    for _ in range(steps):
        x = 0.5 * (x + e @ torch.linalg.inv(x).transpose(-1, -2) @ e)
    return x


def skew_basis(d: int, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """Basis ``E_ij = e_i e_j^T - e_j e_i^T`` (``i < j``) of the Lie algebra so(d).

    Shapes:
        returns ``(d (d - 1) / 2, d, d)``.
    """
    out = []
    for i in range(d):
        for j in range(i + 1, d):
            e = torch.zeros(d, d, dtype=dtype, device=device)
            e[i, j], e[j, i] = -1.0, 1.0
            out.append(e)
    return torch.stack(out) if out else torch.zeros(0, d, d, dtype=dtype, device=device)
