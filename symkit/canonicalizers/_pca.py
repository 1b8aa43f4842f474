"""PCA canonicalization for O(d), SO(d), E(d), SE(d): principal axes with third-moment signs.

``h(x) = (Q diag(s), c)``: ``c`` the centroid (``0`` for O(d)/SO(d)), ``Q`` the eigenbasis of
the covariance, and ``s_i = sign(m_i)`` with the third moment ``m_i = sum_j (q_i . (x_j - c))^3``
of each axis; ``m_i`` flips with ``q_i``, so ``h(g x) = g h(x)`` exactly when the eigenvalues
are distinct and every ``|m_i|`` is clearly non-zero.

Fallbacks (equivariant in distribution): a degenerate eigenspace gets a Haar-random basis
(:func:`symkit.symmetrizers._frames.randomize_degenerate`); an axis whose
``|m_i| <= sign_tol * sum_j |q_i . (x_j - c)|^3`` gets a random sign. For SO(d)/SE(d) the
determinant fixes one sign: that of an ambiguous axis if there is one (which keeps it exact),
else that of the axis whose third moment is relatively smallest (an invariant choice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from symkit.canonicalizers._base import Canonicalizer
from symkit.groups import Group, Translation
from symkit.ops.scatter import scatter_sum
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._batching import batch_layout
from symkit.symmetrizers._frames import (
    flatten_batch,
    flatten_points,
    pca,
    point_moments,
    randomize_degenerate,
)
from symkit.symmetrizers._geometry import (
    has_translation,
    is_pca_group,
    make_element,
    point_field,
    proper_only,
    vector_fields,
)

__all__ = ["PCACanonicalizer", "third_moments"]


def third_moments(
    points: Tensor, center: Tensor, basis: Tensor, *, mask: Tensor | None = None,
    batch: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``m_i = sum_j p_ji^3`` and ``a_i = sum_j |p_ji|^3`` with ``p_j = basis^T (x_j - c)``.

    Shapes:
        points: ``(B, N, d)`` or ragged ``(total, d)`` with ``batch``; center ``(B, d)``;
        basis ``(B, d, d)``; returns two ``(B, d)`` float64 tensors.
    """
    if batch is None and mask is None:  # unmasked dense points: one batched matmul
        b, d = points.shape[0], points.shape[-1]
        x = points.detach().to(torch.float64).reshape(b, -1, d)
        p3 = torch.bmm(x - center[:, None], basis) ** 3
        return p3.sum(1), p3.abs().sum(1)
    x, w = flatten_points(points, mask, batch)
    if batch is None:
        p = torch.einsum("bni,bij->bnj", x - center[:, None], basis)
        return (w[..., None] * p**3).sum(1), (w[..., None] * p.abs() ** 3).sum(1)
    batch = flatten_batch(points, batch)
    p = torch.einsum("ni,nij->nj", x - center[batch], basis[batch])
    b = center.shape[0]
    return scatter_sum(p**3, batch, b), scatter_sum(p.abs() ** 3, batch, b)


class PCACanonicalizer(Canonicalizer):
    """``h(x) = (Q diag(s), c)`` from principal axes and third-moment signs (see module docs).

    Args:
        group: O(d), SO(d), E(d) or SE(d).
        in_spec: input spec.
        field: the point field (default: the first ``point`` field).
        extra_fields: vector fields whose second moments are added to the covariance.
        degeneracy_tol: relative eigen-gap below which eigenvalues count as repeated.
        sign_tol: relative third moment below which an axis sign is ambiguous.
        generator: random source for the fallbacks.
    """

    def __init__(
        self, group: Group, in_spec: Spec, *, field: str | None = None,
        extra_fields: Sequence[str] = (), degeneracy_tol: float = 1e-3, sign_tol: float = 1e-6,
        generator: torch.Generator | None = None,
    ):
        super().__init__(group, in_spec)
        self.field = point_field(in_spec, field)
        self.extra_fields = tuple(extra_fields)
        self.degeneracy_tol, self.sign_tol, self.generator = degeneracy_tol, sign_tol, generator

    @classmethod
    def supports(cls, group: Group) -> bool:
        return is_pca_group(group) and not isinstance(group, Translation)

    def forward(self, sample: Mapping[str, Tensor]) -> Tensor:
        layout = batch_layout(sample, self.in_spec)
        points, mask = sample[self.field], sample.get("mask")
        mom = point_moments(
            points, center=has_translation(self.group), mask=mask, batch=layout.batch,
            num_graphs=layout.size, extra=vector_fields(sample, self.extra_fields),
        )
        frame = pca(mom, self.degeneracy_tol)
        basis = randomize_degenerate(frame.basis, frame.cluster, 1, self.generator)[:, 0]
        m3, a3 = third_moments(points, mom.center, basis, mask=mask, batch=layout.batch)
        m3_abs = m3.abs()
        ambiguous = m3_abs <= self.sign_tol * a3
        s = torch.sign(m3)
        any_ambiguous = bool(ambiguous.any())
        if any_ambiguous:  # random signs only where the third moment cannot decide
            coin = torch.randint(
                0, 2, m3.shape, generator=self.generator,
                device=self.generator.device if self.generator is not None else None,
            ).to(m3.device)
            s = torch.where(ambiguous, 2.0 * coin.to(m3.dtype) - 1.0, s)
        if proper_only(self.group):
            reliability = m3_abs / a3
            if any_ambiguous:
                reliability = torch.where(ambiguous, torch.full_like(m3, -1.0), reliability)
            flip_axis = reliability.argmin(-1)
            det = torch.linalg.det(basis) * s.prod(-1)
            flip = torch.nn.functional.one_hot(flip_axis, s.shape[-1]).bool() & (det < 0)[:, None]
            s = torch.where(flip, -s, s)
        if mom.center.shape[0]:  # reduced only when someone reads them
            self._metrics = {
                "degenerate_fraction": lambda d=frame.degenerate: d.double().mean(),
                "min_relative_gap": lambda r=frame.rel_gap: r.min(),
                "ambiguous_sign_fraction": lambda a=ambiguous: a.any(-1).double().mean(),
            }
        else:
            self._metrics = {"degenerate_fraction": 0.0, "min_relative_gap": 1.0,
                             "ambiguous_sign_fraction": 0.0}
        return make_element(self.group, basis * s[:, None, :], mom.center)


@register("canonicalizers", "pca")
def pca_canonicalizer(
    group: Group, in_spec: Spec, *, field: str | None = None, extra_fields: list[str] = (),
    degeneracy_tol: float = 1e-3, sign_tol: float = 1e-6,
) -> PCACanonicalizer:
    """O(d)/SO(d)/E(d)/SE(d): principal axes of the points, signs from third moments."""
    return PCACanonicalizer(
        group, in_spec, field=field, extra_fields=extra_fields, degeneracy_tol=degeneracy_tol,
        sign_tol=sign_tol,
    )


pca_canonicalizer.supports = PCACanonicalizer.supports
