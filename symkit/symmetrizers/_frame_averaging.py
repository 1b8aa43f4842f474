"""Frame averaging: average over a small input-dependent set of elements, a *frame*.

A frame ``F(x)`` is a set of elements with ``F(g x) = g F(x)``; averaging
``g . backbone(g^-1 x)`` uniformly over it is exactly equivariant (Puny et al., 2022). Built in:

* **PCA frames** for O(d), SO(d), E(d), SE(d) and T(d) (:mod:`symkit.symmetrizers._frames`):
  ``{(Q diag(s), c)}`` over sign vectors ``s``; ``2^d`` elements for O(d)/E(d), ``2^(d-1)`` for
  SO(d)/SE(d), one (the centroid) for T(d). Degenerate eigenspaces get Haar-random bases,
  drawn independently for each frame slot (see the module docs of ``_frames``).
* **Symmetric frames** for degenerate samples whose stabilizer is finite (methane, benzene,
  SF6; :mod:`symkit.symmetrizers._symmetric_frames`, Lin et al. 2024): the finite frame set
  built from the points by invariant choices, replacing the Haar completion (``degenerate:
  symmetric``, the default): exact and deterministic, ``|F|`` = the point group's order.
* **Sorting frames** for S_N (:mod:`symkit.symmetrizers._sorting`).
* **Product frames** for S_N x O(d)/SO(d)/E(d)/SE(d) (:mod:`symkit.symmetrizers._product_frames`):
  the Euclidean frame, each canonical cloud sorted by invariant features and coordinates.

Stochastic frame averaging draws ``train_samples`` frame elements per sample (uniformly, with
replacement) while training, and uses the full frame at evaluation (or ``eval_samples`` draws
when set).

**Outcomes per sample.** Exact (to the dtype's precision) when the covariance eigenvalues are
distinct (planar molecules included: their reflection through the plane is in the frame), when
they repeat but the stabilizer is finite (symmetric frames), or the sorting key has no ties (or
its ties are enumerated); otherwise ``flagged`` (an infinite stabilizer: linear inputs, a single
point; a sample without points; tied keys with sampled tie-breaks) and equivariant in
distribution. A sample with a
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

from symkit.groups import Group, Symmetric, Translation, map_element
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import batch_layout, check_node_layout
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
from symkit.symmetrizers._product_frames import product_elements, product_parts
from symkit.symmetrizers._sorting import sorting_frame
from symkit.symmetrizers._symmetric_frames import (
    MAX_FRAMES,
    resolve_degenerate,
)

__all__ = ["FrameAveraging", "frame_averaging"]


class FrameAveraging(Symmetrizer):
    """``f(x) = 1/|F(x)| sum_{g in F(x)} g . backbone(g^-1 x)`` over a PCA or sorting frame.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer` (default
            ``"auto"``: calls sized from the backbone's activations; ``None``: one call).
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
        degenerate: samples with repeated eigenvalues: ``"symmetric"`` (default) averages over
            the finite frame set built from the points (:mod:`._symmetric_frames`; exact and
            deterministic where the stabilizer is finite: methane, benzene, SF6), the others
            (linear, a single point) Haar-completed and flagged; ``"haar"``: every degenerate
            sample Haar-completed and flagged.
        max_frames: largest symmetric frame set per sample (above it: Haar, flagged).
        max_ties: S_N: most tie-breaking permutations enumerated before sampling ``max_ties``.
        generator: random source for degenerate eigenspaces, ties and stochastic draws.
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        field: str | None = None, extra_fields: Sequence[str] = (), key: str | None = None,
        stochastic: bool = False, train_samples: int = 1, eval_samples: int | None = None,
        degeneracy_tol: float = 1e-3, degenerate: str = "symmetric", max_frames: int = MAX_FRAMES,
        max_ties: int = 24, chunk_size: int | str | None = "auto",
        generator: torch.Generator | None = None,
    ):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if not self.supports(group):
            raise ValueError(f"frame_averaging supports O(d), SO(d), E(d), SE(d), T(d), S_N "
                             f"and S_N x O(d)/SO(d)/E(d)/SE(d); got {group!r}")
        self.sorting = isinstance(group, Symmetric)
        self.field = None if self.sorting else point_field(in_spec, field)
        self.product = product_parts(group)
        if self.product is not None:  # S_N x E(d): a Euclidean frame, then sorting
            self._euclidean = FrameAveraging(
                nn.Identity(), self.product.euclidean, in_spec, out_spec, field=field,
                extra_fields=extra_fields, degeneracy_tol=degeneracy_tol,
                degenerate=degenerate, max_frames=max_frames, generator=generator,
            )
        self.key = key
        self.extra_fields = tuple(extra_fields)
        self.stochastic, self.train_samples, self.eval_samples = (
            stochastic, train_samples, eval_samples,
        )
        self.degeneracy_tol, self.max_ties, self.generator = degeneracy_tol, max_ties, generator
        if degenerate not in ("symmetric", "haar"):
            raise ValueError(f"degenerate must be 'symmetric' or 'haar', got {degenerate!r}")
        self.degenerate, self.max_frames = degenerate, max_frames

    @classmethod
    def supports(cls, group: Group) -> bool:
        return (is_pca_group(group) or isinstance(group, Symmetric)
                or product_parts(group) is not None)

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
        if self.product is not None:
            return self._product_elements(sample)
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
        tol = gap_tol(self.degeneracy_tol, points.dtype)
        frame = pca(mom, tol)
        self.flagged = frame.degenerate
        degenerate = frame.any_degenerate
        self._metrics = {
            "degenerate_fraction": _fraction(frame.degenerate) if degenerate else 0.0,
            "min_relative_gap": (lambda r=frame.rel_gap: r.min()) if b else 1.0,
        } | ({"symmetric_fraction": 0.0} if self.degenerate == "symmetric" else {})
        if degenerate and self.degenerate == "symmetric":
            return self._symmetric_elements(sample, layout, mom, frame, tol)
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
        rot = self._pca_rotations(frame, s, degenerate, proper)
        k = rot.shape[1]
        t = mom.center.repeat_interleave(k, dim=0)
        g = make_element(self.group, rot.reshape(b * k, d, d), t)
        return g, mom.center.new_full((b, k), 1.0 / k)

    def _pca_rotations(self, frame, s: Tensor, degenerate: bool, proper: bool) -> Tensor:
        """``Q diag(s)`` per sample and sign vector ``(B, K, d, d)`` (degenerate eigenspaces
        Haar-completed, one draw per slot)."""
        k = s.shape[1]
        if degenerate:
            basis = randomize_degenerate(frame.basis, frame.cluster, k, self.generator)
        else:  # the common case: one basis per sample, shared by its K frame elements
            basis = frame.basis[:, None]
        if proper:  # make det = +1: flip the last axis where det(basis) = -1
            det = torch.linalg.det(basis).sign()
            s = torch.cat([s[..., :-1], s[..., -1:] * det[..., None]], dim=-1)
        return basis * s[..., None, :]

    def _symmetric_elements(self, sample, layout, mom, frame, tol: float):
        """PCA frames, with the finite symmetric frame set (:mod:`._symmetric_frames`) for
        the degenerate samples whose stabilizer is finite; the rest Haar-completed, flagged."""
        b, d = mom.center.shape
        proper = proper_only(self.group)
        signs = sign_vectors(d, parity=1 if proper else None, device=mom.cov.device)
        rot = self._pca_rotations(frame, signs.expand(b, -1, -1), True, proper)
        weights = mom.center.new_full(rot.shape[:2], 1.0 / rot.shape[1])
        rot, weights, resolved = resolve_degenerate(
            sample, self.field, self.in_spec, layout, mom.center, frame, rot, weights,
            proper=proper, tol=tol, max_frames=self.max_frames,
        )
        self.flagged = frame.degenerate & ~resolved
        self._metrics["degenerate_fraction"] = _fraction(self.flagged)
        self._metrics["symmetric_fraction"] = _fraction(resolved)
        draws = self._draws()
        if draws is not None:  # uniform draws from each sample's set
            gen = self.generator
            pick = torch.multinomial(weights.to(gen.device) if gen is not None else weights,
                                     draws, replacement=True, generator=gen).to(rot.device)
            rot = torch.gather(rot, 1, pick[..., None, None].expand(-1, -1, d, d))
            weights = weights.new_full((b, draws), 1.0 / draws)
        k = rot.shape[1]
        g = make_element(self.group, rot.reshape(b * k, d, d),
                         mom.center.repeat_interleave(k, dim=0))
        return g, weights

    def _product_elements(self, sample: Mapping[str, Tensor]) -> tuple[tuple, Tensor]:
        """S_N x E(d): the Euclidean frame, each canonical cloud sorted (`._product_frames`)."""
        check_node_layout(self.group, batch_layout(sample, self.in_spec), "frame averaging")
        inner = self._euclidean
        inner.generator = self.generator
        g_e, w_e = inner.elements(sample)
        g, weights, sampled = product_elements(
            self.product, self.group, g_e, w_e, sample, inner.field, self.in_spec,
            tol=gap_tol(self.degeneracy_tol, sample[inner.field].dtype),
            max_ties=self.max_ties, generator=self.generator,
        )
        self.flagged = inner.flagged | sampled
        self._metrics = dict(inner._metrics) | {"degenerate_fraction": _fraction(self.flagged)}
        draws = self._draws()
        if draws is not None:
            gen = self.generator
            pick = torch.multinomial(weights.to(gen.device) if gen is not None else weights,
                                     draws, replacement=True, generator=gen).to(weights.device)
            b, k = weights.shape
            flat = (pick + k * torch.arange(b, device=pick.device)[:, None]).reshape(-1)
            g = map_element(lambda t: t[flat.to(t.device)], g)
            weights = weights.new_full((b, draws), 1.0 / draws)
        return g, weights

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
    degeneracy_tol: float = 1e-3, degenerate: str = "symmetric", max_frames: int = MAX_FRAMES,
    max_ties: int = 24, chunk_size: int | str | None = "auto",
) -> FrameAveraging:
    """Frame averaging over PCA frames (O/SO/E/SE/T(d)) or sorting frames (S_N); exact."""
    return FrameAveraging(
        backbone, group, in_spec, out_spec, field=field, extra_fields=extra_fields, key=key,
        stochastic=stochastic, train_samples=train_samples, eval_samples=eval_samples,
        degeneracy_tol=degeneracy_tol, degenerate=degenerate, max_frames=max_frames,
        max_ties=max_ties, chunk_size=chunk_size,
    )


