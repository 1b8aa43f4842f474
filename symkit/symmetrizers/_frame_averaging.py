"""Frame averaging: average over a small input-dependent set of elements, a *frame*.

A frame ``F(x)`` is a set of elements with ``F(g x) = g F(x)``; averaging
``g . backbone(g^-1 x)`` uniformly over it is exactly equivariant (Puny et al., 2022). Built in:

* **PCA frames** for O(d), SO(d), E(d), SE(d) and T(d) (:mod:`symkit.symmetrizers._frames`):
  ``{(Q diag(s), c)}`` over sign vectors ``s``; ``2^d`` elements for O(d)/E(d), ``2^(d-1)`` for
  SO(d)/SE(d), one (the centroid) for T(d). Degenerate eigenspaces get Haar-random bases,
  drawn independently for each frame slot (see the module docs of ``_frames``).
* **Sorting frames** for S_N (:mod:`symkit.symmetrizers._sorting`).

Stochastic frame averaging draws ``train_samples`` frame elements per sample (uniformly, with
replacement) while training, and uses the full frame at evaluation (or ``eval_samples`` draws
when set).

**Outcomes per sample.** Exact (to the dtype's precision) when the covariance eigenvalues are
distinct (planar molecules included: their reflection through the plane is in the frame) or
the sorting key has no ties; otherwise ``flagged`` (a degenerate eigenspace, a sample without
points, or tied keys with sampled tie-breaks) and equivariant in distribution. A sample with a
NaN/Inf raises :class:`~symkit.errors.SampleError` naming it.

**Gradient.** ``f`` is differentiable in the inputs *through the frame*: the frame elements
``(Q diag(s), c)`` carry the gradient of the centroid and of the eigenbasis (distinct
eigenvalues), so the gradient of an invariant output (an energy) is the exact derivative of the
averaged function, e.g. forces that sum to zero and rotate with the input. Flagged PCA samples
use a detached basis (finite gradients, of a frame held fixed). Sorting frames are piecewise
constant: their gradient is the backbone's through the permuted inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from symkit.groups import Group, Symmetric, Translation
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import batch_layout
from symkit.symmetrizers._frames import (
    gap_tol,
    pca,
    point_moments,
    randomize_degenerate,
    sign_vectors,
)
from symkit.symmetrizers._geometry import (
    has_translation,
    is_pca_group,
    make_element,
    point_field,
    proper_only,
    vector_fields,
)
from symkit.symmetrizers._sorting import sorting_frame

__all__ = ["FrameAveraging", "frame_averaging"]


class FrameAveraging(Symmetrizer):
    """``f(x) = 1/|F(x)| sum_{g in F(x)} g . backbone(g^-1 x)`` over a PCA or sorting frame.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        field: the point (or vector) field PCA frames use; default the first ``point`` field.
        extra_fields: vector fields whose second moments are added to the covariance (more
            robust frames when the positions alone are degenerate).
        key: S_N only: the scalar node field that sorting frames sort by (default: the first
            node field of the input spec, its first channel).
        stochastic: sample frame elements while training instead of using the whole frame.
        train_samples: frame elements per sample while training when ``stochastic``.
        eval_samples: frame elements per sample at evaluation when ``stochastic``
            (``None``: the whole frame).
        degeneracy_tol: relative eigen-gap below which eigenvalues count as repeated.
        max_ties: S_N: most tie-breaking permutations enumerated before sampling ``max_ties``.
        generator: random source for degenerate eigenspaces, ties and stochastic draws.
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        field: str | None = None, extra_fields: Sequence[str] = (), key: str | None = None,
        stochastic: bool = False, train_samples: int = 1, eval_samples: int | None = None,
        degeneracy_tol: float = 1e-3, max_ties: int = 24, chunk_size: int | str | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if not self.supports(group):
            raise ValueError(f"frame_averaging supports O(d), SO(d), E(d), SE(d), T(d), S_N; "
                             f"got {group!r}")
        self.sorting = isinstance(group, Symmetric)
        self.field = None if self.sorting else point_field(in_spec, field)
        self.key = key
        self.extra_fields = tuple(extra_fields)
        self.stochastic, self.train_samples, self.eval_samples = (
            stochastic, train_samples, eval_samples,
        )
        self.degeneracy_tol, self.max_ties, self.generator = degeneracy_tol, max_ties, generator

    @classmethod
    def supports(cls, group: Group) -> bool:
        return is_pca_group(group) or isinstance(group, Symmetric)

    @property
    def is_exact(self) -> bool:
        return self._draws() is None

    def _draws(self) -> int | None:
        """Frame elements drawn per sample in the current mode, ``None`` for the whole frame."""
        if not self.stochastic:
            return None
        return self.train_samples if self.training else self.eval_samples

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[object, Tensor]:
        if self.sorting:
            return self._sorting_elements(sample)
        layout = batch_layout(sample, self.in_spec)
        points = sample[self.field]
        mom = point_moments(
            points, center=has_translation(self.group), mask=sample.get("mask"),
            batch=layout.batch, num_graphs=layout.size,
            extra=vector_fields(sample, self.extra_fields),
        )
        b, d = mom.center.shape
        if isinstance(self.group, Translation):  # T(d): the frame is {centroid}
            self.flagged = mom.count <= 0
            self._metrics = {"degenerate_fraction": _fraction(self.flagged)}
            return make_element(self.group, None, mom.center), mom.center.new_ones(b, 1)
        frame = pca(mom, gap_tol(self.degeneracy_tol, points.dtype))
        self.flagged = frame.degenerate
        degenerate = bool(frame.degenerate.any()) if b else False
        self._metrics = {
            "degenerate_fraction": _fraction(frame.degenerate) if degenerate else 0.0,
            "min_relative_gap": (lambda r=frame.rel_gap: r.min()) if b else 1.0,
        }
        proper = proper_only(self.group)
        signs = sign_vectors(d, parity=1 if proper else None, device=mom.cov.device)
        draws = self._draws()
        if draws is None:
            s = signs.expand(b, -1, -1)  # (B, K, d): the whole frame, no gather
        else:
            pick = torch.randint(
                signs.shape[0], (b, draws), generator=self.generator,
                device=self.generator.device if self.generator is not None else None,
            ).to(signs.device)
            s = signs[pick]
        k = s.shape[1]
        if degenerate:
            basis = randomize_degenerate(frame.basis, frame.cluster, k, self.generator)
        else:  # the common case: one basis per sample, shared by its K frame elements
            basis = frame.basis[:, None]
        if proper:  # make det = +1: flip the last axis where det(basis) = -1
            det = torch.linalg.det(basis).sign()
            s = torch.cat([s[..., :-1], s[..., -1:] * det[..., None]], dim=-1)
        rot = (basis * s[..., None, :]).reshape(b * k, d, d)
        t = mom.center.repeat_interleave(k, dim=0)
        g = make_element(self.group, rot, t)
        return g, mom.center.new_full((b, k), 1.0 / k)

    def _sorting_elements(self, sample: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        key = _sort_key(sample, self.in_spec, self.key)
        perms, weights, ties, sampled = sorting_frame(
            key, sample.get("mask"), max_ties=self.max_ties, generator=self.generator,
            return_sampled=True,
        )
        b, k, n = perms.shape
        self.flagged = sampled
        self._metrics = {"tied_fraction": float(ties.double().mean()) if b else 0.0,
                         "degenerate_fraction": _fraction(self.flagged)}
        draws = self._draws()
        if draws is not None:
            pick = torch.multinomial(weights, draws, replacement=True, generator=self.generator)
            perms = torch.gather(perms, 1, pick[..., None].expand(-1, -1, n))
            k = draws
            weights = weights.new_full((b, k), 1.0 / k)
        return perms.reshape(b * k, n), weights


def _fraction(flags: Tensor):
    """Deferred mean of a ``(B,)`` bool tensor (0 for an empty batch)."""
    return (lambda f=flags: f.double().mean() if f.numel() else 0.0)


def _sort_key(sample: Mapping[str, Tensor], spec: Spec, key: str | None) -> Tensor:
    """The sorting key ``(B, N)``: the named field (or first node field), its first channel."""
    if key is None:
        key = next((n for n, f in spec.items() if f.nodes), None)
        if key is None:
            raise KeyError(f"sorting frames need a node field to sort by; spec: {list(spec)}")
    x = sample[key]
    return x.flatten(2)[..., 0] if x.ndim > 2 else x


@register("symmetrizers", "frame_averaging")
def frame_averaging(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    field: str | None = None, extra_fields: list[str] = (), key: str | None = None,
    stochastic: bool = False, train_samples: int = 1, eval_samples: int | None = None,
    degeneracy_tol: float = 1e-3, max_ties: int = 24, chunk_size: int | str | None = None,
) -> FrameAveraging:
    """Frame averaging over PCA frames (O/SO/E/SE/T(d)) or sorting frames (S_N); exact."""
    return FrameAveraging(
        backbone, group, in_spec, out_spec, field=field, extra_fields=extra_fields, key=key,
        stochastic=stochastic, train_samples=train_samples, eval_samples=eval_samples,
        degeneracy_tol=degeneracy_tol, max_ties=max_ties, chunk_size=chunk_size,
    )


frame_averaging.supports = FrameAveraging.supports
