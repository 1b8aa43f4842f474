"""Learned symmetrizers: learned augmentation, invariant MDS inputs, soft equivariance and
orbit-distance frames, and the network pieces that learned canonicalizers share with them.

Registered in ``symmetrizers``: ``learned_augmentation``, ``constrained_augmentation``,
``mds_invariant``, ``soft_equivariance``, ``orbit_distance``. Learned canonicalizers,
``learned_canonicalization`` and ``probabilistic`` (a noisy learned canonicalizer) live with the
fixed canonicalizers in :mod:`symkit.canonicalizers`.
"""

from symkit.symmetrizers.learned._augmentation import LearnedAugmentation, learned_augmentation
from symkit.symmetrizers.learned._constrained_augmentation import (
    ConstrainedAugmentation,
    constrained_augmentation,
    metropolis_hastings,
)
from symkit.symmetrizers.learned._inputs import (
    check_finite,
    degeneracy_tol,
    keyed_draws,
    point_batch,
    sample_keys,
    tie_tol,
)
from symkit.symmetrizers.learned._matrices import (
    complete_frame,
    cross_complement,
    frame_from_vectors,
    gram_schmidt,
    orbit_distance,
    polar_frame,
    project_to_group,
)
from symkit.symmetrizers.learned._mds import (
    MDSInvariant,
    haar_blocks,
    mds_coordinates,
    mds_frame,
    mds_invariant,
)
from symkit.symmetrizers.learned._orbit_distance import (
    OrbitDistanceCanonicalization,
    orbit_distance_canonicalization,
)
from symkit.symmetrizers.learned._relax import soft_sort, straight_through_onehot
from symkit.symmetrizers.learned._soft_equivariance import (
    SoftEquivariance,
    equivariance_penalty,
    soft_equivariance,
)

__all__ = [
    "frame_from_vectors",
    "complete_frame",
    "cross_complement",
    "polar_frame",
    "haar_blocks",
    "mds_frame",
    "check_finite",
    "degeneracy_tol",
    "tie_tol",
    "keyed_draws",
    "point_batch",
    "sample_keys",
    "gram_schmidt",
    "orbit_distance",
    "project_to_group",
    "soft_sort",
    "straight_through_onehot",
    "LearnedAugmentation",
    "learned_augmentation",
    "ConstrainedAugmentation",
    "constrained_augmentation",
    "metropolis_hastings",
    "MDSInvariant",
    "mds_coordinates",
    "mds_invariant",
    "SoftEquivariance",
    "soft_equivariance",
    "equivariance_penalty",
    "OrbitDistanceCanonicalization",
    "orbit_distance_canonicalization",
]
