"""Image canonicalizers of the vision plugin: the spatial transformer (a learned, non-equivariant
baseline)."""

from symkit_vision.canonicalizers._stn import SpatialTransformer, spatial_transformer

__all__ = ["SpatialTransformer", "spatial_transformer"]
