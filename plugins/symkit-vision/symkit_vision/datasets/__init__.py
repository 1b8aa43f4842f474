"""Image data sets: ``mnist`` (5,000 digits shipped with the plugin) and ``fashion_mnist``
(Debian's ``dataset-fashion-mnist`` files)."""

from symkit_vision.datasets._fashion import fashion_mnist, read_idx
from symkit_vision.datasets._mnist import MNIST, SPLITS, load_raw, mnist, stratified_split
from symkit_vision.datasets._rotate import ROTATIONS, rotate_images

__all__ = ["MNIST", "mnist", "load_raw", "stratified_split", "SPLITS", "ROTATIONS",
           "rotate_images", "fashion_mnist", "read_idx"]
