"""The shipped MNIST subset: sizes, balance, determinism, rotations."""

from __future__ import annotations

import pytest
import torch
from symkit_vision.datasets import load_raw, mnist, stratified_split

from symkit.errors import ConfigError, DataError


def test_raw_data_shipped_with_package():
    images, labels = load_raw()
    assert images.shape == (5000, 1, 28, 28) and images.dtype == torch.float32
    assert 0 <= float(images.min()) and float(images.max()) <= 1
    assert torch.bincount(labels).tolist() == [500] * 10


def test_sizes_balance_and_disjoint():
    splits = {s: mnist(s) for s in ("train", "valid", "test")}
    assert [len(d) for d in splits.values()] == [3000, 1000, 1000]
    for d in splits.values():
        counts = torch.bincount(d.labels, minlength=10)
        assert int(counts.max() - counts.min()) <= 1
    item = splits["train"][0]
    assert set(item) == {"image", "label"}
    assert item["image"].shape == (1, 28, 28) and item["label"].dtype == torch.long
    index = stratified_split(load_raw()[1], {"train": 3000, "valid": 1000, "test": 1000}, 0)
    assert torch.cat(list(index.values())).unique().numel() == 5000  # disjoint, all used
    small = mnist("valid", train_size=10, valid_size=25, test_size=5)
    counts = torch.bincount(small.labels, minlength=10)
    assert len(small) == 25 and int(counts.max() - counts.min()) <= 1
    with pytest.raises(DataError):
        mnist("train", train_size=4000, valid_size=1000, test_size=1000)


def test_deterministic_and_seeded():
    a, b = mnist("test", rotation="so2"), mnist("test", rotation="so2")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    c = mnist("test", seed=1)
    assert not torch.equal(mnist("test").labels, c.labels)


def matches_some_rot90(x: torch.Tensor, y: torch.Tensor, reflections: bool) -> list[int]:
    """For each image pair, the index of the exact D4 transform of ``x`` equal to ``y``
    (-1 if none)."""
    out = []
    for xi, yi in zip(x, y):
        candidates = [torch.rot90(xi, k, (-2, -1)) for k in range(4)]
        if reflections:
            candidates += [torch.rot90(torch.flip(xi, (-2,)), k, (-2, -1)) for k in range(4)]
        hits = [i for i, c in enumerate(candidates) if torch.equal(c, yi)]
        out.append(hits[0] if hits else -1)
    return out


@pytest.mark.parametrize("rotation", ["c4", "d4"])
def test_exact_rotations(rotation):
    up = mnist("test", test_size=200, train_size=10, valid_size=10)
    turned = mnist("test", test_size=200, train_size=10, valid_size=10, test_rotation=rotation)
    assert torch.equal(up.labels, turned.labels)
    which = matches_some_rot90(up.images, turned.images, rotation == "d4")
    assert -1 not in which  # bit-exact rot90/flip of the upright digit
    assert len(set(which)) == (4 if rotation == "c4" else 8)  # all elements occur


def test_per_split_override_and_so2():
    kwargs = dict(train_size=50, valid_size=50, test_size=50, rotation="so2")
    train = mnist("train", train_rotation="none", **kwargs)
    assert torch.equal(train.images, mnist("train", **{**kwargs, "rotation": "none"}).images)
    test = mnist("test", **kwargs)
    up = mnist("test", **{**kwargs, "rotation": "none"})
    assert not torch.equal(test.images, up.images)
    assert 0 <= float(test.images.min()) and float(test.images.max()) <= 1
    # rotation keeps the ink roughly (bilinear resampling, corners of a digit are empty)
    torch.testing.assert_close(test.images.sum((1, 2, 3)), up.images.sum((1, 2, 3)), rtol=0.1,
                               atol=1.0)
    with pytest.raises(ConfigError, match="unknown rotation"):
        mnist("test", test_rotation="c5", test_size=5)


def test_pad_to_odd_size():
    d = mnist("valid", valid_size=20, pad_to=29, valid_rotation="c4")
    assert d[0]["image"].shape == (1, 29, 29)
