"""symkit-pointcloud: point networks, neighbourhood ops and a generated 3D shapes data set.

Registers (scope ``pointcloud``), all lazily so that discovering the plugin imports nothing heavy:

* backbones: ``pointnet``, ``dgcnn``
* datasets: ``shapes``

The ops (:func:`~symkit_pointcloud.ops.knn`, :func:`~symkit_pointcloud.ops.farthest_point_sampling`,
:func:`~symkit_pointcloud.ops.radius_graph`) are plain functions in :mod:`symkit_pointcloud.ops`.
"""

from __future__ import annotations

from symkit.hookspecs import Register, hookimpl

__version__ = "0.1.0"
SYMKIT_API_VERSION = 1

__all__ = ["__version__", "SYMKIT_API_VERSION", "symkit_register"]

_PARTS = (
    ("backbones", "pointnet", "symkit_pointcloud.backbones:pointnet"),
    ("backbones", "dgcnn", "symkit_pointcloud.backbones:dgcnn"),
    ("datasets", "shapes", "symkit_pointcloud.datasets:shapes"),
)


@hookimpl
def symkit_register(register: Register) -> None:
    """Register the point-cloud backbones and the ``shapes`` data set (lazy targets)."""
    for category, name, target in _PARTS:
        register(category, name, target)
