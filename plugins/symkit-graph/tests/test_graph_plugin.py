"""The plugin is found through its entry point and registers its parts."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
import symkit_graph

from symkit.plugins import plugin_report
from symkit.registry import registry

INSTALLED = any(ep.name == "graph" for ep in entry_points(group="symkit"))


def test_declares_api():
    assert symkit_graph.SYMKIT_API_VERSION == 1
    assert symkit_graph.__version__


@pytest.mark.skipif(not INSTALLED, reason="pip install -e plugins/symkit-graph first")
def test_discovered_and_registered():
    info = {p.name: p for p in plugin_report()}["graph"]
    assert info.status == "ok", info.error
    assert set(info.registered) == {
        ("backbones", "graph::gnn"), ("backbones", "graph::egnn"), ("datasets", "graph::nbody"),
        ("datasets", "graph::clusters"), ("symmetrizers", "graph::local_frames"),
    }
    assert len(registry("datasets").build("graph::nbody", split="valid", max_samples=4)) == 4


@pytest.mark.skipif(not INSTALLED, reason="pip install -e plugins/symkit-graph first")
def test_builds_from_config_with_context():
    from symkit.config import build

    model = build({"type": "gnn", "hidden": 8, "edge_distance": True}, "backbones",
                  key="model.backbone")
    assert model.reads == ["pos", "vel", "charge"] and model.out == "target"
