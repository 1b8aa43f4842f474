"""Canonicalization: one equivariant element ``h(x)`` per input, and the symmetrizers using it.

A canonicalizer is a map ``h`` from samples to group elements with ``h(g x) = g h(x)``;
``h(x)^-1 x`` is then an invariant, canonical form of ``x`` and
``f(x) = h(x) . backbone(h(x)^-1 x)`` is equivariant for any backbone (Kaba et al., 2023). Every
canonicalizer, fixed or learned, is a :class:`Canonicalizer`; learned ones are
:class:`LearnedCanonicalizer` (an equivariant network, a prior toward the identity).

Registered in ``canonicalizers``: fixed ``centroid`` (T(d)), ``scale`` (scaling), ``pca``
(O(d), SO(d), E(d), SE(d)), ``sort`` (S_N), ``pca_sort`` (S_N x O(d)/E(d)); learned
``learned_group_cnn``, ``learned_image_frame``, ``learned_point_frame``, ``learned_sort``,
``learned_orbit_scores``.
Registered in ``symmetrizers``: ``canonicalization`` (any canonicalizer),
``learned_canonicalization`` (a learned one, trained through straight-through choices) and
``probabilistic`` (``K`` draws of a learned canonicalizer fed invariant noise: an equivariant
distribution ``p(g | x)``).
"""

from symkit.canonicalizers._base import Canonicalizer
from symkit.canonicalizers._canonicalization import (
    Canonicalization,
    canonicalization,
    default_canonicalizer,
)
from symkit.canonicalizers._learned import (
    GroupCNNCanonicalizer,
    ImageFrameCanonicalizer,
    LearnedSortCanonicalizer,
    OrbitScoresCanonicalizer,
    PointFrameCanonicalizer,
    default_learned_canonicalizer,
)
from symkit.canonicalizers._learned_base import LearnedCanonicalizer, Proposal
from symkit.canonicalizers._learned_canonicalization import (
    LearnedCanonicalization,
    learned_canonicalization,
)
from symkit.canonicalizers._pca import PCACanonicalizer, pca_canonicalizer, third_moments
from symkit.canonicalizers._probabilistic import ProbabilisticSymmetrization, probabilistic
from symkit.canonicalizers._product import ProductCanonicalizer, pca_sort
from symkit.canonicalizers._simple import (
    CentroidCanonicalizer,
    ScaleCanonicalizer,
    SortCanonicalizer,
    centroid,
    scale,
    sort,
)

__all__ = [
    "Canonicalizer",
    "CentroidCanonicalizer",
    "ScaleCanonicalizer",
    "SortCanonicalizer",
    "PCACanonicalizer",
    "third_moments",
    "centroid",
    "scale",
    "sort",
    "pca_canonicalizer",
    "ProductCanonicalizer",
    "pca_sort",
    "LearnedCanonicalizer",
    "Proposal",
    "GroupCNNCanonicalizer",
    "ImageFrameCanonicalizer",
    "PointFrameCanonicalizer",
    "LearnedSortCanonicalizer",
    "OrbitScoresCanonicalizer",
    "default_learned_canonicalizer",
    "Canonicalization",
    "canonicalization",
    "default_canonicalizer",
    "LearnedCanonicalization",
    "learned_canonicalization",
    "ProbabilisticSymmetrization",
    "probabilistic",
]
