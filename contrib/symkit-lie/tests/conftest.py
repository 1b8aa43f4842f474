"""Make the plugin available to its tests whether or not it is pip-installed.

Installed, symkit discovers it through its entry point. Otherwise the package is put on
``sys.path`` and loaded in-process for this directory's tests only, then unloaded.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

try:
    import symkit_lie
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import symkit_lie

INSTALLED = any(ep.name == "lie" for ep in entry_points(group="symkit"))


@pytest.fixture(scope="session", autouse=True)
def lie_plugin():
    from symkit.plugins import ensure_loaded, load_plugin, unload_plugin

    ensure_loaded()
    if INSTALLED:
        yield
        return
    load_plugin(symkit_lie, "lie", strict=True)
    yield
    unload_plugin("lie")
