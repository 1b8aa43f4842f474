"""``mnist``: 5,000 MNIST digits (500 per class) shipped with the plugin, split and rotated."""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib.resources import files

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from symkit.errors import ConfigError, DataError
from symkit_vision.datasets._rotate import rotate_images

__all__ = ["MNIST", "mnist", "load_raw", "SPLITS"]

SPLITS = ("train", "valid", "test")
_RESOURCE = "data/mnist_5k.csv.gz"


@lru_cache(maxsize=1)
def load_raw() -> tuple[Tensor, Tensor]:
    """All 5,000 digits: images ``(5000, 1, 28, 28)`` float32 in [0, 1], labels ``(5000,)`` long.

    The CSV has one digit per row: 784 pixel values (0-255, row-major), then the label.
    """
    with files("symkit_vision").joinpath(_RESOURCE).open("rb") as raw, gzip.open(raw) as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images = torch.from_numpy(table[:, :784].copy()).float().div_(255).view(-1, 1, 28, 28)
    return images, torch.from_numpy(table[:, 784].astype(np.int64))


def stratified_split(labels: Tensor, sizes: dict[str, int], seed: int) -> dict[str, Tensor]:
    """Disjoint index sets per split, stratified by label (class counts differ by <= 1).

    Each class is shuffled; items are then dealt round-robin over the classes (rank 0 of every
    class, then rank 1, ...) and the deal is cut into consecutive splits, each shuffled.
    """
    if sum(sizes.values()) > labels.numel():
        raise DataError(f"split sizes {sizes} need {sum(sizes.values())} digits; "
                        f"only {labels.numel()} are available")
    g = torch.Generator().manual_seed(seed)
    rank = torch.empty_like(labels)
    for c in labels.unique():
        members = (labels == c).nonzero().flatten()
        rank[members[torch.randperm(members.numel(), generator=g)]] = torch.arange(members.numel())
    deal = torch.argsort(rank * (int(labels.max()) + 1) + labels)
    out, start = {}, 0
    for split, size in sizes.items():
        part = deal[start:start + size]
        out[split] = part[torch.randperm(size, generator=g)]
        start += size
    return out


@lru_cache(maxsize=8)
def _build(split: str, sizes: tuple[int, int, int], seed: int, rotation: str,
           pad_to: int | None) -> tuple[Tensor, Tensor]:
    images, labels = load_raw()
    index = stratified_split(labels, dict(zip(SPLITS, sizes)), seed)[split]
    x = images[index]
    if pad_to is not None:
        if pad_to < 28:
            raise ConfigError("pad_to", f"must be >= 28, got {pad_to}")
        lo = (pad_to - 28) // 2
        x = F.pad(x, (lo, pad_to - 28 - lo, lo, pad_to - 28 - lo))
    g = torch.Generator().manual_seed(seed * 1_000_003 + 17 + SPLITS.index(split))
    x = rotate_images(x, rotation, g, key=f"{split}_rotation").clamp_(0, 1)
    return x.contiguous(), labels[index]


class MNIST(Dataset):
    """One split of the 5,000-digit MNIST subset, optionally rotated.

    Built once (rotations included) and cached per process; items are
    ``{"image": (1, S, S) float32 in [0, 1], "label": () long}`` with ``S = pad_to or 28``.
    """

    def __init__(self, images: Tensor, labels: Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"image": self.images[i], "label": self.labels[i]}


def mnist(split: str = "train", train_size: int = 3000, valid_size: int = 1000,
          test_size: int = 1000, seed: int = 0, rotation: str = "none",
          train_rotation: str | None = None, valid_rotation: str | None = None,
          test_rotation: str | None = None, pad_to: int | None = None) -> MNIST:
    """A seeded, label-stratified split of 5,000 MNIST digits, optionally randomly rotated.

    Args:
        split: ``train``, ``valid`` or ``test`` (disjoint for the same sizes and seed).
        train_size, valid_size, test_size: digits per split (sum <= 5000).
        seed: drives the split and the random rotations.
        rotation: ``none``, ``c4`` (random multiples of 90 degrees, exact), ``d4`` (also random
            reflections, exact) or ``so2`` (uniform angles, bilinear resampling), for every split.
        train_rotation, valid_rotation, test_rotation: override ``rotation`` for one split
            (e.g. train upright, test on ``so2``).
        pad_to: zero-pad to ``pad_to x pad_to`` before rotating (extra row/column at the
            bottom/right when odd). Rotations are about the grid centre; on an odd grid that is
            the centre pixel, so e.g. 29 keeps a pixel fixed under every rotation. rot90 is exact
            on any size.

    Shapes:
        item ``image``: ``(1, S, S)`` float32; ``label``: ``()`` long.
    """
    if split not in SPLITS:
        raise ConfigError("split", f"unknown split '{split}'; use one of {SPLITS}")
    override = {"train": train_rotation, "valid": valid_rotation, "test": test_rotation}[split]
    images, labels = _build(split, (train_size, valid_size, test_size), seed,
                            override or rotation, pad_to)
    return MNIST(images, labels)
