"""Invariant initial representations: classical multidimensional scaling (MDS) coordinates.

From the squared distances ``D_ij = |x_i - x_j|^2`` of a point set, ``B = -1/2 J D J``
(``J = I - 11^T / N``) is the Gram matrix of the centred points; its top ``d`` eigenpairs give
coordinates ``Y = U sqrt(Lambda)`` with ``Y Y^T = B``. ``D`` is invariant under E(d), so ``Y``
is determined up to ``Y -> Y Q`` with ``Q`` in O(d); for distinct eigenvalues only the sign of
each axis is left. The sign rule ``sum_i Y_ic^3 > 0`` (third moment along each axis) fixes it,
so the coordinates are **invariant** under E(d) and **equivariant** under permutations of the
points. With ``normalize_scale`` they are divided by their RMS radius, which makes them
invariant to scaling too.

Design: ``mds_invariant`` is canonicalization by the MDS frame (registry ``symmetrizers``).
Since ``B = X_c X_c^T`` for the centred points ``X_c``, the top ``d`` eigenvectors of ``B`` are
``X_c Q`` up to scale, with ``Q`` the eigenbasis of the ``d x d`` covariance ``X_c^T X_c / N``:
the MDS coordinates are ``Y = (x - c) Q`` with the third-moment signs, so ``h(x) = (Q, c)`` is an
equivariant element, ``h^-1 . x = Y`` is what the backbone reads, and equivariant outputs are
mapped back by ``h`` (any output spec works). Working with the ``d x d`` covariance, never the
``N x N`` Gram matrix, is what makes rank-deficient inputs (planar, linear, a single atom) as
easy as generic ones: nothing is inverted. Groups without translations (O(d), SO(d)) use only
``Q`` (the backbone then sees ``Q^T x``, also invariant).

**Degenerate inputs** (see :func:`mds_frame`): a repeated eigenvalue (benzene, methane, CO2)
leaves its eigenspace without a preferred basis, and a vanishing third moment (any mirror
symmetry) leaves an axis without a preferred sign. For SO(d)/SE(d) one free sign is fixed by
``det Q = +1``, which keeps planar and mirror-symmetric molecules exact; every other free choice
is drawn at random (Haar basis of the eigenspace, random sign), which is equivariant in
distribution, and the sample is flagged (:attr:`MDSInvariant.flagged`, metric
``degenerate_fraction``). The result is always orthogonal.

**Gradient.** The frame carries gradients: on inputs without a repeated eigenvalue, ``Q`` and
``c`` are smooth functions of the positions, so the forces of an invariant output are exact. On
inputs with a repeated eigenvalue the frame is held fixed (its gradient is zero, the force is
that of the backbone in the fixed frame): finite, never NaN.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Group
from symkit.groups._euclidean import homogeneous
from symkit.registry import register
from symkit.reps._point import Point
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import batch_layout, data_dtype
from symkit.symmetrizers._frames import haar_blocks as frame_haar_blocks
from symkit.symmetrizers.learned._inputs import (
    KeyedSource,
    check_finite,
    degeneracy_tol,
    find_field,
    gaussian,
    is_matrix_group,
    point_batch,
    sign_tol,
    uniform,
)

__all__ = ["mds_coordinates", "mds_frame", "haar_blocks", "MDSInvariant", "mds_invariant"]


def haar_blocks(cluster: Tensor, generator: torch.Generator | KeyedSource | None = None, *,
                free: Tensor | None = None) -> Tensor:
    """One draw of :func:`symkit.symmetrizers._frames.haar_blocks` per sample, from a generator
    or a per-sample :class:`KeyedSource` stream.

    A block of size ``m > 1`` is Haar on ``O(m)``; a single direction is kept (``1``) unless
    ``free`` marks it, where it is Haar on ``O(1)``: a fair random sign (the sign of its own
    unused diagonal Gaussian draw, so the streams are unchanged). A free single direction is a
    direction nothing determines, e.g. the one null direction of a rank ``d - 1`` polar factor
    (a mirror-symmetric input under O(d)): keeping it would copy an arbitrary SVD sign into the
    output and bias it.

    Shapes:
        cluster: ``(B, d)`` long; free: ``(B, d)`` bool; returns ``(B, d, d)`` float64.
    """
    b, d = cluster.shape
    z = gaussian(generator, b, d, d, device=cluster.device)
    h = frame_haar_blocks(cluster, 1, gaussian=z[:, None])[:, 0]
    if free is None:
        return h
    single = (cluster[:, :, None] == cluster[:, None, :]).sum(-1) == 1
    coin = torch.where(torch.diagonal(z, dim1=-2, dim2=-1) < 0, -1.0, 1.0).to(h.dtype)
    return h * torch.where(single & free.bool(), coin, torch.ones_like(coin))[:, None, :]


def mds_frame(pos: Tensor, *, proper: bool, mask: Tensor | None = None,
              tol: float | None = None, generator: torch.Generator | KeyedSource | None = None
              ) -> tuple[Tensor, Tensor, Tensor]:
    """The element ``(Q, c)`` with ``Q^T (x_i - c)`` the sign-fixed MDS coordinates of ``x_i``.

    Computed in float64 on normalized coordinates ``(x - c) / rho`` (``rho`` the RMS radius),
    so units do not change the precision: eigenvalues within ``tol`` of each other (the
    covariance has trace 1) form a degenerate eigenspace, and an axis whose third moment is at
    most ``sign_tol * sum_i |x_i - c|^3 / rho^3`` has no preferred sign. Points that
    coincide (``rho <= sign_tol * max |x_i|``), a single point and an empty set are fully
    degenerate. ``sign_tol`` is :func:`._inputs.sign_tol` of ``pos.dtype``.
    See the module docstring for what is random, what is flagged and what carries gradients.

    Args:
        pos: point positions (padded rows, if any, masked by ``mask``).
        proper: ``det Q = +1`` (SO(d), SE(d)).
        mask: valid points.
        tol: relative degeneracy threshold (default :func:`._inputs.degeneracy_tol` of
            ``pos.dtype``).
        generator: random source of the degenerate choices.

    Shapes:
        pos: ``(B, N, d)``; mask: ``(B, N)`` bool; returns ``Q: (B, d, d)``, ``c: (B, d)`` (both
        float64) and the flags ``(B,)`` bool.
    """
    tol = degeneracy_tol(pos.dtype) if tol is None else tol
    stol = sign_tol(pos.dtype)
    x = pos.to(torch.float64)
    b, n, d = x.shape
    w = (torch.ones(b, n, dtype=torch.bool, device=x.device) if mask is None else mask.bool())
    wf = w.to(x.dtype)
    count = wf.sum(1)
    c = (wf[..., None] * x).sum(1) / count.clamp_min(1.0)[:, None]
    xc = (x - c[:, None]) * wf[..., None]
    rho2 = (xc * xc).sum((1, 2)) / count.clamp_min(1.0)
    size = (x.detach().norm(dim=-1) * wf).amax(-1) if n else rho2.new_zeros(b)
    collapsed = (rho2.detach().sqrt() <= stol * size) | (count < 1)
    rho = torch.where(collapsed, torch.ones_like(rho2), rho2).sqrt()
    p = xc / rho[:, None, None]
    cov = p.transpose(1, 2) @ p / count.clamp_min(1.0)[:, None, None]
    lam = torch.linalg.eigvalsh(cov.detach()).flip(-1)  # descending
    split = (lam[:, :-1] - lam[:, 1:]) > tol
    cluster = torch.nn.functional.pad(split.long(), (1, 0)).cumsum(-1)
    cluster = torch.where(collapsed[:, None], torch.zeros_like(cluster), cluster)
    in_cluster = (cluster[:, :, None] == cluster[:, None, :]).sum(-1) > 1
    repeated = in_cluster.any(-1)
    # eigenvectors with gradients where the eigenvalues are distinct; elsewhere a constant
    # stand-in (no gradient path, so eigh's 1 / (lambda_i - lambda_j) never meets a tie)
    stand_in = torch.diag(torch.arange(d, 0, -1, dtype=x.dtype, device=x.device)) / d
    safe = torch.where(repeated[:, None, None], stand_in.expand_as(cov), cov)
    basis = torch.linalg.eigh(safe)[1].flip(-1)
    if bool(repeated.any()):
        fixed = torch.linalg.eigh(cov.detach())[1].flip(-1) @ haar_blocks(cluster, generator)
        basis = torch.where(repeated[:, None, None], fixed, basis)
    proj = p.detach() @ basis.detach()
    m3 = (wf[..., None] * proj.pow(3)).sum(1)
    a3 = (wf * p.detach().norm(dim=-1).pow(3)).sum(1)
    free = (m3.abs() <= stol * a3[:, None]) | in_cluster
    coin = torch.where(uniform(generator, b, d, device=x.device) < 0.5, -1.0, 1.0).to(x.dtype)
    s = torch.where(in_cluster, torch.ones_like(m3), torch.where(free, coin, torch.sign(m3)))
    if proper:
        det = torch.linalg.det(basis.detach()) * s.prod(-1)
        idx = torch.arange(d, device=x.device).expand(b, d)
        last_free = torch.where(free, idx, torch.full_like(idx, -1)).amax(-1)
        flip_at = torch.where(last_free >= 0, last_free, torch.full_like(last_free, d - 1))
        flip = torch.nn.functional.one_hot(flip_at, d).bool() & (det < 0)[:, None]
        s = torch.where(flip, -s, s)
        flagged = free.sum(-1) >= 2
    else:
        flagged = free.any(-1)
    return basis * s[:, None, :], c, flagged


def mds_coordinates(pos: Tensor, dim: int | None = None, *, normalize_scale: bool = False,
                    mask: Tensor | None = None, eps: float = 1e-12) -> Tensor:
    """Sign-fixed classical MDS coordinates ``Y = (x - c) Q`` of each point set (float64 math).

    ``Y Y^T = B = -1/2 J D J`` reproduces every pairwise distance; see :func:`mds_frame` for
    the degenerate inputs (random basis or sign there: invariant in distribution only).

    Args:
        pos: point positions.
        dim: number of coordinates (default: the space dimension ``d``).
        normalize_scale: divide by the RMS distance to the centroid.
        mask: valid points (padded rows come out as 0).

    Shapes:
        pos: ``(B, N, d)``; returns ``(B, N, dim)`` in ``pos.dtype``.
    """
    dim = dim or pos.shape[-1]
    q, c, _ = mds_frame(pos, proper=False, mask=mask)
    x = pos.to(torch.float64)
    y = (x - c[:, None]) @ q[..., :dim]
    if mask is not None:
        y = y * mask[..., None].to(y.dtype)
    if normalize_scale:
        count = y.new_full(y.shape[:1], y.shape[1]) if mask is None else mask.sum(1).to(y.dtype)
        rms = (y.pow(2).sum((1, 2)) / count.clamp_min(1.0)).sqrt()
        y = y / rms.clamp_min(eps)[:, None, None]
    return y.to(pos.dtype)


class MDSInvariant(Symmetrizer):
    """``h(x) . backbone(h(x)^-1 x)`` with ``h(x)^-1 x`` the sign-fixed MDS coordinates.

    Exact on inputs without symmetry, and on planar or mirror-symmetric ones for SO(d)/SE(d);
    flagged and equivariant in distribution on the others (see the module docstring). Dense,
    masked (``mask``) and ragged (``batch``) batches; padding is never read. A sample with a
    non-finite input raises :class:`~symkit.errors.SampleError`.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        field: the point field the frame is computed from (default: the first point field).
        tol: degeneracy threshold (default: :func:`._inputs.degeneracy_tol` of the input).
    """

    def __init__(self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
                 field: str | None = None, chunk_size: int | None = None,
                 tol: float | None = None):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if not self.supports(group):
            raise ConfigError(None, f"mds_invariant needs O(d)/SO(d)/E(d)/SE(d), got {group!r}")
        self.field = find_field(in_spec, Point, field)
        self.affine = "translation" in group.kinds
        self.proper = "reflection" not in group.kinds
        self.tol = tol
        self.generator: torch.Generator | KeyedSource | None = None

    @classmethod
    def supports(cls, group: Group) -> bool:
        return is_matrix_group(group)

    def num_elements(self) -> int:
        return 1

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        pos, mask = point_batch(sample, self.field, layout)
        q, c, flagged = mds_frame(pos, proper=self.proper, mask=mask, tol=self.tol,
                                  generator=self.generator)
        self.flagged = flagged
        self._metrics = {"degenerate_fraction": lambda f=flagged: (
            f.double().mean() if f.numel() else 0.0)}
        g = homogeneous(q, c) if self.affine else q
        dtype = data_dtype(sample, self.in_spec)
        return g, torch.ones(layout.size, 1, dtype=dtype, device=pos.device)


@register("symmetrizers", "mds_invariant")
def mds_invariant(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    field: str | None = None, chunk_size: int | None = None,
) -> MDSInvariant:
    """Canonicalize point sets to their sign-fixed MDS coordinates (E(d)-invariant input)."""
    return MDSInvariant(backbone, group, in_spec, out_spec, field=field, chunk_size=chunk_size)
