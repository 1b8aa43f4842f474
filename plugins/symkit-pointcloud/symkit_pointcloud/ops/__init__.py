"""Neighbourhood ops on point clouds: kNN, farthest point sampling, radius graphs.

All accept a dense batch ``(B, N, D)`` with an optional ``mask: (B, N)`` bool (``True`` = real
point); ``knn`` and ``radius_graph`` also accept a ragged batch ``(M, D)`` with ``batch: (M,)``.
torch-cluster is used for kNN when installed (detected once in :mod:`._accel`).
"""

from symkit_pointcloud.ops._accel import backend, torch_cluster
from symkit_pointcloud.ops._batching import to_dense
from symkit_pointcloud.ops._fps import farthest_point_sampling
from symkit_pointcloud.ops._knn import knn, knn_cluster, knn_torch
from symkit_pointcloud.ops._radius import radius_graph

__all__ = [
    "knn",
    "knn_torch",
    "knn_cluster",
    "farthest_point_sampling",
    "radius_graph",
    "to_dense",
    "backend",
    "torch_cluster",
]
