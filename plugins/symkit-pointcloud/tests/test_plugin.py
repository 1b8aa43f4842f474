"""The plugin is discovered through its entry point and registers its parts lazily."""

from __future__ import annotations

from symkit.plugins import plugin_report
from symkit.registry import registry


def test_discovered_and_registered():
    info = {p.name: p for p in plugin_report()}["pointcloud"]
    assert info.status == "ok", info.error
    assert set(info.registered) >= {
        ("backbones", "pointcloud::pointnet"),
        ("backbones", "pointcloud::dgcnn"),
        ("datasets", "pointcloud::shapes"),
    }
    assert info.version == "0.1.0"


def test_build_through_registry():
    data = registry("datasets").build("pointcloud::shapes", split="test", num_points=8, test_size=4)
    model = registry("backbones").build("pointcloud::pointnet", writes={"logits": [12]})
    batch = {"pos": data.pos}
    assert model(batch)["logits"].shape == (4, 12)
