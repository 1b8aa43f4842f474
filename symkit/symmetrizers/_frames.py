"""PCA frames of point sets: centroid, covariance, eigenbasis and degenerate eigenspaces.

For points ``x_1..x_n`` in R^d with centroid ``c`` (or ``c = 0`` for groups that fix the
origin), the covariance ``C = 1/n sum_j (x_j - c)(x_j - c)^T = Q diag(lambda) Q^T`` transforms
as ``C -> R C R^T`` under ``x -> R x + t``, so its eigenbasis ``Q`` is equivariant up to the sign
of each eigenvector (when the eigenvalues are distinct). The PCA frame is the set
``{(Q diag(s), c)}`` over sign vectors ``s`` (all ``2^d`` for O(d)/E(d), the ``det = +1`` half
for SO(d)/SE(d)).

**Units.** Moments are accumulated in float64 whatever the input dtype (float16, bfloat16,
float32 or float64) and the eigen-decomposition is taken of the *normalized* covariance
``C / tr C`` (the covariance of the centred points divided by their RMS spread): eigenvectors
and relative gaps do not depend on the units, so a molecule given in metres (1e-10) or in
micrometres (1e4) gets the same frame to the precision of its dtype.

**Degeneracy.** When eigenvalues repeat (collinear or planar sets, regular polytopes, a single
point), the eigenvectors of a repeated eigenvalue are an arbitrary basis of its eigenspace. An
eigenvalue cluster is where consecutive normalized eigenvalues differ by less than ``tol``
(times the largest); :func:`randomize_degenerate` replaces the basis of every cluster of size
``m > 1`` by a Haar-random orthonormal basis of the same eigenspace (``Q_c H`` with ``H`` Haar
on O(m)). The distribution of the result is then equivariant, so the symmetrized model stays
equivariant in distribution (and in expectation), and exactly equivariant for non-degenerate
samples. A sample with no points (empty graph, all-masked row) is fixed by the whole group: it
is one fully degenerate cluster like a single point, so its basis is Haar-random on O(d) (and
its centre 0); a fixed basis there (the identity) would leave ``backbone(empty)`` unrotated, an
output that is not equivariant even in distribution. Both kinds are reported in
:attr:`PCA.degenerate` (a symmetrizer's ``flagged``).

**Gradients.** The centroid and covariance are differentiable functions of the points, and so
is the eigenbasis where the eigenvalues are distinct (``dQ`` involves ``1/(lambda_i -
lambda_j)``, bounded by ``1/(tol * lambda_max)`` off degeneracy). For degenerate samples the
basis is detached (its gradient would be infinite or NaN, and the basis is random anyway): their
gradient is the one of a frame held fixed, finite everywhere. Sign choices are piecewise
constant and carry no gradient.
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
    "dtype_tol",
    "gap_tol",
    "EXACT_RTOL",
]

#: squared spread below ``ZERO_SPREAD * mean |x|^2`` counts as no spread (coincident points)
ZERO_SPREAD = 1e-12


def dtype_tol(tol: float, dtype: torch.dtype) -> float:
    """``tol``, raised to ``8 eps`` of ``dtype`` where that is larger (float16: 0.008).

    A gap or a third moment smaller than a few rounding units of the input cannot be told
    apart from zero: the input itself is only known to that precision.
    """
    if not dtype.is_floating_point:
        return tol
    return max(tol, 8.0 * torch.finfo(dtype).eps)


#: the exactness symkit promises per input dtype, relative to the output's spread
EXACT_RTOL = {torch.float64: 1e-9, torch.float32: 1e-5, torch.float16: 1e-2,
              torch.bfloat16: 1e-2}


def gap_tol(tol: float, dtype: torch.dtype) -> float:
    """``tol``, raised to ``u / rtol`` of ``dtype`` where that is larger (``u = eps / 2`` the
    unit roundoff, ``rtol`` its :data:`EXACT_RTOL`; float32: 6e-3, float64: 1.1e-7; at most 0.1).

    An eigenvector read off a relative eigen-gap ``delta`` moves by about ``u / delta`` when the
    input is rounded to ``dtype``, so below this floor the frame cannot be exact to ``rtol``:
    the eigenvalues count as repeated (random basis, flagged) instead of silently wrong.
    """
    if not dtype.is_floating_point:
        return tol
    unit = float(torch.finfo(dtype).eps) / 2
    return max(tol, min(unit / EXACT_RTOL.get(dtype, 1e-5), 0.1))


@dataclass
class Moments:
    """Per-sample moments of a point set (float64, differentiable in the points).

    Attributes:
        center: centroid ``(B, d)`` (zeros when not centring).
        cov: covariance about ``center`` ``(B, d, d)`` (plus the extra fields' second moments).
        scale: mean squared norm of the uncentred points ``(B,)`` (the zero-spread floor).
        count: number of valid points ``(B,)`` (0 for an empty sample).
        points: dense unmasked batches only: the points as float64 ``(B, N * C, d)``, the
            values :func:`flatten_points` returns (kept so that later passes, e.g. third
            moments, do not convert them again); else ``None``.

    Treat as read-only: :attr:`trace` and :attr:`flat` are computed once.
    """

    center: Tensor
    cov: Tensor
    scale: Tensor
    count: Tensor | None = None
    points: Tensor | None = None

    @functools.cached_property
    def trace(self) -> Tensor:
        """``tr C`` ``(B,)``: the mean squared distance to the centre."""
        return torch.diagonal(self.cov, dim1=-2, dim2=-1).sum(-1)

    @functools.cached_property
    def flat(self) -> Tensor:
        """``(B,)`` bool: no spread, ``tr C <= ZERO_SPREAD * scale`` (coincident points)."""
        return self.trace <= ZERO_SPREAD * self.scale

    @property
    def spread(self) -> Tensor:
        """RMS distance to the centre, ``sqrt(tr C)`` ``(B,)``, with 1 where it is zero."""
        return torch.where(self.flat, 1.0, self.trace.clamp_min(1e-300).sqrt())


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

    Differentiable in ``points`` and ``extra``. An empty sample (no valid point) has centroid
    0, covariance 0 and ``count = 0``.

    Args:
        points: positions; dense ``(B, N, d)`` or ragged ``(total, d)`` with ``batch``.
        center: subtract the centroid (translation groups) or not (``c = 0``).
        mask: dense only, ``(B, N)`` bool of valid points.
        batch: ragged only, graph of each point ``(total,)`` long; ``num_graphs`` = ``B``.
        extra: vector fields whose uncentred second moments ``1/n sum v v^T`` are added;
            same layout as ``points``, optional channels: ``(B, N, *C, d)``/``(total, *C, d)``.

    Shapes:
        returns centroid ``(B, d)``, covariance ``(B, d, d)``, scale and count ``(B,)``.
    """
    if batch is None and mask is None:
        return _dense_moments(points, center, extra)
    x, w = flatten_points(points, mask, batch)
    if batch is None:
        count = w.sum(1)
        n = count.clamp_min(1.0)
        c = (w[..., None] * x).sum(1) / n[:, None]
        if not center:
            c = torch.zeros_like(c)
        xc = x - c[:, None]
        cov = torch.einsum("bn,bni,bnj->bij", w, xc, xc) / n[:, None, None]
        scale = (w * (x * x).sum(-1)).sum(1) / n
        for v in extra:
            v, wv = flatten_points(v, mask)
            cov = cov + torch.einsum("bn,bni,bnj->bij", wv, v, v) / n[:, None, None]
            scale = scale + (wv * (v * v).sum(-1)).sum(1) / n
        return Moments(c, cov, scale, count)
    b = int(num_graphs)
    row = flatten_batch(points, batch)
    ones = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    count = scatter_sum(ones, row, b)
    n = count.clamp_min(1.0)
    c = scatter_sum(x, row, b) / n[:, None]
    if not center:
        c = torch.zeros_like(c)
    xc = x - c[row]
    cov = scatter_sum(xc[:, :, None] * xc[:, None, :], row, b)
    scale = scatter_sum((x * x).sum(-1), row, b)
    for v in extra:
        v_row = flatten_batch(v, batch)
        v, _ = flatten_points(v, batch=batch)
        cov = cov + scatter_sum(v[:, :, None] * v[:, None, :], v_row, b)
        scale = scale + scatter_sum((v * v).sum(-1), v_row, b)
    return Moments(c, cov / n[:, None, None], scale / n, count)


def _dense_moments(points: Tensor, center: bool, extra) -> Moments:
    """:func:`point_moments` of unmasked dense points: batched matmuls, no weights.

    float64 points: two passes (centroid, then the centred covariance). Lower precisions: one
    pass, ``C = X^T X / n - c c^T`` with ``X^T X`` and ``sum x`` reduced in float64; its
    cancellation error, ``u64 (|c| / s)^2`` relative to the spread ``s``, stays below the
    input's own rounding ``u |c| / s`` up to offsets ``|c| / s = u / u64`` (5e8 for float32).
    """
    b, d = points.shape[0], points.shape[-1]
    x = points.to(torch.float64).reshape(b, _rows(points), d)
    n = max(x.shape[1], 1)
    count = x.new_full((b,), float(x.shape[1]))
    if points.dtype == torch.float64 or not center:
        if center:
            c = x.sum(1) / n
            xc = x - c[:, None]
        else:
            c = x.new_zeros(b, d)
            xc = x
        cov = torch.bmm(xc.transpose(1, 2), xc)
        scale = x.square().sum((1, 2))
    else:
        raw = torch.bmm(x.transpose(1, 2), x)
        c = x.sum(1) / n
        cov = raw - n * c[:, :, None] * c[:, None, :]
        scale = torch.diagonal(raw, dim1=-2, dim2=-1).sum(-1)
    for v in extra:
        v = v.to(torch.float64).reshape(b, _rows(v), d)
        cov = cov + torch.bmm(v.transpose(1, 2), v)
        scale = scale + v.square().sum((1, 2))
    return Moments(c, cov / n, scale / n, count, x)


def _rows(points: Tensor) -> int:
    """Points per sample of a dense ``(B, N, *C, d)`` tensor: ``N * prod(C)``."""
    rows = 1
    for s in points.shape[1:-1]:
        rows *= s
    return rows


def flatten_points(
    points: Tensor, mask: Tensor | None = None, batch: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """Points as float64 ``(B, N * C, d)`` with weights ``(B, N * C)`` (dense), or ``(total * C,
    d)`` with ``None`` (ragged; use :func:`flatten_batch` for the index), from ``(B, N, *C, d)``
    or ``(total, *C, d)``. Differentiable in ``points``."""
    x = points.to(torch.float64)
    if batch is not None:
        return x.reshape(-1, x.shape[-1]), None
    b, n, d = x.shape[0], x.shape[1], x.shape[-1]
    c = _rows(x) // n if n else 1
    x = x.reshape(b, n * c, d)
    if mask is None:
        return x, torch.ones((b, n * c), dtype=x.dtype, device=x.device)
    valid = mask.bool().repeat_interleave(c, dim=1)
    x = torch.where(valid[..., None], x, torch.zeros_like(x))  # padding may hold anything
    return x, valid.to(x.dtype)


def flatten_batch(points: Tensor, batch: Tensor) -> Tensor:
    """The graph index of each row of the ragged ``flatten_points`` output."""
    c = 1
    for s in points.shape[1:-1]:
        c *= s
    return batch.repeat_interleave(c)


@dataclass
class PCA:
    """Eigen-decomposition of per-sample normalized covariances, ascending eigenvalues.

    Attributes:
        basis: eigenvectors as columns ``(B, d, d)`` (identity for empty samples: one
            fully degenerate cluster, for :func:`randomize_degenerate` to make Haar-random).
        eigenvalues: eigenvalues of ``C / tr C`` ``(B, d)`` (sum 1; zeros without spread).
        cluster: eigenvalue cluster of each eigenvector ``(B, d)`` long (equal = degenerate).
        rel_gap: smallest relative gap ``(lambda_{i+1} - lambda_i) / lambda_max`` ``(B,)``
            (``1`` when ``d = 1``).
        degenerate: ``(B,)`` bool: some cluster has more than one eigenvector, or the sample
            is empty. These samples are equivariant in distribution only (``flagged``).
        empty: ``(B,)`` bool: no valid point.
        any_degenerate: ``degenerate.any()`` as a Python bool, read once by :func:`pca` so that
            callers branch on it without a reduction of their own.
    """

    basis: Tensor
    eigenvalues: Tensor
    cluster: Tensor
    rel_gap: Tensor
    degenerate: Tensor
    empty: Tensor
    any_degenerate: bool = True


def pca(moments: Moments, tol: float = 1e-3) -> PCA:
    """Eigenbasis of the normalized covariance ``C / tr C``, with clusters of repeated eigenvalues.

    Consecutive eigenvalues are in one cluster when their gap is below ``tol`` times the
    largest. A sample whose spread is zero (``tr C <= 1e-12 mean |x|^2``: a single point or
    coincident points) or no point at all (an empty sample, identity basis) is one fully
    degenerate cluster.

    The basis is differentiable in the moments for non-degenerate samples and detached for
    degenerate ones (see the module docs), so gradients are finite everywhere.

    Cost: one batched ``eigh`` and one reduction read on the host (``any_degenerate``); when no
    sample is degenerate (the common batch) the empty/flat corrections are skipped, with the
    same values as the general path.
    """
    cov = moments.cov
    b, d = cov.shape[0], cov.shape[-1]
    tr, flat = moments.trace, moments.flat
    empty = moments.count <= 0 if moments.count is not None else torch.zeros_like(flat)
    safe_tr = torch.where(flat, 1.0, tr)[:, None, None]
    normed = torch.where(flat[:, None, None], 0.0, cov / safe_tr)
    # eigh reads the lower triangle only: that of a symmetric covariance, no symmetrizing needed
    with torch.no_grad():
        lam, q = torch.linalg.eigh(normed.detach())
    ref = lam[:, -1:].clamp_min(torch.finfo(lam.dtype).tiny)
    gaps = lam.diff(dim=1) / ref
    if d > 1:
        split = (gaps >= tol) & ~(flat | empty)[:, None]
        degenerate = ~split.all(1) | empty  # flat and empty samples have no split: degenerate
    else:
        split = gaps >= tol  # (B, 0)
        degenerate = empty
    grad = normed.requires_grad and torch.is_grad_enabled()
    any_degenerate = b > 0 and bool(degenerate.any())
    if not any_degenerate:  # no empty, flat or repeated-eigenvalue sample: nothing to correct
        cluster = torch.arange(d, device=cov.device).expand(b, d)
        rel_gap = gaps.amin(1) if d > 1 else torch.where(flat, 0.0, torch.ones_like(tr))
        if grad:  # the same eigh, recorded: every sample is smooth
            lam, q = torch.linalg.eigh(normed)
        return PCA(q, lam, cluster, rel_gap, degenerate, empty, False)
    eye = torch.eye(d, dtype=cov.dtype, device=cov.device).expand(b, d, d)
    q = torch.where(empty[:, None, None], eye, q)
    cluster = torch.nn.functional.pad(split.long(), (1, 0)).cumsum(1)
    rel_gap = gaps.amin(1) if d > 1 else torch.ones_like(tr)
    rel_gap = torch.where(flat, torch.zeros_like(rel_gap), rel_gap)
    if grad:
        # differentiate only where eigenvalues are distinct: eigh again, same values there
        smooth = ~degenerate
        spaced = torch.diag_embed(torch.arange(1.0, d + 1, dtype=cov.dtype, device=cov.device))
        lam_g, q_g = torch.linalg.eigh(torch.where(smooth[:, None, None], normed, spaced))
        q = torch.where(smooth[:, None, None], q_g, q)
        lam = torch.where(smooth[:, None], lam_g, lam)
    return PCA(q, lam, cluster, rel_gap, degenerate, empty, True)


def haar_blocks(
    cluster: Tensor, k: int, generator: torch.Generator | None = None, *,
    gaussian: Tensor | None = None,
) -> Tensor:
    """Block-diagonal orthogonal matrices: Haar on O(m) for each cluster of size m > 1, 1 else.

    ``k`` independent draws per sample. Built by QR of a Gaussian matrix masked to the blocks
    (QR keeps the block structure) with the Mezzadri sign fix.

    Args:
        cluster: eigenvalue cluster labels; equal labels form one block.
        k: draws per sample.
        generator: random source of the Gaussian matrix.
        gaussian: the standard normal ``(B, k, d, d)`` float64 draws to use instead (callers
            with their own random streams, e.g. per-sample streams at evaluation).

    Shapes:
        cluster: ``(B, d)`` long; returns ``(B, k, d, d)`` float64.
    """
    b, d = cluster.shape
    same = cluster[:, :, None] == cluster[:, None, :]
    size = same.sum(-1)
    single = size == 1
    if gaussian is not None:
        z = gaussian.to(device=cluster.device, dtype=torch.float64)
    else:
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
    h = haar_blocks(cluster, k, generator).to(basis.dtype)  # identity where not degenerate
    return torch.where(degenerate[:, None, None, None], basis.detach()[:, None] @ h, out)


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
