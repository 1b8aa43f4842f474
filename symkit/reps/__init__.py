"""Representations: how a group element acts on one field of a sample.

Registered (registry ``reps``): ``scalar``, ``vector``, ``point``, ``pseudovector``,
``tensor(rank=2)``, ``regular``, ``image``.
"""

from symkit.reps._base import Rep, space_dim
from symkit.reps._cartesian import (
    CartesianTensor,
    Pseudovector,
    Vector,
    apply_matrix,
    pseudovector,
    tensor,
    vector,
)
from symkit.reps._image import Image, image
from symkit.reps._point import Point, point
from symkit.reps._regular import Regular, cayley_table, regular
from symkit.reps._scalar import Scalar, scalar

__all__ = [
    "Rep",
    "space_dim",
    "apply_matrix",
    "cayley_table",
    "Scalar",
    "Vector",
    "Point",
    "Pseudovector",
    "CartesianTensor",
    "Regular",
    "Image",
    "scalar",
    "vector",
    "point",
    "pseudovector",
    "tensor",
    "regular",
    "image",
]
