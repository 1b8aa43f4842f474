"""Matrix constructions for learned frames: Gram-Schmidt, polar projections, orbit distance.

For a group ``G_eta = {A : A^T eta A = eta}`` defined by a diagonal invariant form ``eta``
(O(d): ``eta = I``; the Lorentz group O(1,3): ``eta = diag(1,-1,-1,-1)``):

* :func:`complete_frame` turns ``m`` equivariant vectors into an orthonormal frame that is exact
  whenever the vectors determine one and flags the samples where they do not (see there);
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

from symkit.symmetrizers.learned._inputs import KeyedSource, gaussian

__all__ = [
    "gram_schmidt",
    "frame_from_vectors",
    "complete_frame",
    "cross_complement",
    "polar_frame",
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


def frame_from_vectors(vectors: Tensor, *, proper: bool, scale: Tensor | None = None,
                       tol: float = 1e-8,
                       generator: torch.Generator | KeyedSource | None = None) -> Tensor:
    """An orthogonal frame ``F(V)`` with ``F(R V) = R F(V)`` for every ``R`` in O(d) (SO(d) if
    ``proper``): :func:`complete_frame` without the flags.

    Shapes:
        vectors: ``(B, d, m)`` (columns); returns ``(B, d, d)``.
    """
    return complete_frame(vectors, scale, proper=proper, tol=tol, generator=generator)[0]


def cross_complement(e: Tensor) -> Tensor:
    """The generalized cross product of ``d - 1`` vectors of R^d.

    ``n_i = (-1)^(i + d - 1) det(E without row i)``: orthogonal to every column of ``E``, with
    ``det [E | n] = |n|^2 > 0``; for orthonormal columns ``n`` is the unique unit vector that
    completes ``E`` to a rotation (``d = 3``: ``e_1 x e_2``; ``d = 2``: the quarter turn of
    ``e_1``). A polynomial in ``E``, so exact to rounding and smooth.

    Shapes:
        e: ``(B, d, d - 1)``; returns ``(B, d)``.
    """
    b, d = e.shape[0], e.shape[1]
    if d == 1:
        return e.new_ones(b, 1)
    if d == 3:
        return torch.linalg.cross(e[..., 0], e[..., 1], dim=-1)
    comps = []
    for i in range(d):
        minor = torch.cat([e[:, :i], e[:, i + 1:]], dim=1)
        comps.append((-1.0) ** (i + d - 1) * torch.linalg.det(minor))
    return torch.stack(comps, dim=-1)


def _push(frame: Tensor, count: Tensor, v: Tensor, floor2: Tensor, limit: int,
          last_floor2: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Append the residual of ``v`` (orthogonal to the accepted columns) where it is above the
    floor and fewer than ``limit`` columns are accepted; rejected rows get no gradient. The
    ``d``-th column (a 1-D complement: only its sign is new) uses ``last_floor2`` if given."""
    for _ in range(2):  # re-orthogonalize once: keeps the columns orthogonal to rounding
        v = v - (frame @ (frame.transpose(-1, -2) @ v[..., None]))[..., 0]
    nr2 = (v * v).sum(-1)
    if last_floor2 is not None:
        floor2 = torch.where(count == frame.shape[-1] - 1, last_floor2, floor2)
    good = (count < limit) & (nr2 > floor2)
    nr = torch.where(good, nr2, torch.ones_like(nr2)).sqrt()
    e = torch.where(good[:, None], v / nr[:, None], torch.zeros_like(v))
    d = frame.shape[-1]
    slot = torch.nn.functional.one_hot(count.clamp_max(d - 1), d).to(v.dtype) * good[:, None]
    return frame + e[:, :, None] * slot[:, None, :], count + good.long()


