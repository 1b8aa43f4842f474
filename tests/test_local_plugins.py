"""Local plugins: ``symkit -p MODULE`` and ``SYMKIT_PLUGINS`` load a module of the working
directory, for a user's own data set or backbone, without installing anything."""

from __future__ import annotations

import json
import sys

import pytest

from symkit import plugins
from symkit.cli import main
from symkit.errors import PluginError
from symkit.registry import registry

MODULE = '''
import torch
from torch.utils.data import Dataset

SYMKIT_API_VERSION = 1


class Squares(Dataset):
    def __init__(self, split="train", n=8):
        self.x = torch.arange(float(n)).reshape(n, 1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.x[i] ** 2}


def squares(split: str = "train", n: int = 8) -> Squares:
    """x and x squared."""
    return Squares(split, n)


def symkit_register(register):
    register("datasets", "squares", squares)
'''


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYMKIT_PLUGINS", raising=False)
    yield tmp_path
    for name in ("my_parts", "broken_parts"):
        plugins.unload_plugin(name)
        sys.modules.pop(name, None)


def test_dash_p_loads_a_module_of_the_working_directory(workdir, capsys):
    (workdir / "my_parts.py").write_text(MODULE)
    assert main(["-p", "my_parts", "list", "datasets", "*squares*", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["my_parts::squares"]
    assert len(registry("datasets").build("squares", n=3)) == 3


def test_environment_variable_loads_it_too(workdir, monkeypatch):
    (workdir / "my_parts.py").write_text(MODULE)
    monkeypatch.setenv("SYMKIT_PLUGINS", "my_parts")
    plugins.reset()
    plugins.ensure_loaded()
    assert "my_parts::squares" in registry("datasets")
    info = next(i for i in plugins.plugin_report() if i.name == "my_parts")
    assert info.status == "ok" and "local module my_parts" in info.source


def test_a_broken_local_module_is_an_error_when_asked_for_by_name(workdir, capsys):
    (workdir / "broken_parts.py").write_text("raise ImportError('no such thing')\n")
    assert main(["-p", "broken_parts", "list", "datasets"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symkit: error: --plugin: plugin 'broken_parts' import failed: "
                          "ImportError: no such thing (a module in the working directory")
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(PluginError, match="does not declare SYMKIT_API_VERSION"):
        (workdir / "broken_parts.py").write_text("x = 1\n")
        sys.modules.pop("broken_parts", None)
        plugins.load_local_plugins(["broken_parts"])
