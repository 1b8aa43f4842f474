"""Security boundaries (docs/security.md): YAML builds only registered parts, checkpoints are
data, no pickled models by default, plugins can be disabled by name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from symkit.config import load_config
from symkit.errors import CheckpointError, ConfigError, SymkitError
from symkit.runner.checkpoint import load_checkpoint
from symkit.runner.parts import read_config
from symkit.runner.schema import TrackingConfig

ROOT = Path(__file__).parents[2]


def _payloads(marker: Path) -> list[str]:
    cmd = f"touch {marker}"
    return [
        f"x: !!python/object/apply:os.system ['{cmd}']",
        f"x: !!python/object/new:os.system ['{cmd}']",
        "x: !!python/name:os.system",
        f"x: !python/object/apply:os.system ['{cmd}']",
        f"!!python/object/apply:subprocess.call [['touch', '{marker}']]",
        f"model: {{backbone: !!python/object/apply:os.system ['{cmd}']}}",
    ]


@pytest.mark.parametrize("index", range(6))
def test_yaml_object_tags_are_rejected_without_running(tmp_path, index):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(_payloads(marker)[index] + "\n")
    with pytest.raises(ConfigError, match="(?i)tag|mapping|invalid YAML"):
        load_config(path)
    assert not marker.exists()


@pytest.mark.parametrize("value", ["!!python/object/apply:os.system ['touch {m}']",
                                   "!!python/name:os.system"])
def test_override_tags_are_rejected_without_running(tmp_path, value):
    marker = tmp_path / "pwned"
    with pytest.raises(SymkitError):
        cfg = load_config({"model": {"group": "e3"}}, [f"model.group={value.format(m=marker)}"])
        read_config(cfg, require=())
    assert not marker.exists()


@pytest.mark.parametrize("name", ["os:system", "os.system", "builtins.eval", "subprocess:run",
                                  "symkit.registry:register", "../../evil", "__import__"])
def test_only_registered_names_are_buildable(fakes, tmp_path, name):
    cfg = fakes.toy_config(tmp_path)
    cfg["model"]["backbone"]["type"] = name
    with pytest.raises(ConfigError) as info:
        read_config(cfg)
    assert info.value.key == "model.backbone.type"


@pytest.mark.parametrize("where", [("model", "backbone"), ("train",), ("model",), ()])
def test_target_style_keys_are_unknown_options(fakes, tmp_path, where):
    cfg = fakes.toy_config(tmp_path)
    node = cfg
    for key in where:
        node = node[key]
    node["_target_"] = "os.system"
    with pytest.raises(ConfigError, match="unknown"):
        read_config(cfg)


def test_pickled_objects_in_checkpoints_are_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "last.pt"
    torch.save({"model": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()


def test_every_torch_load_is_weights_only():
    offenders = []
    for folder in ("symkit", "plugins", "contrib"):
        for path in (ROOT / folder).rglob("*.py"):
            for line in path.read_text().splitlines():
                docstring_example = "weights_path()" in line  # FieldAdapter's docstring
                if "torch.load(" in line and "weights_only=True" not in line and not (
                        docstring_example):
                    offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []


def test_no_pickled_models_by_default():
    assert TrackingConfig().log_model is False


def test_plugins_can_be_disabled_by_name(monkeypatch):
    from types import ModuleType

    from symkit import plugins
    from symkit.hookspecs import hookimpl

    ran = []
    plugin = ModuleType("untrusted_plugin")
    plugin.SYMKIT_API_VERSION = 1
    plugin.symkit_register = hookimpl(lambda register: ran.append(True))
    monkeypatch.setenv("SYMKIT_DISABLE_PLUGINS", "other, untrusted")
    try:
        info = plugins.load_plugin(plugin, "untrusted")
        assert info.status == "disabled" and ran == []
    finally:
        plugins.unload_plugin("untrusted")
