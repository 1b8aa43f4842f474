"""PCA canonicalization for O(d), SO(d), E(d), SE(d): principal axes with third-moment signs.

``h(x) = (Q diag(s), c)``: ``c`` the centroid (``0`` for O(d)/SO(d)), ``Q`` the eigenbasis of
the covariance (:func:`symkit.symmetrizers._frames.pca`), and ``s_i = sign(m_i)`` with the third
moment ``m_i = 1/n sum_j (q_i . (x_j - c))^3`` of each axis; ``m_i`` flips with ``q_i``, so
``h(g x) = g h(x)`` exactly when the eigenvalues are distinct and every ``m_i`` is clearly
non-zero.

**When a sign is ambiguous.** Axis ``i`` is ambiguous when ``|m_i| <= tol * r`` with
``r = 1/n sum_j |x_j - c|^3``: the comparison scale is the whole point set's (rotation
invariant, never noise), so the ambiguity test and ``ambiguous_sign_fraction`` are invariant.
This happens exactly where the input (nearly) has a mirror symmetry across that axis: the
out-of-plane axis of a planar molecule, the normal of ethanol's mirror plane, etc.

* SO(d)/SE(d): ``det = +1`` fixes one sign from the others. The least reliable axis (smallest
  ``|m_i| / r``, an invariant choice; an ambiguous axis when there is one) always takes its sign
  from the determinant, so one ambiguous axis is resolved **exactly** (planar molecules, one
  mirror plane). Only a second ambiguous axis gets a random sign.
* O(d)/E(d): a mirror symmetry of the input is itself in the group, and no single element can be
  equivariant at such an input (``h(sigma x) = h(x)`` but ``sigma h(x) != h(x)``).

The remaining undecided axes (a second mirror for SO(d), any for O(d)) are handled by
``ambiguous``: ``"average"`` (default) returns every completion of their signs (``2^a``
elements, :meth:`PCACanonicalizer.elements`), which the ``canonicalization`` symmetrizer
averages like a frame: **exact** (water, ethanol and formic acid under O(3) included), at the
cost of ``K = 2^a`` backbone copies for the batch when some sample has ``a`` undecided axes.
``"random"`` (and a plain call ``h(x)``) draws them: one element, those samples ``flagged``.
When the mirror fixes every point (a flat axis: planar input) both choices give the same
canonical input, so invariant outputs are exact either way.

**Degenerate eigenspaces.** No single element can be equivariant at an input with a
non-trivial stabilizer (methane, benzene, SF6). With ``ambiguous="average"``,
:meth:`PCACanonicalizer.elements` returns, for a degenerate sample whose stabilizer is finite,
its finite symmetric frame set (:mod:`symkit.symmetrizers._symmetric_frames`, Lin et al. 2024):
**exact** and deterministic, at ``|F|`` copies (12 for methane under SO(3)). Otherwise (a plain
call ``h(x)``, ``ambiguous="random"``, a linear molecule or a single point) the eigenspace gets
a Haar-random basis. Samples with a Haar-completed eigenspace or no points (and, with random
signs, an undecided sign) are ``flagged``: equivariant in distribution only.

**Gradient.** ``c`` and ``Q`` carry the gradient of the points (distinct eigenvalues; detached
for degenerate samples, so gradients stay finite); signs are piecewise constant. The gradient
of an invariant output is then that of ``backbone(h(x)^-1 x)`` with ``h`` differentiable, i.e.
exact forces away from sign switches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from symkit.canonicalizers._base import Canonicalizer
from symkit.groups import Group, Translation
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._batching import batch_layout, check_finite
from symkit.symmetrizers._frames import (
    dtype_tol,
    gap_tol,
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
from symkit.symmetrizers._signs import third_moments
from symkit.symmetrizers._symmetric_frames import resolve_degenerate

__all__ = ["PCACanonicalizer", "third_moments"]


class PCACanonicalizer(Canonicalizer):
    """``h(x) = (Q diag(s), c)`` from principal axes and third-moment signs (see module docs).

    Args:
        group: O(d), SO(d), E(d) or SE(d).
        in_spec: input spec.
        field: the point field (default: the first ``point`` field).
        extra_fields: vector fields whose second moments are added to the covariance.
        degeneracy_tol: relative eigen-gap below which eigenvalues count as repeated.
        sign_tol: third moment (relative to the set's ``1/n sum |x - c|^3``) below which an
            axis sign is ambiguous. Both tolerances are raised to 8 rounding units of the
            input dtype when that is larger.
        ambiguous: ``"average"``: :meth:`elements` returns every completion of the undecided
            signs (exact); ``"random"``: one random completion (flagged).
        generator: random source for the fallbacks.

    Shapes:
        forward: sample with ``B`` samples -> ``B`` elements (float64); :meth:`elements`:
        ``B * K`` elements and weights ``(B, K)``.

    Raises:
        SampleError: a sample's points hold a NaN or Inf (names the sample and field).
    """

    def __init__(
        self, group: Group, in_spec: Spec, *, field: str | None = None,
        extra_fields: Sequence[str] = (), degeneracy_tol: float = 1e-3, sign_tol: float = 1e-6,
        ambiguous: str = "average", generator: torch.Generator | None = None,
    ):
        super().__init__(group, in_spec)
        if ambiguous not in ("average", "random"):
            raise ValueError(f"ambiguous must be 'average' or 'random', got {ambiguous!r}")
        self.field = point_field(in_spec, field)
        self.extra_fields = tuple(extra_fields)
        self.degeneracy_tol, self.sign_tol, self.generator = degeneracy_tol, sign_tol, generator
        self.ambiguous = ambiguous

    @classmethod
    def supports(cls, group: Group) -> bool:
        return is_pca_group(group) and not isinstance(group, Translation)

    def forward(self, sample: Mapping[str, Tensor]) -> Tensor:
        """One element per sample: undecided signs drawn at random (those samples flagged)."""
        basis, s, undecided, fixed, center, frame = self._decide(sample)
        if bool(undecided.any()):  # random signs only where nothing can decide
            coin = torch.randint(
                0, 2, s.shape, generator=self.generator,
                device=self.generator.device if self.generator is not None else None,
            ).to(s.device)
            s = torch.where(undecided, 2.0 * coin.to(s.dtype) - 1.0, s)
        self._finish(frame, undecided, averaged=False)
        s = _proper(basis, s, fixed)
        return make_element(self.group, basis * s[:, None, :], center)

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """With ``ambiguous="average"``: every completion of the undecided signs, uniformly.

        A sample with ``a`` undecided axes gets ``2^a`` elements; ``K`` is the batch's largest
        ``2^a`` (1 when every sign is decided) and the extra slots get weight 0. The set moves
        with the input, so the average is exact, also at mirror-symmetric inputs.
        """
        if self.ambiguous == "random":
            return super().elements(sample)
        basis, s, undecided, fixed, center, frame = self._decide(sample)
        count = undecided.sum(-1)
        b, d = s.shape
        k = 1 << int(count.max()) if b else 1
        if k == 1:  # every sign decided: one element per sample, weight 1
            weights = s.new_ones(b, 1)
            rot = basis[:, None] * _proper(basis, s, fixed)[:, None, None, :]
        else:
            rank = (undecided.cumsum(-1) - 1).clamp_min(0)  # position among the undecided axes
            slot = torch.arange(k, device=s.device)
            bit = (slot[None, :, None] >> rank[:, None, :]) & 1  # (B, K, d)
            signs = torch.where(undecided[:, None], 1.0 - 2.0 * bit.to(s.dtype), s[:, None])
            signs = _proper(basis[:, None], signs, None if fixed is None else fixed[:, None])
            weights = (slot[None] < (1 << count)[:, None]).to(s.dtype)
            weights = weights / weights.sum(-1, keepdim=True)
            rot = basis[:, None] * signs[..., None, :]
        resolved = None
        if frame.any_degenerate:
            layout = batch_layout(sample, self.in_spec)
            rot, weights, resolved = resolve_degenerate(
                sample, self.field, self.in_spec, layout, center, frame, rot, weights,
                proper=proper_only(self.group), tol=gap_tol(self.degeneracy_tol,
                                                            sample[self.field].dtype))
            k = rot.shape[1]
        self._finish(frame, undecided, averaged=True, resolved=resolved)
        rot = rot.reshape(b * k, d, d)
        return make_element(self.group, rot, center if k == 1 else
                            center.repeat_interleave(k, dim=0)), weights

    def _decide(self, sample: Mapping[str, Tensor]):
        """Basis, decided signs ``s``, undecided axes ``(B, d)``, the axis ``det = +1`` fixes
        (``(B, d)`` one-hot, ``None`` for O(d)/E(d)), centre and the PCA."""
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, (self.field, *self.extra_fields), layout)
        points, mask = sample[self.field], sample.get("mask")
        mom = point_moments(
            points, center=has_translation(self.group), mask=mask, batch=layout.batch,
            num_graphs=layout.size, extra=vector_fields(sample, self.extra_fields),
        )
        frame = pca(mom, gap_tol(self.degeneracy_tol, points.dtype))
        basis = frame.basis
        if frame.any_degenerate:
            basis = randomize_degenerate(basis, frame.cluster, 1, self.generator)[:, 0]
        m3, r = third_moments(points, mom.center, basis, mask=mask, batch=layout.batch,
                              spread=mom.spread, points64=mom.points)
        undecided = m3.abs() <= dtype_tol(self.sign_tol, points.dtype) * r[:, None]
        s = torch.where(m3 < 0, -1.0, torch.ones_like(m3))
        fixed = None
        if proper_only(self.group):  # the least reliable axis takes its sign from det = +1
            reliability = m3.abs() / r.clamp_min(1e-300)[:, None]
            fixed = torch.nn.functional.one_hot(reliability.argmin(-1), s.shape[-1]).bool()
            undecided &= ~fixed
        if frame.any_degenerate:  # empty samples: a Haar-random basis (pca), signs +1
            undecided &= ~frame.empty[:, None]
            s = torch.where(frame.empty[:, None], torch.ones_like(s), s)
        return basis, s, undecided, fixed, mom.center, frame

    def _finish(self, frame, undecided: Tensor, *, averaged: bool,
                resolved: Tensor | None = None) -> None:
        """Set ``flagged`` and the metrics of the last call (``resolved``: degenerate samples
        given their finite symmetric frame set, exact)."""
        ambiguous = undecided.any(-1)
        degenerate = frame.degenerate if resolved is None else frame.degenerate & ~resolved
        self.flagged = degenerate if averaged else degenerate | ambiguous
        if len(ambiguous):  # reduced only when someone reads them
            self._metrics = {
                "degenerate_fraction": lambda d=degenerate: d.double().mean(),
                "symmetric_fraction": (0.0 if resolved is None
                                       else lambda r=resolved: r.double().mean()),
                "min_relative_gap": lambda r=frame.rel_gap: r.min(),
                "ambiguous_sign_fraction": lambda a=ambiguous: a.double().mean(),
                "flagged_fraction": lambda f=self.flagged: f.double().mean(),
            }
        else:
            self._metrics = {"degenerate_fraction": 0.0, "symmetric_fraction": 0.0,
                             "min_relative_gap": 1.0,
                             "ambiguous_sign_fraction": 0.0, "flagged_fraction": 0.0}


def _proper(basis: Tensor, s: Tensor, fixed: Tensor | None) -> Tensor:
    """SO(d)/SE(d): flip the ``fixed`` axis where ``det(basis diag(s)) = -1`` (O(d): ``s``).

    Shapes:
        basis ``(..., d, d)``, s ``(..., d)``, fixed ``(..., d)`` bool, broadcastable.
    """
    if fixed is None:
        return s
    det = torch.linalg.det(basis.detach()) * s.prod(-1)
    return torch.where(fixed & (det < 0)[..., None], -s, s)


@register("canonicalizers", "pca")
def pca_canonicalizer(
    group: Group, in_spec: Spec, *, field: str | None = None, extra_fields: list[str] = (),
    degeneracy_tol: float = 1e-3, sign_tol: float = 1e-6, ambiguous: str = "average",
) -> PCACanonicalizer:
    """O(d)/SO(d)/E(d)/SE(d): principal axes of the points, signs from third moments."""
    return PCACanonicalizer(
        group, in_spec, field=field, extra_fields=extra_fields, degeneracy_tol=degeneracy_tol,
        sign_tol=sign_tol, ambiguous=ambiguous,
    )
