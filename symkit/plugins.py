"""Plugin discovery: entry-point group ``symkit``, loaded one plugin at a time.

A plugin is a module (or object) named by an entry point in the group ``symkit``. It declares
``SYMKIT_API_VERSION`` and implements hooks from :mod:`symkit.hookspecs`. A plugin that fails to
import, uses an unknown hook, declares an unsupported API version or raises while registering is
reported and skipped; the rest keep working.

Environment switches:
    SYMKIT_DISABLE_PLUGIN_AUTOLOAD=1   load no entry-point plugins (core parts only)
    SYMKIT_DISABLE_PLUGINS=a,b         skip the named plugins
    SYMKIT_STRICT_PLUGINS=1            any plugin failure raises PluginError (for CI)
"""

from __future__ import annotations

import importlib
import os
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from symkit import hookspecs
from symkit.errors import PluginError, SymkitError

__all__ = [
    "API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "PluginInfo",
    "ensure_loaded",
    "load_plugin",
    "unload_plugin",
    "plugin_report",
    "reset",
]

#: The plugin API version this symkit provides; plugins declare ``SYMKIT_API_VERSION``.
API_VERSION = 1
SUPPORTED_API_VERSIONS = frozenset({1})
ENTRY_POINT_GROUP = "symkit"
CORE_MODULES = (
    "symkit.groups",
    "symkit.reps",
    "symkit.symmetrizers",
    "symkit.backbones",
    "symkit.losses",
    "symkit.optim",
)


@dataclass
class PluginInfo:
    """What happened to one plugin: ``status`` is ``ok``, ``failed`` or ``disabled``."""

    name: str
    version: str = ""
    source: str = ""
    status: str = "ok"
    error: str = ""
    registered: list[tuple[str, str]] = field(default_factory=list)


_manager: pluggy.PluginManager | None = None
_report: dict[str, PluginInfo] = {}
_loaded = False


def _pm() -> pluggy.PluginManager:
    global _manager
    if _manager is None:
        _manager = pluggy.PluginManager("symkit")
        _manager.add_hookspecs(hookspecs.SymkitHookSpecs)
    return _manager


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _disabled_names() -> set[str]:
    raw = os.environ.get("SYMKIT_DISABLE_PLUGINS", "")
    return {n.strip() for n in raw.split(",") if n.strip()}


def ensure_loaded() -> None:
    """Import core parts, then discover entry-point plugins (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in CORE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a core package not written yet
            if exc.name != module:
                raise
    if _flag("SYMKIT_DISABLE_PLUGIN_AUTOLOAD"):
        return
    disabled = _disabled_names()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        version = _dist_version(ep)
        if ep.name in disabled:
            _report[ep.name] = PluginInfo(ep.name, version, ep.value, status="disabled")
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not fatal
            _fail(PluginInfo(ep.name, version, ep.value), f"import failed: {_short(exc)}", exc)
            continue
        load_plugin(obj, ep.name, version=version, source=ep.value)


def load_plugin(obj: Any, name: str, *, version: str = "", source: str = "") -> PluginInfo:
    """Validate and register one plugin object; failures are reported (raised when strict)."""
    from symkit.registry import registry

    info = PluginInfo(name, version or str(getattr(obj, "__version__", "")), source or repr(obj))
    if name in _disabled_names():
        info.status = "disabled"
        _report[name] = info
        return info
    api = getattr(obj, "SYMKIT_API_VERSION", None)
    if api not in SUPPORTED_API_VERSIONS:
        return _fail(
            info,
            f"declares SYMKIT_API_VERSION={api!r}; this symkit supports "
            f"{sorted(SUPPORTED_API_VERSIONS)} (API version {API_VERSION})",
        )
    known = {n for n in dir(hookspecs.SymkitHookSpecs) if n.startswith("symkit_")}
    unknown = sorted(
        n
        for n in dir(obj)
        if n.startswith("symkit_") and callable(getattr(obj, n)) and n not in known
    )
    if unknown:
        return _fail(info, f"implements unknown hook(s) {unknown}; known hooks: {sorted(known)}")
    staged: list[tuple[str, str, Any]] = []

    def register_part(category: str, part: str, target: Any) -> None:
        staged.append((category, part, target))

    pm = _pm()
    try:
        pm.register(obj, name=name)
    except Exception as exc:  # noqa: BLE001
        return _fail(info, f"rejected by pluggy: {_short(exc)}", exc)
    try:
        others = [p for p in pm.get_plugins() if p is not obj]
        pm.subset_hook_caller("symkit_register", remove_plugins=others)(register=register_part)
        added = []
        try:
            for category, part, target in staged:
                entry = registry(category).add(part, target, scope=name, origin=f"plugin {name}")
                added.append(entry)
        except Exception:
            for entry in added:
                registry(entry.category)._entries.pop(entry.qualname, None)
            raise
    except Exception as exc:  # noqa: BLE001
        pm.unregister(obj)
        return _fail(info, f"failed while registering: {_short(exc)}", exc)
    info.registered = [(e.category, e.qualname) for e in added]
    _report[name] = info
    return info


def unload_plugin(name: str) -> None:
    """Undo :func:`load_plugin`: unregister the plugin and every part it registered."""
    from symkit.registry import registry

    info = _report.pop(name, None)
    if info is not None:
        for category, qualname in info.registered:
            registry(category)._entries.pop(qualname, None)
    plugin = _pm().get_plugin(name)
    if plugin is not None:
        _pm().unregister(plugin)


def plugin_report() -> list[PluginInfo]:
    """Every plugin seen, in name order, with its status and what it registered."""
    ensure_loaded()
    return [_report[k] for k in sorted(_report)]


def reset() -> None:
    """Forget entry-point plugins so the next lookup discovers them again (tests)."""
    global _loaded
    for name in list(_report):
        unload_plugin(name)
    _loaded = False


def _fail(info: PluginInfo, message: str, exc: BaseException | None = None) -> PluginInfo:
    info.status = "failed"
    info.error = message
    _report[info.name] = info
    if _flag("SYMKIT_STRICT_PLUGINS"):
        raise PluginError(f"plugin '{info.name}' {message}") from exc
    if exc is not None and os.environ.get("SYMKIT_DEBUG"):
        traceback.print_exception(exc)
    return info


def _short(exc: BaseException) -> str:
    if isinstance(exc, SymkitError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _dist_version(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return str(getattr(dist, "version", "") or "")
