"""Randomly rotating a stack of images with symkit's core ``image`` representation."""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.errors import ConfigError
from symkit.registry import registry

__all__ = ["ROTATIONS", "rotate_images"]

#: Rotation option -> the registered group whose Haar-random elements are applied.
ROTATIONS = {"none": None, "c4": "c4", "d4": "d4", "so2": "so2"}


def rotate_images(images: Tensor, rotation: str, generator: torch.Generator,
                  key: str = "rotation") -> Tensor:
    """Act on each image by an independent uniformly random element of ``rotation``'s group.

    ``c4``/``d4`` are exact (rot90/flip), ``so2`` resamples bilinearly (see the core ``image``
    rep). Elements are drawn with ``generator``, so the result is reproducible.

    Shapes:
        images: ``(n, C, H, W)`` with ``H == W`` -> ``(n, C, H, W)``.
    """
    if rotation not in ROTATIONS:
        raise ConfigError(key, f"unknown rotation '{rotation}'; use one of {list(ROTATIONS)}")
    if ROTATIONS[rotation] is None or images.shape[0] == 0:
        return images
    group = registry("groups").build(ROTATIONS[rotation])
    rep = registry("reps").build("image")
    g = group.sample(images.shape[0], generator=generator)
    return rep.act(group, g, images)
