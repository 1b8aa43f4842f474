"""symkit-vision: image data and CNN backbones for planar symmetry groups (C4, D4, SO(2)).

Registers (scope ``vision``), lazily:

* datasets: ``mnist`` (a 5,000-digit MNIST subset shipped with the package, optional rotations),
  ``fashion_mnist`` (read from Debian's ``dataset-fashion-mnist`` files, same splits)
* backbones: ``cnn_classifier``, ``resnet_small``
* canonicalizers: ``spatial_transformer`` (Jaderberg et al. 2015: a learned, non-equivariant
  baseline that claims no equivariance), ``equivariant_transformer`` (Tai et al. 2019: pose
  in log-polar canonical coordinates, equivariant up to resampling)

Group actions on images are symkit's core ``image`` representation (exact rot90/flip for
multiples of 90 degrees, bilinear resampling otherwise); this plugin does not redefine them.
"""

from __future__ import annotations

from symkit.hookspecs import Register, hookimpl

__version__ = "0.1.0"
SYMKIT_API_VERSION = 1

__all__ = ["__version__", "SYMKIT_API_VERSION", "symkit_register"]

_PARTS = (
    ("datasets", "mnist", "symkit_vision.datasets:mnist"),
    ("datasets", "fashion_mnist", "symkit_vision.datasets:fashion_mnist"),
    ("backbones", "cnn_classifier", "symkit_vision.backbones:cnn_classifier"),
    ("backbones", "resnet_small", "symkit_vision.backbones:resnet_small"),
    ("canonicalizers", "spatial_transformer", "symkit_vision.canonicalizers:spatial_transformer"),
    ("canonicalizers", "equivariant_transformer",
     "symkit_vision.canonicalizers:equivariant_transformer"),
)


@hookimpl
def symkit_register(register: Register) -> None:
    """Register the ``mnist`` data set, the CNN backbones and the STN (lazy targets)."""
    for category, name, target in _PARTS:
        register(category, name, target)
