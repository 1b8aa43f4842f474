"""PCA frames of point sets: centroid, covariance, eigenbasis and degenerate eigenspaces.

For points ``x_1..x_n`` in R^d with centroid ``c`` (or ``c = 0`` for groups that fix the
origin), the covariance ``C = 1/n sum_j (x_j - c)(x_j - c)^T = Q diag(lambda) Q^T`` transforms
as ``C -> R C R^T`` under ``x -> R x + t``, so its eigenbasis ``Q`` is equivariant up to the sign
of each eigenvector (when the eigenvalues are distinct). The PCA frame is the set
``{(Q diag(s), c)}`` over sign vectors ``s`` (all ``2^d`` for O(d)/E(d), the ``det = +1`` half
for SO(d)/SE(d)).

**Degeneracy.** When eigenvalues repeat (collinear or planar sets, regular polytopes, a single
point), the eigenvectors of a repeated eigenvalue are an arbitrary basis of its eigenspace. An
eigenvalue cluster is where consecutive eigenvalues differ by less than ``tol * lambda_max``;
:func:`randomize_degenerate` replaces the basis of every cluster of size ``m > 1`` by a
Haar-random orthonormal basis of the same eigenspace (``Q_c H`` with ``H`` Haar on O(m)). The
distribution of the result is then equivariant, so the symmetrized model stays equivariant in
distribution (and in expectation), and exactly equivariant for non-degenerate samples.

Everything is computed in float64 and detached: frames carry no gradient.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from symkit.ops.scatter import scatter_sum

__all__ = [
    "Moments",
    "PCA",
    "flatten_points",
    "flatten_batch",
    "point_moments",
    "pca",
    "randomize_degenerate",
    "sign_vectors",
    "haar_blocks",
]


@dataclass
class Moments:
    """Per-sample centroid ``(B, d)``, covariance ``(B, d, d)`` and scale ``(B,)`` (float64).

    ``scale`` is the mean squared norm of the points (a floor for the degeneracy test).
    """

    center: Tensor
    cov: Tensor
    scale: Tensor


def point_moments(
    points: Tensor,
    *,
    center: bool,
    mask: Tensor | None = None,
    batch: Tensor | None = None,
    num_graphs: int | None = None,
    extra: list[Tensor] = (),
) -> Moments:
    """Centroid and covariance of each sample's (valid) points; plus second moments of ``extra``.

    Args:
        points: positions; dense ``(B, N, d)`` or ragged ``(total, d)`` with ``batch``.
        center: subtract the centroid (translation groups) or not (``c = 0``).
        mask: dense only, ``(B, N)`` bool of valid points.
        batch: ragged only, graph of each point ``(total,)`` long; ``num_graphs`` = ``B``.
        extra: vector fields whose uncentred second moments ``1/n sum v v^T`` are added;
            same layout as ``points``, optional channels: ``(B, N, *C, d)``/``(total, *C, d)``.

    Shapes:
        returns centroid ``(B, d)``, covariance ``(B, d, d)``, scale ``(B,)``.
    """
    if batch is None and mask is None:
        return _dense_moments(points, center, extra)
    x, w = flatten_points(points, mask, batch)
    if batch is None:
        n = w.sum(1).clamp_min(1.0)
        c = (w[..., None] * x).sum(1) / n[:, None]
        if not center:
            c = torch.zeros_like(c)
        xc = x - c[:, None]
        cov = torch.einsum("bn,bni,bnj->bij", w, xc, xc) / n[:, None, None]
        scale = (w * (x * x).sum(-1)).sum(1) / n
        for v in extra:
            v, wv = flatten_points(v, mask)
            cov = cov + torch.einsum("bn,bni,bnj->bij", wv, v, v) / n[:, None, None]
        return Moments(c, cov, scale)
    b = int(num_graphs)
    row = flatten_batch(points, batch)
    ones = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    n = scatter_sum(ones, row, b).clamp_min(1.0)
    c = scatter_sum(x, row, b) / n[:, None]
    if not center:
        c = torch.zeros_like(c)
    xc = x - c[row]
    cov = scatter_sum(xc[:, :, None] * xc[:, None, :], row, b)
    for v in extra:
        v_row = flatten_batch(v, batch)
        v, _ = flatten_points(v, batch=batch)
        cov = cov + scatter_sum(v[:, :, None] * v[:, None, :], v_row, b)
    scale = scatter_sum((x * x).sum(-1), row, b) / n
    return Moments(c, cov / n[:, None, None], scale)


def _dense_moments(points: Tensor, center: bool, extra) -> Moments:
    """:func:`point_moments` of unmasked dense points: batched matmuls, no weights."""
    b, d = points.shape[0], points.shape[-1]
    x = points.detach().to(torch.float64).reshape(b, -1, d)
    n = max(x.shape[1], 1)
    if center:
        c = x.sum(1) / n
        xc = x - c[:, None]
    else:
        c = x.new_zeros(b, d)
        xc = x
    cov = torch.bmm(xc.transpose(1, 2), xc)
    for v in extra:
        v = v.detach().to(torch.float64).reshape(b, -1, d)
        cov = cov + torch.bmm(v.transpose(1, 2), v)
    scale = x.square().sum((1, 2)) / n
    return Moments(c, cov / n, scale)


def flatten_points(
    points: Tensor, mask: Tensor | None = None, batch: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """Points as float64 ``(B, N * C, d)`` with weights ``(B, N * C)`` (dense), or ``(total * C,
    d)`` with ``None`` (ragged; use :func:`flatten_batch` for the index), from ``(B, N, *C, d)``
    or ``(total, *C, d)``."""
    x = points.detach().to(torch.float64)
    if batch is not None:
        return x.reshape(-1, x.shape[-1]), None
    b, n, d = x.shape[0], x.shape[1], x.shape[-1]
    c = x[0, 0].numel() // d if b and n else 1
    x = x.reshape(b, n * c, d)
    w = torch.ones((b, n), dtype=x.dtype, device=x.device) if mask is None else mask.to(x.dtype)
    return x, w.repeat_interleave(c, dim=1)


def flatten_batch(points: Tensor, batch: Tensor) -> Tensor:
    """The graph index of each row of the ragged ``flatten_points`` output."""
    c = points[0].numel() // points.shape[-1] if points.shape[0] else 1
    return batch.repeat_interleave(c)


@dataclass
class PCA:
    """Eigen-decomposition of per-sample covariances, ascending eigenvalues.

    Attributes:
        basis: eigenvectors as columns ``(B, d, d)``.
        eigenvalues: ``(B, d)``.
        cluster: eigenvalue cluster of each eigenvector ``(B, d)`` long (equal = degenerate).
        rel_gap: smallest relative gap ``(lambda_{i+1} - lambda_i) / lambda_max`` ``(B,)``
            (``1`` when ``d = 1``).
        degenerate: ``(B,)`` bool, some cluster has more than one eigenvector.
    """

    basis: Tensor
    eigenvalues: Tensor
    cluster: Tensor
    rel_gap: Tensor
    degenerate: Tensor


def pca(moments: Moments, tol: float = 1e-3) -> PCA:
    """Eigenbasis of the covariance with the clusters of (near-)repeated eigenvalues.

    Consecutive eigenvalues are in one cluster when their gap is below ``tol`` times
    ``max(lambda_max, 1e-12 * scale)`` (the floor makes a single point or coincident points one
    fully degenerate cluster instead of amplifying round-off).
    """
    # eigh reads the lower triangle only: that of a symmetric covariance, no symmetrizing needed
    lam, q = torch.linalg.eigh(moments.cov)
    d = lam.shape[-1]
    ref = torch.maximum(lam[:, -1:], 1e-12 * moments.scale[:, None])
    gaps = lam.diff(dim=1) / ref.clamp_min(torch.finfo(lam.dtype).tiny)
    split = gaps >= tol
    cluster = torch.nn.functional.pad(split.long(), (1, 0)).cumsum(1)
    rel_gap = gaps.amin(1) if d > 1 else torch.ones_like(lam[:, 0])
    degenerate = ~split.all(1) if d > 1 else torch.zeros_like(lam[:, 0], dtype=torch.bool)
    return PCA(q, lam, cluster, rel_gap, degenerate)


def haar_blocks(cluster: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """Block-diagonal orthogonal matrices: Haar on O(m) for each cluster of size m > 1, 1 else.

    ``k`` independent draws per sample. Built by QR of a Gaussian matrix masked to the blocks
    (QR keeps the block structure) with the Mezzadri sign fix.

    Shapes:
        cluster: ``(B, d)`` long; returns ``(B, k, d, d)`` float64.
    """
    b, d = cluster.shape
    same = cluster[:, :, None] == cluster[:, None, :]
    size = same.sum(-1)
    single = size == 1
    z = torch.randn(
        (b, k, d, d), generator=generator, dtype=torch.float64,
        device=generator.device if generator is not None else cluster.device,
    ).to(cluster.device)
    eye = torch.eye(d, dtype=torch.float64, device=cluster.device)
    z = torch.where(same[:, None], z, torch.zeros_like(z))
    z = torch.where(single[:, None, :, None] | single[:, None, None, :], eye.expand_as(z), z)
    q, r = torch.linalg.qr(z)
    sign = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return q * sign[..., None, :]


def randomize_degenerate(
    basis: Tensor, cluster: Tensor, k: int, generator: torch.Generator | None = None
) -> Tensor:
    """``k`` bases per sample with every degenerate eigenspace given a Haar-random basis.

    Shapes:
        basis: ``(B, d, d)``; cluster: ``(B, d)``; returns ``(B, k, d, d)``.
    """
    out = basis[:, None].expand(-1, k, -1, -1)
    degenerate = (cluster[:, 1:] == cluster[:, :-1]).any(1)
    if not bool(degenerate.any()):  # the common case: nothing to randomize
        return out
    out = out.clone()
    out[degenerate] = basis[degenerate, None] @ haar_blocks(cluster[degenerate], k, generator)
    return out


def sign_vectors(d: int, *, parity: int | None = None, device=None) -> Tensor:
    """All sign vectors in {-1, 1}^d (``2^d``), or those with ``prod(s) = parity`` (``2^(d-1)``).

    Cached per ``(d, parity, device)``: treat the result as read-only.

    Shapes:
        returns ``(S, d)`` float64, the all-ones vector first.
    """
    return _sign_vectors(d, parity, torch.device(device) if device is not None else None)


@functools.lru_cache(maxsize=64)
def _sign_vectors(d: int, parity: int | None, device) -> Tensor:
    with torch.inference_mode(False):  # a normal tensor, usable in and out of inference mode
        return _make_sign_vectors(d, parity, device)


def _make_sign_vectors(d: int, parity: int | None, device) -> Tensor:
    signs = torch.tensor(
        list(itertools.product((1.0, -1.0), repeat=d)), dtype=torch.float64, device=device
    )
    if parity is not None:
        signs = signs[signs.prod(-1) == parity]
    return signs
