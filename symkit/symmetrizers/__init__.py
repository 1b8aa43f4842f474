"""Symmetrizers: make any backbone equivariant by averaging over input-dependent elements.

Every kind answers *which elements, with which weights?* (:meth:`Symmetrizer.elements`) and
shares one batched forward pass ``y = sum_k w_k g_k . backbone(g_k^-1 x)``.

This package holds the shared forward pass, the fixed frames (PCA, sorting, finite frame sets of
symmetric inputs, S_N x E(d) products, per-node frames) and ``group_averaging``,
``frame_averaging`` and ``layerwise_frame_averaging`` (registry ``symmetrizers``). The other
kinds live where their parts live:

* :mod:`symkit.canonicalizers`: ``canonicalization``, ``learned_canonicalization`` and
  ``probabilistic``, beside every canonicalizer (fixed and learned);
* :mod:`symkit.symmetrizers.learned`: ``learned_augmentation``, ``mds_invariant``,
  ``soft_equivariance`` and ``orbit_distance``.

``symkit.registry.registry("symmetrizers").names()`` lists them all, plugins' included.
``Canonicalization`` and ``canonicalization`` are also importable from here (an alias of
:mod:`symkit.canonicalizers`' one definition, resolved on first use so that this package never
imports the canonicalizers that build on it).
"""

from symkit.symmetrizers._base import Symmetrizer, Unsymmetrized, cast_element, tile_elements
from symkit.symmetrizers._batching import BatchLayout, Copies, batch_layout, check_finite
from symkit.symmetrizers._frame_averaging import FrameAveraging, frame_averaging
from symkit.symmetrizers._frames import (
    PCA,
    Moments,
    haar_blocks,
    pca,
    point_moments,
    randomize_degenerate,
    sign_vectors,
)
from symkit.symmetrizers._group_averaging import GroupAveraging, group_averaging
from symkit.symmetrizers._layerwise import (
    LayerwiseFrameAveraging,
    Stage,
    layerwise_frame_averaging,
)
from symkit.symmetrizers._node_frames import (
    NodeFrames,
    act_per_node,
    node_frames,
    supports_node_frames,
)
from symkit.symmetrizers._product_frames import product_parts
from symkit.symmetrizers._sorting import sorting_frame
from symkit.symmetrizers._symmetric_frames import point_set_frames, symmetric_frames

__all__ = [
    "Symmetrizer",
    "Unsymmetrized",
    "GroupAveraging",
    "FrameAveraging",
    "group_averaging",
    "frame_averaging",
    "BatchLayout",
    "Copies",
    "batch_layout",
    "cast_element",
    "tile_elements",
    "Moments",
    "PCA",
    "point_moments",
    "pca",
    "randomize_degenerate",
    "haar_blocks",
    "sign_vectors",
    "sorting_frame",
    "product_parts",
    "point_set_frames",
    "symmetric_frames",
    "LayerwiseFrameAveraging",
    "Stage",
    "layerwise_frame_averaging",
    "check_finite",
    "NodeFrames",
    "node_frames",
    "supports_node_frames",
    "act_per_node",
]


def __getattr__(name: str):
    if name in ("Canonicalization", "canonicalization"):
        from symkit import canonicalizers

        return getattr(canonicalizers, name)
    raise AttributeError(f"module 'symkit.symmetrizers' has no attribute {name!r}")
