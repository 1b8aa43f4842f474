"""``fashion_mnist``: Fashion-MNIST read from the files of Debian's ``dataset-fashion-mnist``."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from symkit.errors import ConfigError, DataError
from symkit_vision.datasets._mnist import MNIST, SPLITS, stratified_split
from symkit_vision.datasets._rotate import rotate_images

__all__ = ["fashion_mnist", "read_idx", "DEFAULT_ROOT", "CLASSES"]

#: where ``apt-get install dataset-fashion-mnist`` puts the four IDX files
DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
#: label -> name (Xiao et al. 2017)
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "t10k": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path: Path) -> np.ndarray:
    """One gzipped IDX file (LeCun's MNIST format): big-endian magic ``0x0000 type ndim``, the
    ``ndim`` sizes as big-endian int32, then the unsigned bytes row-major.

    Raises:
        DataError: not an unsigned-byte IDX file, or truncated.
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int(v) for v in np.frombuffer(raw, ">i4", ndim, 4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: {data.size} bytes for shape {shape}")
    return data.reshape(shape)


@lru_cache(maxsize=2)
def load_part(root: str, part: str) -> tuple[Tensor, Tensor]:
    """Images ``(n, 1, 28, 28)`` float32 in [0, 1] and labels ``(n,)`` of ``train`` (60,000) or
    ``t10k`` (10,000).

    Raises:
        DataError: the files are missing (with how to install them).
    """
    images_file, labels_file = (Path(root) / name for name in _FILES[part])
    if not images_file.is_file() or not labels_file.is_file():
        raise DataError(f"Fashion-MNIST not found in {root} (no {images_file.name}): install "
                        "Debian's package (`apt-get install dataset-fashion-mnist`) or set "
                        "data.root to a folder holding the four IDX .gz files")
    images = torch.from_numpy(read_idx(images_file).copy()).float().div_(255).unsqueeze(1)
    labels = torch.from_numpy(read_idx(labels_file).astype(np.int64))
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (1, 28, 28):
        raise DataError(f"{root}: {images.shape[0]} images {tuple(images.shape[1:])} for "
                        f"{labels.shape[0]} labels")
    return images, labels


@lru_cache(maxsize=8)
def _build(root: str, split: str, sizes: tuple[int, int, int], seed: int,
           rotation: str) -> tuple[Tensor, Tensor]:
    images, labels = load_part(root, "train")
    index = stratified_split(labels, dict(zip(SPLITS, sizes)), seed)[split]
    g = torch.Generator().manual_seed(seed * 1_000_003 + 17 + SPLITS.index(split))
    x = rotate_images(images[index], rotation, g, key=f"{split}_rotation").clamp_(0, 1)
    return x.contiguous(), labels[index]


def fashion_mnist(split: str = "train", train_size: int = 3000, valid_size: int = 1000,
                  test_size: int = 1000, seed: int = 0, rotation: str = "none",
                  train_rotation: str | None = None, valid_rotation: str | None = None,
                  test_rotation: str | None = None, root: str = DEFAULT_ROOT) -> MNIST:
    """A seeded, label-stratified subset of Fashion-MNIST's 60,000 training images (Xiao et
    al. 2017), split and optionally rotated exactly like ``vision::mnist``, so the two data sets
    are interchangeable in a config.

    Args:
        split: ``train``, ``valid`` or ``test`` (disjoint for the same sizes and seed).
        train_size, valid_size, test_size: images per split (sum <= 60,000).
        seed: drives the split and the random rotations.
        rotation, train_rotation, valid_rotation, test_rotation: as ``vision::mnist``
            (``none``, ``c4``, ``d4``, ``so2``).
        root: folder of the IDX files (default: Debian's ``dataset-fashion-mnist``).

    Shapes:
        item ``image``: ``(1, 28, 28)`` float32 in [0, 1]; ``label``: ``()`` long.

    Raises:
        ConfigError: unknown split or rotation. DataError: files missing or malformed.
    """
    if split not in SPLITS:
        raise ConfigError("split", f"unknown split '{split}'; use one of {SPLITS}")
    override = {"train": train_rotation, "valid": valid_rotation, "test": test_rotation}[split]
    images, labels = _build(str(root), split, (train_size, valid_size, test_size), seed,
                            override or rotation)
    return MNIST(images, labels)
