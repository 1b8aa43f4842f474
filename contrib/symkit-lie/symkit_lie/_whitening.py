"""Whitening canonicalization for GL+(n), SL(n) and Aff+(n): the polar decomposition of a frame.

For points ``x_j`` (weights ``w_j``, summing to one):

1. ``c = sum_j w_j x_j`` for Aff+(n) (``0`` for the linear groups); ``y_j = x_j - c``.
2. ``Sigma = sum_j w_j y_j y_j^T`` and its symmetric square root ``P = Sigma^(1/2)`` (the
   positive-definite factor); ``z_j = P^-1 y_j`` are whitened (covariance ``I``).
3. The whitened points are determined up to a rotation only, which is fixed as in PCA but on
   a fourth moment: ``Q`` holds the eigenvectors of ``K = sum_j w_j |z_j|^2 z_j z_j^T``, each
   signed by its third moment ``m_i = sum_j w_j (q_i . z_j)^3``; if ``det(Q) < 0`` the axis
   with the relatively smallest ``|m_i|`` is flipped, so ``Q`` is in SO(n).
4. ``h(x) = (P Q, c)``; for SL(n), ``P Q / det(P)^(1/n)``.

Why it is equivariant: for ``g = (A, t)``, ``Sigma' = A Sigma A^T``, so ``P' = A P O`` for an
orthogonal ``O`` (two square roots of the same matrix differ by one), ``det O = 1`` since
``det A > 0``, and ``z'_j = O^T z_j``; then ``K' = O^T K O``, ``Q' = O^T Q`` (the signs follow
the points), and ``h(g x) = (A P O O^T Q, A c + t) = g h(x)``. For SL(n), ``det Sigma`` is
invariant so the normalization is too. Exact for generic inputs (at least ``n + 1`` points in
general position, distinct eigenvalues of ``K``, non-zero third moments); otherwise the
sample is flagged (``degenerate_fraction``) and the output is not equivariant.

This is the polar decomposition ``A = R P`` used by Mironenco and Forré (2024) applied to the
data's own frame: the positive-definite factor comes from the second moment, the compact
factor from higher moments.

Cost: no backbone call; ``O(N n^2 + n^3)`` per sample.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from symkit.canonicalizers import Canonicalizer
from symkit.errors import ConfigError
from symkit.groups import Group
from symkit.reps import Vector
from symkit.spec import Spec
from symkit_lie._groups import Affine, GeneralLinear, _homogeneous

__all__ = ["WhiteningCanonicalizer", "whitening"]


def _sym_sqrt(sigma: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``Sigma^(1/2)``, ``Sigma^(-1/2)`` and the smallest relative eigenvalue."""
    lam, v = torch.linalg.eigh(sigma)
    rel = lam[:, 0] / lam[:, -1].clamp_min(torch.finfo(lam.dtype).tiny)
    lam = lam.clamp_min(eps * lam[:, -1:].clamp_min(torch.finfo(lam.dtype).tiny))
    root = v * lam.sqrt()[:, None, :]
    return root @ v.transpose(1, 2), (v / lam.sqrt()[:, None, :]) @ v.transpose(1, 2), rel


class WhiteningCanonicalizer(Canonicalizer):
    """``h(x) = (Sigma^(1/2) Q, c)``: centre, whiten, fix the rotation (see module docs).

    Args:
        group: GL+(n), SL(n) or Aff+(n) (:class:`~symkit_lie._groups.GeneralLinear`).
        in_spec: input spec.
        field: the point (or vector) node field (default: the first such field).
        mask: name of an optional ``(B, N)`` bool field marking real points.
        degeneracy_tol: relative eigen-gap of ``K``, relative third moment and relative
            smallest eigenvalue of ``Sigma`` below which a sample is flagged.

    Shapes:
        ``sample[field]``: ``(B, N, n)``; returns ``(B, n, n)`` (``(B, n+1, n+1)`` for Aff+(n))
        float64.
    """

    def __init__(self, group: Group, in_spec: Spec, *, field: str | None = None,
                 mask: str = "mask", degeneracy_tol: float = 1e-6):
        super().__init__(group, in_spec)
        if field is None:
            field = next((n for n, f in in_spec.items()
                          if f.nodes and isinstance(f.rep, Vector)), None)
        if field is None or field not in in_spec:
            raise ConfigError("canonicalizer.field", f"no point or vector node field in the "
                              f"in_spec {in_spec!r}")
        self.field, self.mask, self.degeneracy_tol = field, mask, degeneracy_tol

    @classmethod
    def supports(cls, group: Group) -> bool:
        return isinstance(group, GeneralLinear)

    def forward(self, sample: Mapping[str, Tensor]) -> Tensor:
        x = sample[self.field].to(torch.float64)
        w = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
        if self.mask in sample:
            w = w * sample[self.mask].to(x.dtype)
        w = w / w.sum(1, keepdim=True).clamp_min(1.0)
        affine = isinstance(self.group, Affine)
        c = (w[..., None] * x).sum(1) if affine else x.new_zeros(x.shape[0], x.shape[-1])
        y = x - c[:, None]
        sigma = torch.einsum("bn,bni,bnj->bij", w, y, y)
        root, inv_root, rel_min = _sym_sqrt(sigma, self.degeneracy_tol**2)
        z = y @ inv_root  # inv_root is symmetric: z_j = Sigma^(-1/2) y_j
        k = torch.einsum("bn,bni,bnj->bij", w * (z * z).sum(-1), z, z)
        lam, q = torch.linalg.eigh(k)
        p = z @ q
        m3 = (w[..., None] * p**3).sum(1)
        a3 = (w[..., None] * p.abs() ** 3).sum(1).clamp_min(torch.finfo(x.dtype).tiny)
        s = torch.where(m3 < 0, -1.0, 1.0).to(x.dtype)
        reliability = m3.abs() / a3
        wrong = (torch.linalg.det(q) * s.prod(-1) < 0)[:, None]
        weakest = torch.nn.functional.one_hot(reliability.argmin(-1), x.shape[-1]).bool()
        s = torch.where(weakest & wrong, -s, s)
        linear = root @ (q * s[:, None, :])
        if self.group.special:
            linear = linear / torch.linalg.det(root).clamp_min(
                torch.finfo(x.dtype).tiny)[:, None, None] ** (1.0 / x.shape[-1])
        gap = (lam[:, 1:] - lam[:, :-1]).amin(-1, keepdim=True) if x.shape[-1] > 1 else lam
        rel_gap = (gap / lam.abs().amax(-1, keepdim=True).clamp_min(1e-300))[:, 0]
        tol = self.degeneracy_tol
        self.flagged = (rel_min < tol) | (rel_gap < tol) | (reliability.amin(-1) < tol)
        self._metrics = {"degenerate_fraction": lambda f=self.flagged: f.double().mean()
                         if f.numel() else 0.0}
        return _homogeneous(linear, c) if affine else linear


def whitening(group: Group, in_spec: Spec, *, field: str | None = None, mask: str = "mask",
              degeneracy_tol: float = 1e-6) -> WhiteningCanonicalizer:
    """GL+(n)/SL(n)/Aff+(n): centre, whiten by the covariance, fix the rotation by moments.

    Args:
        field: the point (or vector) node field (default: the first such field).
        mask: name of an optional ``(B, N)`` bool field marking real points.
        degeneracy_tol: relative gap/moment below which a sample is flagged as degenerate.
        group, in_spec: filled from the model's context.
    """
    return WhiteningCanonicalizer(group, in_spec, field=field, mask=mask,
                                  degeneracy_tol=degeneracy_tol)


whitening.supports = WhiteningCanonicalizer.supports