def complete_frame(
    vectors: Tensor, scale: Tensor | None = None, *, proper: bool, tol: float = 1e-8,
    sign_tol: float | None = None, generator: torch.Generator | KeyedSource | None = None,
    collapsed: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """An orthonormal frame from equivariant vectors, exact where they determine it.

    Gram-Schmidt takes the vectors in order and keeps the residual of ``v_k`` only when its norm
    exceeds ``tol * scale_k``: ``scale_k`` is the size ``v_k`` would have without cancellation
    (for ``v_k = 1/N sum_i w_ik (x_i - c)``: ``1/N sum_i |w_ik| |x_i - c|``), so the test does
    not depend on units, and a vector that symmetry cancels (benzene, methane, CO2: ~1e-18) or
    makes parallel to earlier ones is never normalized. Let ``r`` be the number kept; a frame is
    determined by ``d`` independent directions for O(d), by ``d - 1`` for SO(d), whose last axis
    is the :func:`cross_complement` of the others (exact even for a mirror-symmetric input, where
    any third vector lies in the plane of the first two). For O(d) the ``d``-th residual lies in
    a line fixed by the others and only its *sign* (the orientation) is new, which rounding
    cannot flip until it is a few ``eps``: it is kept above ``sign_tol * scale_k`` (default
    ``tol``) instead. Where ``r`` falls short, the missing
    axes are a Haar-random orthonormal basis of the orthogonal complement (Gram-Schmidt of
    ``2 d`` Gaussian vectors, so that rejecting one nearly in the span of the others still
    completes the frame; the rejection test is rotation invariant, so the completion stays
    Haar), and the sample is *flagged*: the complement transforms with the input, so
    the frame is equivariant in distribution (Kaba et al., 2023; Dym et al., 2024).

    The kept axes and the cross product carry gradients (bounded: every normalized residual is
    above its floor); the random axes depend on the kept ones only.

    Args:
        vectors: the equivariant vectors as columns.
        scale: reference size of each vector (``None``: its own norm, which only detects
            vectors parallel to earlier ones).
        proper: build a rotation (``det = +1``).
        tol: relative floor of a kept residual (see :func:`._inputs.degeneracy_tol`).
        sign_tol: relative floor of the last (orientation) residual for O(d) (see
            :func:`._inputs.sign_tol`; default ``tol``).
        generator: random source of the completion (a :class:`._inputs.KeyedSource` for
            per-sample streams).
        collapsed: ``(B,)`` bool, samples where no vector is to be trusted (e.g. all points
            coincide): fully random frames.

    Shapes:
        vectors: ``(B, d, m)``; scale: ``(B, m)``; returns the frame ``(B, d, d)`` and the
        flags ``(B,)`` bool.
    """
    b, d, m = vectors.shape
    limit = d - 1 if proper else d
    frame = vectors.new_zeros(b, d, d)
    count = torch.zeros(b, dtype=torch.long, device=vectors.device)
    if scale is None:
        scale = vectors.detach().norm(dim=1)
    scale = scale.detach().to(vectors.dtype)
    stol = tol if sign_tol is None else sign_tol
    for k in range(m):
        floor2 = (tol * scale[:, k]).square()
        last2 = (stol * scale[:, k]).square()
        if collapsed is not None:
            floor2 = torch.where(collapsed, torch.full_like(floor2, torch.inf), floor2)
            last2 = torch.where(collapsed, torch.full_like(last2, torch.inf), last2)
        frame, count = _push(frame, count, vectors[..., k], floor2, limit, last2)
    flagged = count < limit
    if bool(flagged.any()):
        # 2d Gaussian candidates: one nearly in the span of the kept axes is rejected (about
        # 1 in 1000 for the last of d), so d candidates alone could leave an axis 0
        z = gaussian(generator, b, d, 2 * d, device=vectors.device).to(vectors.dtype)
        for k in range(2 * d):
            floor2 = 1e-6 * (z[..., k] * z[..., k]).sum(-1)
            frame, count = _push(frame, count, z[..., k], floor2, limit)
    if proper:
        last = cross_complement(frame[..., : d - 1])
        frame = torch.cat([frame[..., : d - 1], last[..., None]], dim=-1)
    return frame, flagged


def polar_frame(
    m: Tensor, scale: Tensor, *, proper: bool, tol: float,
    generator: torch.Generator | KeyedSource | None = None, collapsed: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The orthogonal polar factor of ``M``, exact where ``M`` determines it, else flagged.

    With ``M = U diag(sigma) V^T``: singular directions with ``sigma_i > tol * |scale|`` are
    kept (``U_r V_r^T``, left-equivariant: ``P(A M) = A P(M)``); the others get a Haar-random
    rotation between the left and right null spaces (``U_0 H V_0^T``), equivariant in
    distribution and flagged. For SO(d) (``proper``) the last singular direction is signed so
    that ``det = +1`` (Kabsch), so ``d - 1`` kept directions still give an exact, unflagged
    rotation (a planar or mirror-symmetric input).

    Gradient: through the SVD where the singular values are kept and distinct (relative gap
    above ``tol``); elsewhere the factor is held fixed (zero gradient, never NaN).

    Shapes:
        m: ``(B, d, d)``; scale: ``(B, d)`` reference sizes of the columns; returns the factor
        ``(B, d, d)`` and the flags ``(B,)`` bool.
    """
    from symkit.symmetrizers.learned._mds import haar_blocks

    b, d = m.shape[0], m.shape[-1]
    ref = scale.detach().to(m.dtype).norm(dim=-1)
    sigma = torch.linalg.svdvals(m.detach())
    kept = sigma > tol * ref[:, None]
    if collapsed is not None:
        kept = kept & ~collapsed[:, None]
    limit = d - 1 if proper else d
    flagged = kept.sum(-1) < limit
    gaps = (sigma[:, :-1] - sigma[:, 1:]) > tol * ref[:, None]
    smooth = kept.all(-1) & gaps.all(-1)
    stand_in = torch.diag(torch.arange(d, 0, -1, dtype=m.dtype, device=m.device))
    u, _, vh = torch.linalg.svd(torch.where(smooth[:, None, None], m, stand_in.expand_as(m)))
    u_fixed, _, vh_fixed = torch.linalg.svd(m.detach())
    u = torch.where(smooth[:, None, None], u, u_fixed)
    vh = torch.where(smooth[:, None, None], vh, vh_fixed)
    if bool(flagged.any()):  # one cluster of the dropped directions: Haar rotation there
        idx = torch.arange(d, device=m.device).expand(b, d)
        cluster = torch.where(kept, idx, torch.full_like(idx, d))
        u = u @ haar_blocks(cluster, generator, free=~kept).to(m.dtype)
    if proper:
        det = torch.linalg.det(u.detach()) * torch.linalg.det(vh.detach())
        sign = torch.ones(b, d, dtype=m.dtype, device=m.device)
        sign[:, -1] = torch.where(det < 0, -1.0, 1.0)
        u = u * sign[:, None, :]
    return u @ vh, flagged


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
