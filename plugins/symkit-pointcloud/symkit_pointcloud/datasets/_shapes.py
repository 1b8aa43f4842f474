"""``shapes``: a generated data set of noisy point clouds sampled on 12 kinds of 3D shape."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from symkit.errors import ConfigError
from symkit_pointcloud.datasets._surfaces import SURFACES, haar_rotation

__all__ = ["ShapesDataset", "shapes", "SPLITS"]

SPLITS = ("train", "valid", "test")


class ShapesDataset(Dataset):
    """Point clouds on randomly proportioned 3D shapes, labelled by shape class.

    Every item is one instance of a class (random proportions within the class), ``num_points``
    points roughly uniform by area, centred at their centroid, plus Gaussian noise of standard
    deviation ``noise``, optionally in a Haar-random SO(3) orientation. Generated entirely in
    memory at construction; the same ``(split, seed, parameters)`` always gives the same data,
    and each split uses its own random stream. Rotations come from a separate stream, so the
    rotated data set is exactly the upright one, rotated. Classes are balanced (sizes differ
    by at most 1).

    Items: ``{"pos": (N, 3) float32, "label": () long}``.
    """

    def __init__(self, split: str = "train", *, size: int = 1000, num_points: int = 1024,
                 noise: float = 0.01, random_rotation: bool = False, seed: int = 0,
                 classes: Sequence[str] | None = None):
        if split not in SPLITS:
            raise ConfigError("split", f"unknown split '{split}'; use one of {SPLITS}")
        self.classes = list(classes) if classes is not None else list(SURFACES)
        unknown = [c for c in self.classes if c not in SURFACES]
        if unknown:
            raise ConfigError("classes", f"unknown shape(s) {unknown}; known: {list(SURFACES)}")
        self.split = split
        stream = int(seed) * 1_000_003 + SPLITS.index(split)
        g = torch.Generator().manual_seed(stream)
        turn = torch.Generator().manual_seed(stream + 500_001) if random_rotation else None
        labels = torch.arange(size) % len(self.classes)
        self.labels = labels[torch.randperm(size, generator=g)]
        clouds = [self._sample(int(c), num_points, noise, g, turn) for c in self.labels]
        self.pos = torch.stack(clouds).float() if clouds else torch.zeros(0, num_points, 3)

    def _sample(self, label: int, n: int, noise: float, g: torch.Generator,
                turn: torch.Generator | None) -> Tensor:
        p = SURFACES[self.classes[label]](n, g)
        p = p * (0.85 + 0.3 * torch.rand((), generator=g, dtype=torch.float64))
        p = p - p.mean(dim=0)
        p = p + noise * torch.randn(n, 3, generator=g, dtype=torch.float64)
        return p if turn is None else p @ haar_rotation(turn).T

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"pos": self.pos[i], "label": self.labels[i]}


def shapes(split: str = "train", num_points: int = 1024, noise: float = 0.01,
           random_rotation: bool = False, seed: int = 0, train_size: int = 1000,
           valid_size: int = 200, test_size: int = 200,
           classes: Sequence[str] | None = None) -> ShapesDataset:
    """Generated 3D shapes (12 classes: sphere, cube, torus, helix, ...) as noisy point clouds.

    Args:
        split: ``train``, ``valid`` or ``test``.
        num_points: points per cloud ``N``.
        noise: standard deviation of the Gaussian noise added to every coordinate.
        random_rotation: rotate every cloud by a Haar-random element of SO(3).
        seed: base seed; each split draws from its own stream derived from it.
        train_size, valid_size, test_size: number of clouds per split.
        classes: subset of class names (default: all 12, in the order of ``SURFACES``).

    Shapes:
        item ``pos``: ``(N, 3)`` float32; ``label``: ``()`` long.
    """
    size = {"train": train_size, "valid": valid_size, "test": test_size}.get(split, 0)
    return ShapesDataset(split, size=size, num_points=num_points, noise=noise,
                         random_rotation=random_rotation, seed=seed, classes=classes)
