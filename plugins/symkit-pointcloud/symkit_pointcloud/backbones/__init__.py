"""Point-cloud backbones: :class:`PointNet` and :class:`DGCNN` (sample dict -> output dict)."""

from symkit_pointcloud.backbones._dgcnn import DGCNN, EdgeConv, dgcnn
from symkit_pointcloud.backbones._pointnet import PointNet, pointnet

__all__ = ["PointNet", "pointnet", "DGCNN", "EdgeConv", "dgcnn"]
