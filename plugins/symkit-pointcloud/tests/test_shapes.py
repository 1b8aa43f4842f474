"""The generated ``shapes`` data set."""

from __future__ import annotations

import pytest
import torch
from symkit_pointcloud.datasets import SURFACES, shapes

from symkit.errors import ConfigError


def test_items_and_sizes():
    data = shapes("valid", num_points=64, valid_size=30)
    assert len(data) == 30 and data.num_classes == len(SURFACES) >= 10
    item = data[0]
    assert set(item) == {"pos", "label"}
    assert item["pos"].shape == (64, 3) and item["pos"].dtype == torch.float32
    assert item["label"].shape == () and item["label"].dtype == torch.long
    assert data.pos.isfinite().all() and data.pos.norm(dim=-1).max() < 2


def test_deterministic_per_split_and_seed():
    a = shapes("train", num_points=32, train_size=24, random_rotation=True)
    b = shapes("train", num_points=32, train_size=24, random_rotation=True)
    assert torch.equal(a.pos, b.pos) and torch.equal(a.labels, b.labels)
    c = shapes("test", num_points=32, test_size=24, random_rotation=True)
    d = shapes("train", num_points=32, train_size=24, random_rotation=True, seed=1)
    assert not torch.equal(a.pos, c.pos) and not torch.equal(a.pos, d.pos)


def test_classes_balanced():
    data = shapes("train", num_points=16, train_size=100)
    counts = torch.bincount(data.labels, minlength=data.num_classes)
    assert int(counts.max() - counts.min()) <= 1


def test_random_rotation_keeps_shape():
    """The rotated data set is the upright one rotated: same radial profile of each cloud."""
    up = shapes("valid", num_points=256, valid_size=12, noise=0.0)
    turned = shapes("valid", num_points=256, valid_size=12, noise=0.0, random_rotation=True)
    assert torch.equal(up.labels, turned.labels)
    assert not torch.allclose(up.pos, turned.pos)
    cov_up = torch.linalg.eigvalsh(up.pos.transpose(1, 2) @ up.pos)
    cov_turned = torch.linalg.eigvalsh(turned.pos.transpose(1, 2) @ turned.pos)
    torch.testing.assert_close(cov_up, cov_turned, rtol=1e-4, atol=1e-4)


def test_unknown_class_and_subset():
    with pytest.raises(ConfigError, match="unknown shape"):
        shapes("train", classes=["sphere", "donut"])
    data = shapes("train", num_points=8, train_size=10, classes=["sphere", "torus"])
    assert data.num_classes == 2 and set(data.labels.tolist()) == {0, 1}
