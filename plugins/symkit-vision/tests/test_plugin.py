"""The plugin is discovered through its entry point and its parts build from the registry."""

from __future__ import annotations

from symkit.plugins import plugin_report
from symkit.registry import registry


def test_discovered_and_registered():
    info = {p.name: p for p in plugin_report()}["vision"]
    assert info.status == "ok", info.error
    assert set(info.registered) == {
        ("datasets", "vision::mnist"),
        ("datasets", "vision::fashion_mnist"),
        ("backbones", "vision::cnn_classifier"),
        ("backbones", "vision::resnet_small"),
        ("canonicalizers", "vision::spatial_transformer"),
        ("canonicalizers", "vision::equivariant_transformer"),
    }
    assert info.version == "0.1.0"


def test_build_through_registry():
    data = registry("datasets").build("vision::mnist", split="valid", valid_size=8)
    model = registry("backbones").build("vision::cnn_classifier", channels=[8])
    batch = {"image": data.images}
    assert model(batch)["logits"].shape == (8, 10)
