"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` files: IDX reading, splits, errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from symkit_vision.datasets import fashion_mnist, read_idx
from symkit_vision.datasets._fashion import DEFAULT_ROOT

from symkit.errors import ConfigError, DataError
from symkit.registry import registry

INSTALLED = (Path(DEFAULT_ROOT) / "train-images-idx3-ubyte.gz").is_file()
needs_package = pytest.mark.skipif(
    not INSTALLED, reason=f"Fashion-MNIST absent: no {DEFAULT_ROOT} (apt-get install "
    "dataset-fashion-mnist; scripts/setup.sh tries it where apt-get works)")


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _fake_root(tmp_path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


def test_idx_round_trip_and_malformed(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", array)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)
    with gzip.open(tmp_path / "b.gz", "wb") as f:
        f.write(bytes([0, 0, 0x0D, 1]) + np.array([3], ">i4").tobytes() + bytes(12))
    with pytest.raises(DataError, match="unsigned-byte"):
        read_idx(tmp_path / "b.gz")
    with gzip.open(tmp_path / "c.gz", "wb") as f:
        f.write(bytes([0, 0, 0x08, 1]) + np.array([5], ">i4").tobytes() + bytes(3))
    with pytest.raises(DataError, match="3 bytes"):
        read_idx(tmp_path / "c.gz")


def test_splits_and_rotation_from_any_root(tmp_path):
    root = str(_fake_root(tmp_path))
    sizes = {"train_size": 20, "valid_size": 10, "test_size": 10}
    parts = {s: fashion_mnist(s, root=root, **sizes) for s in ("train", "valid", "test")}
    assert [len(p) for p in parts.values()] == [20, 10, 10]
    assert torch.cat([p.labels for p in parts.values()]).bincount().tolist() == [4] * 10
    upright = fashion_mnist("test", root=root, **sizes)
    turned = fashion_mnist("test", root=root, test_rotation="c4", **sizes)
    assert not torch.equal(upright.images, turned.images)
    pixels = [d.images.flatten(1).sort(1).values for d in (upright, turned)]
    assert torch.equal(*pixels)  # rot90 permutes the pixels of each image
    with pytest.raises(ConfigError, match="split"):
        fashion_mnist("dev", root=root)


def test_missing_files_name_the_package(tmp_path):
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        fashion_mnist(root=str(tmp_path))


@needs_package
def test_installed_package_is_read():
    data = registry("datasets").build("vision::fashion_mnist", split="valid")
    assert len(data) == 1000 and data[0]["image"].shape == (1, 28, 28)
    counts = torch.bincount(data.labels, minlength=10)
    assert counts.tolist() == [100] * 10
    assert 0.2 < float(data.images.mean()) < 0.4  # Fashion-MNIST's mean pixel is 0.286
