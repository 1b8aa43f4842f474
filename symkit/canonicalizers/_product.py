"""Canonicalization for S_N x O(d)/SO(d)/E(d)/SE(d): PCA, then sorting the canonical cloud.

``h(x) = (pi(x), h_E(x))``: ``h_E`` is the ``pca`` canonicalizer of the Euclidean factor (a
function of the point *set*, so invariant under node permutations), and ``pi`` sorts the nodes
of the canonical cloud ``h_E(x)^-1 x`` by invariant node features, then by canonical
coordinates (clustered at the PCA tolerance; :mod:`symkit.symmetrizers._product_frames`). As
``h_E((sigma, g) x) = g h_E(x)`` and the canonical cloud of ``(sigma, g) x`` is that of ``x``
permuted by ``sigma``, ``h((sigma, g) x) = (sigma, g) h(x)``: ``h(x)^-1 x`` is the sorted
canonical form, invariant under the whole product (Kaba et al. 2023, "Equivariance with
learned canonicalization functions", Sec. 3; Lin et al. 2024 for the product construction).

With ``ambiguous="average"`` (default) :meth:`ProductCanonicalizer.elements` returns the PCA
candidates (undecided signs, the finite frame sets of symmetric inputs) each with every
tie-breaking order of its sort (up to ``max_ties``): exact, also at mirror-symmetric and
symmetric inputs. A plain call (``ambiguous="random"``) returns one element: random signs and a
random tie-break, those samples ``flagged``. Dense samples only (``(B, N, ...)``, optional
``mask``): S_N permutes a fixed number of nodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from symkit.canonicalizers._base import Canonicalizer
from symkit.canonicalizers._pca import PCACanonicalizer
from symkit.groups import Group
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._batching import batch_layout, check_node_layout
from symkit.symmetrizers._frames import gap_tol
from symkit.symmetrizers._product_frames import product_elements, product_parts

__all__ = ["ProductCanonicalizer", "pca_sort"]


class ProductCanonicalizer(Canonicalizer):
    """``h(x) = (sort of the canonical cloud, pca(x))`` on ``S_N x G_E`` (see module docs).

    Args:
        group: ``S_N x G_E`` (either order), ``G_E`` one of O(d), SO(d), E(d), SE(d).
        in_spec: input spec (invariant node scalars break ties first).
        field, extra_fields, degeneracy_tol, sign_tol, ambiguous: of the ``pca`` canonicalizer.
        max_ties: tie-breaking orders per PCA candidate in :meth:`elements`.
        generator: random source of the fallbacks.

    Shapes:
        forward: ``B`` elements ``(perm (B, N), euclidean)`` in the product's factor order;
        :meth:`elements`: ``B * K`` elements and weights ``(B, K)``.

    Raises:
        SpecError: a ragged sample (``batch`` vector); a ``ValueError``.
    """

    def __init__(
        self, group: Group, in_spec: Spec, *, field: str | None = None,
        extra_fields: Sequence[str] = (), degeneracy_tol: float = 1e-3, sign_tol: float = 1e-6,
        ambiguous: str = "average", max_ties: int = 24,
        generator: torch.Generator | None = None,
    ):
        super().__init__(group, in_spec)
        self.parts = product_parts(group)
        self.pca = PCACanonicalizer(
            self.parts.euclidean, in_spec, field=field, extra_fields=extra_fields,
            degeneracy_tol=degeneracy_tol, sign_tol=sign_tol, ambiguous=ambiguous,
            generator=generator,
        )
        self.ambiguous, self.max_ties, self.generator = ambiguous, max_ties, generator

    @classmethod
    def supports(cls, group: Group) -> bool:
        return product_parts(group) is not None

    def forward(self, sample: Mapping[str, Tensor]):
        """One element per sample (random signs and tie-breaks where undecided: flagged)."""
        g, _ = self._product(sample, self.pca(sample), None, max_ties=1)
        return g

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[object, Tensor]:
        if self.ambiguous == "random":
            return super().elements(sample)
        g_e, w_e = self.pca.elements(sample)
        return self._product(sample, g_e, w_e, max_ties=self.max_ties)

    def _product(self, sample, g_e, w_e, *, max_ties: int):
        check_node_layout(self.group, batch_layout(sample, self.in_spec), "canonicalization")
        self.pca.generator = self.generator
        if w_e is None:
            w_e = torch.ones(sample[self.pca.field].shape[0], 1, dtype=torch.float64)
        g, weights, sampled = product_elements(
            self.parts, self.group, g_e, w_e, sample, self.pca.field, self.in_spec,
            tol=gap_tol(self.pca.degeneracy_tol, sample[self.pca.field].dtype),
            max_ties=max_ties, generator=self.generator,
        )
        self.flagged = self.pca.flagged | sampled.to(self.pca.flagged.device)
        self._metrics = dict(self.pca._metrics) | {
            "flagged_fraction": (lambda f=self.flagged: f.double().mean()) if len(sampled)
            else 0.0,
            "sampled_tie_fraction": (lambda s=sampled: s.double().mean()) if len(sampled) else 0.0,
        }
        return g, weights


@register("canonicalizers", "pca_sort")
def pca_sort(
    group: Group, in_spec: Spec, *, field: str | None = None, extra_fields: list[str] = (),
    degeneracy_tol: float = 1e-3, sign_tol: float = 1e-6, ambiguous: str = "average",
    max_ties: int = 24,
) -> ProductCanonicalizer:
    """S_N x O(d)/SO(d)/E(d)/SE(d): PCA of the points, then the nodes sorted in that frame."""
    return ProductCanonicalizer(
        group, in_spec, field=field, extra_fields=extra_fields, degeneracy_tol=degeneracy_tol,
        sign_tol=sign_tol, ambiguous=ambiguous, max_ties=max_ties,
    )


