"""Symmetrizers: make any backbone equivariant by averaging over input-dependent elements.

Every kind answers *which elements, with which weights?* (:meth:`Symmetrizer.elements`) and
shares one batched forward pass ``y = sum_k w_k g_k . backbone(g_k^-1 x)``.

Registered (registry ``symmetrizers``): ``group_averaging``, ``frame_averaging``,
``canonicalization``, ``layerwise_frame_averaging``; (registry ``canonicalizers``)
``pca_sort`` for S_N x O(d)/E(d).
"""

from symkit.symmetrizers._base import Symmetrizer, Unsymmetrized, cast_element, tile_elements
from symkit.symmetrizers._batching import BatchLayout, Copies, batch_layout, check_finite
from symkit.symmetrizers._canonicalization import Canonicalization, canonicalization
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
from symkit.symmetrizers._product_canonicalization import ProductCanonicalizer, pca_sort
from symkit.symmetrizers._product_frames import product_parts
from symkit.symmetrizers._sorting import sorting_frame
from symkit.symmetrizers._symmetric_frames import point_set_frames, symmetric_frames

__all__ = [
    "Symmetrizer",
    "Unsymmetrized",
    "GroupAveraging",
    "FrameAveraging",
    "Canonicalization",
    "group_averaging",
    "frame_averaging",
    "canonicalization",
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
    "ProductCanonicalizer",
    "pca_sort",
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
