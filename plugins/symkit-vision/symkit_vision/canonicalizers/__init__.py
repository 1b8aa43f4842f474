"""Image canonicalizers of the vision plugin: the spatial transformer (a learned, non-equivariant
baseline) and the equivariant transformer (pose in log-polar canonical coordinates)."""

from symkit_vision.canonicalizers._etn import EquivariantTransformer, equivariant_transformer
from symkit_vision.canonicalizers._stn import SpatialTransformer, spatial_transformer

__all__ = ["SpatialTransformer", "spatial_transformer", "EquivariantTransformer",
           "equivariant_transformer"]
