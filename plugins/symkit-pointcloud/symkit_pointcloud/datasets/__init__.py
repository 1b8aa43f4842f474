"""Point-cloud data sets: ``shapes`` (generated 3D shapes, no download)."""

from symkit_pointcloud.datasets._shapes import SPLITS, ShapesDataset, shapes
from symkit_pointcloud.datasets._surfaces import SURFACES, haar_rotation, sample_triangles

__all__ = ["ShapesDataset", "shapes", "SPLITS", "SURFACES", "haar_rotation", "sample_triangles"]
