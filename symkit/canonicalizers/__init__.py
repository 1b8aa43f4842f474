"""Canonicalizers: maps ``h(x)`` to one group element per input with ``h(g x) = g h(x)``.

Registered (registry ``canonicalizers``): ``centroid`` (T(d)), ``scale`` (scaling), ``pca``
(O(d), SO(d), E(d), SE(d)), ``sort`` (S_N). Used by the ``canonicalization`` symmetrizer.
"""

from symkit.canonicalizers._base import Canonicalizer
from symkit.canonicalizers._pca import PCACanonicalizer, pca_canonicalizer, third_moments
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
]
