"""symkit's pytest plugin (entry point ``pytest11: symkit``): fixtures for plugin authors.

Fixtures:
    symkit_registry: :func:`symkit.registry.registry`, e.g. ``symkit_registry("groups")``.
    symkit_plugin: ``symkit_plugin(obj, name="test_plugin")`` loads an in-process plugin
        object through :func:`symkit.plugins.load_plugin` and unloads it after the test.

Parametrize over the registry with :func:`conformance_cases`::

    @pytest.mark.parametrize("group_name, rep_name", conformance_cases(scope="myplugin"))
    def test_reps(group_name, rep_name): ...

This module is imported by every pytest run in an environment where symkit is installed, so it
imports nothing heavy (no torch) at module level. At the start of a session it runs symkit's one
discovery step, :func:`symkit.plugins.ensure_loaded` (as the CLI does), so that tests and their
registry-parametrized cases see every core and plugin part.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

__all__ = ["symkit_registry", "symkit_plugin", "conformance_cases", "buildable_names"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Load core parts and plugins once, before collection parametrizes over the registry."""
    from symkit.plugins import ensure_loaded

    ensure_loaded()


@pytest.fixture
def symkit_registry() -> Callable[[str], Any]:
    """The registry lookup function, every part loaded: ``symkit_registry("reps")``."""
    from symkit.plugins import ensure_loaded
    from symkit.registry import registry

    ensure_loaded()
    return registry


@pytest.fixture
def symkit_plugin() -> Iterator[Callable[..., Any]]:
    """Load in-process plugin objects for one test; every one is unloaded afterwards.

    ``symkit_plugin(obj, name="test_plugin", strict=True)`` returns the
    :class:`symkit.plugins.PluginInfo`; with ``strict`` a failed load raises ``PluginError``.
    """
    from symkit.errors import PluginError
    from symkit.plugins import ensure_loaded, load_plugin, unload_plugin

    ensure_loaded()
    loaded: list[str] = []

    def load(obj: Any, name: str = "test_plugin", *, strict: bool = True):
        info = load_plugin(obj, name)
        loaded.append(name)
        if strict and info.status != "ok":
            raise PluginError(f"plugin '{name}' {info.status}: {info.error}")
        return info

    yield load
    for name in reversed(loaded):
        unload_plugin(name)


def buildable_names(category: str, scope: str | None = None) -> list[str]:
    """Scoped names of a category whose factories need no arguments (``c4``, not ``cyclic``...
    unless every parameter has a default), optionally only those of one ``scope``.

    A part whose factory cannot be imported (a plugin's typo'd ``module:attr`` target, a module
    that raises at import) is listed too: building it raises the
    :class:`~symkit.errors.RegistryError` that names it, so its test case fails with that line
    instead of the whole collection (and every other plugin's cases) breaking."""
    from symkit.errors import RegistryError
    from symkit.plugins import ensure_loaded
    from symkit.registry import registry

    ensure_loaded()
    names = []
    for entry in registry(category).entries():
        if scope is not None and entry.scope != scope:
            continue
        try:
            params = inspect.signature(entry.load()).parameters.values()
        except RegistryError:
            names.append(entry.qualname)
            continue
        except (TypeError, ValueError):
            continue
        if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params):
            names.append(entry.qualname)
    return names


def conformance_cases(scope: str | None = None) -> list[Any]:
    """``pytest.param(group_name, rep_name)`` for every registered group and rep it supports.

    Only parts buildable without arguments take part. With ``scope``, only pairs where the
    group or the rep comes from that scope (a plugin's name, or ``"symkit"`` for core). A group
    or rep whose factory cannot be imported gets one case (id ``unloadable-CATEGORY-NAME``,
    paired with ``so3`` or ``scalar``) whose build raises the ``RegistryError`` naming it.
    """
    from symkit.errors import RegistryError
    from symkit.registry import registry

    cases, built = [], {}
    for category in ("groups", "reps"):
        built[category] = {}
        for name in buildable_names(category):
            try:
                built[category][name] = registry(category).build(name)
            except RegistryError:  # unloadable: one case that fails with the line naming it
                if scope is None or name.split("::")[0] == scope:
                    pair = (name, "scalar") if category == "groups" else ("so3", name)
                    cases.append(pytest.param(*pair, id=f"unloadable-{category}-{_bare(name)}"))
    groups, reps = built["groups"], built["reps"]
    for g_name, group in groups.items():
        for r_name, rep in reps.items():
            in_scope = scope is None or scope in (g_name.split("::")[0], r_name.split("::")[0])
            if in_scope and rep.supports(group):
                cases.append(pytest.param(g_name, r_name, id=f"{_bare(g_name)}-{_bare(r_name)}"))
    return cases


def _bare(name: str) -> str:
    return name.split("::")[-1]
