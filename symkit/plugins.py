"""Plugin discovery: entry-point group ``symkit``, loaded one plugin at a time.

A plugin is a module (or object) named by an entry point in the group ``symkit``. It declares
``SYMKIT_API_VERSION`` and implements hooks from :mod:`symkit.hookspecs` (decorated with
``symkit.hookspecs.hookimpl``, or plain functions named ``symkit_*``). Its parts are registered
under its entry-point name as scope (``name::part``). A plugin that fails to import, uses an
unknown hook, declares an unsupported API version or raises while registering is reported and
skipped; registration is transactional, so a failed plugin leaves nothing registered. Every
way of failing counts, ``SystemExit`` (a module that parses the command line at import) and
``KeyboardInterrupt`` included; the latter is reported, then raised again. What a plugin prints
while it is imported is held back and shown only if the import succeeds (a failed plugin's last
line goes into its report), so a plugin's usage line never looks like symkit's.

Environment switches:
    SYMKIT_DISABLE_PLUGIN_AUTOLOAD=1   load no entry-point plugins (core parts only)
    SYMKIT_DISABLE_PLUGINS=a,b         skip the named plugins (status ``disabled``)
    SYMKIT_STRICT_PLUGINS=1            any plugin failure raises PluginError (for CI)
    SYMKIT_DEBUG=1                     print the traceback of each plugin failure
    SYMKIT_PLUGINS=mod_a,mod_b         also load these modules, importable from the working
                                       directory, as local plugins (``symkit -p MODULE``)

A local plugin is a module of the user's own (``my_parts.py`` next to the YAML) with the same
protocol as an installed one: ``SYMKIT_API_VERSION`` and a ``symkit_register`` hook. Its parts
are registered under the module name as scope (``my_parts::molecules``); YAML still names
registered parts only.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import os
import sys
import traceback
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from symkit import hookspecs
from symkit.errors import PluginError, SymkitError
from symkit.registry import SEP, mark_loaded, registry

__all__ = [
    "API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "ENTRY_POINT_GROUP",
    "CORE_MODULES",
    "PluginInfo",
    "ensure_loaded",
    "load_plugin",
    "load_local_plugins",
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
    "symkit.canonicalizers",
    "symkit.symmetrizers.learned",
    "symkit.backbones",
    "symkit.losses",
    "symkit.optim",
    "symkit.data",
)
_HOOK_PREFIX = "symkit_"


@dataclass
class PluginInfo:
    """What happened to one plugin: ``status`` is ``ok``, ``failed`` or ``disabled``.

    ``registered`` lists ``(category, scoped name)`` of every part it added.
    """

    name: str
    version: str = ""
    source: str = ""
    status: str = "ok"
    error: str = ""
    registered: list[tuple[str, str]] = field(default_factory=list)
    _plugin: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "registered": [list(r) for r in self.registered],
        }


class _PluginManager(pluggy.PluginManager):
    """Also takes undecorated functions named ``symkit_*`` as hook implementations."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith(_HOOK_PREFIX):
            value = inspect.getattr_static(plugin, name, None)
            if inspect.isroutine(value) or isinstance(value, (staticmethod, classmethod)):
                return {}
        return opts


_manager: _PluginManager | None = None
_report: list[PluginInfo] = []
_loaded = False
_fatal: PluginError | None = None


def _pm() -> _PluginManager:
    global _manager
    if _manager is None:
        _manager = _PluginManager("symkit")
        _manager.add_hookspecs(hookspecs.SymkitHookSpecs)
    return _manager


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _disabled_names() -> set[str]:
    raw = os.environ.get("SYMKIT_DISABLE_PLUGINS", "")
    return {n.strip() for n in raw.split(",") if n.strip()}


def ensure_loaded() -> None:
    """Import core parts, then discover entry-point plugins (once per process).

    This is symkit's one discovery step; registry lookups never trigger it. It is called by
    the entry points that resolve names (the CLI, :func:`symkit.config.validate`,
    :func:`symkit.config.build`, :func:`symkit.build_model`, :func:`symkit.symmetrize`, the
    :mod:`symkit.testing` helpers); call it yourself before ``registry(...).get`` of a plugin
    part. With ``SYMKIT_DISABLE_PLUGIN_AUTOLOAD=1`` it imports the core parts only.

    In strict mode (``SYMKIT_STRICT_PLUGINS=1``) every plugin is tried, then one
    :class:`PluginError` lists the failures; later calls raise it again.
    """
    global _loaded, _fatal
    if _loaded:
        if _fatal is not None:
            raise _fatal
        return
    _loaded = True
    mark_loaded()
    for module in CORE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a core package not written yet
            if exc.name != module:
                raise
    if _flag("SYMKIT_DISABLE_PLUGIN_AUTOLOAD"):
        return
    failed = [_load_entry_point(ep) for ep in _discover()]
    failed += [_load_local(name) for name in _local_names()]
    failed = [info for info in failed if info.status == "failed"]
    if failed and _flag("SYMKIT_STRICT_PLUGINS"):
        lines = "\n".join(f"  {info.name}: {info.error}" for info in failed)
        _fatal = PluginError(f"{len(failed)} plugin(s) failed (SYMKIT_STRICT_PLUGINS=1):\n{lines}")
        raise _fatal


LOCAL_ENV = "SYMKIT_PLUGINS"


def _local_names() -> list[str]:
    raw = os.environ.get(LOCAL_ENV, "")
    return list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))


def _load_local(name: str, *, strict: bool | None = None) -> PluginInfo:
    """Import module ``name`` (the working directory first on the path) and load it."""
    loaded = next((i for i in _report if i.name == name and i.status == "ok"), None)
    if loaded is not None:
        return loaded
    source = f"local module {name} (from {os.getcwd()})"
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - reported, like any plugin that fails to import
        strict = _flag("SYMKIT_STRICT_PLUGINS") if strict is None else strict
        return _fail(PluginInfo(name, source=source), f"import failed: {_short(exc)}", exc,
                     strict=strict)
    finally:
        if added:
            sys.path.remove(cwd)
    return load_plugin(module, name, source=source, strict=strict)


def load_local_plugins(names: list[str]) -> list[PluginInfo]:
    """Load modules from the working directory as plugins, now (``symkit -p MODULE``).

    Raises:
        PluginError: a module cannot be imported or is not a valid plugin (the user asked for
            it by name, so this is never silently skipped).
    """
    ensure_loaded()
    return [_load_local(name, strict=True) for name in names]


def _discover() -> list[EntryPoint]:
    eps = entry_points(group=ENTRY_POINT_GROUP)
    return sorted(eps, key=lambda ep: (ep.name, _dist_name(ep), ep.value))


def _load_entry_point(ep: EntryPoint) -> PluginInfo:
    version = _dist_version(ep)
    source = f"{ep.value} ({_dist_name(ep)} {version})".replace(" ()", "")
    if ep.name in _disabled_names():
        return _record(PluginInfo(ep.name, version, source, status="disabled"))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            obj = ep.load()
    except BaseException as exc:  # noqa: BLE001 - every import failure is reported, not fatal
        lines = [line for line in printed.getvalue().splitlines() if line.strip()]
        said = f" (it printed: {lines[-1].strip()!r})" if lines else ""
        info = _fail(PluginInfo(ep.name, version, source), f"import failed: {_short(exc)}{said}",
                     exc)
        _reraise_interrupt(exc)
        return info
    sys.stdout.write(printed.getvalue())  # a plugin that imported fine may print what it likes
    return load_plugin(obj, ep.name, version=version, source=source, strict=False)


def _reraise_interrupt(exc: BaseException) -> None:
    """Ctrl-C is the user's, not the plugin's: raise it again once the plugin is reported."""
    if isinstance(exc, KeyboardInterrupt):
        raise exc


def load_plugin(
    obj: Any, name: str, *, version: str = "", source: str = "", strict: bool | None = None
) -> PluginInfo:
    """Validate one plugin object and register its parts under the scope ``name``.

    Failures are recorded in the report; they raise :class:`PluginError` when ``strict``
    (default: ``SYMKIT_STRICT_PLUGINS``). Tests use this to register in-process plugins and
    :func:`unload_plugin` to undo it.
    """
    strict = _flag("SYMKIT_STRICT_PLUGINS") if strict is None else strict
    info = PluginInfo(
        name, version or str(getattr(obj, "__version__", "")), source or _describe(obj)
    )
    if name in _disabled_names():
        info.status = "disabled"
        return _record(info)
    problem = _check_api(obj)
    if problem:
        return _fail(info, problem, strict=strict)
    pm = _pm()
    try:
        pm.register(obj)
    except BaseException as exc:  # noqa: BLE001 - e.g. a hook with arguments the spec lacks
        _fail(info, f"rejected: {_short(exc)}", exc, strict=strict)
        _reraise_interrupt(exc)
        return info
    info._plugin = obj
    unknown = sorted(
        hc.name for hc in pm.get_hookcallers(obj) or () if not hc.has_spec()
    )
    if unknown:
        pm.unregister(obj)
        known = sorted(n for n in dir(hookspecs.SymkitHookSpecs) if n.startswith(_HOOK_PREFIX))
        return _fail(
            info, f"implements unknown hook(s) {unknown}; known hooks: {known}", strict=strict
        )
    try:
        info.registered = _register_parts(pm, obj, name, origin=f"plugin {name} from {info.source}")
    except BaseException as exc:  # noqa: BLE001 - the plugin's own code raised (or exited)
        pm.unregister(obj)
        _fail(info, f"failed while registering: {_short(exc)}", exc, strict=strict)
        _reraise_interrupt(exc)
        return info
    return _record(info)


def _check_api(obj: Any) -> str:
    if not hasattr(obj, "SYMKIT_API_VERSION"):
        return f"does not declare SYMKIT_API_VERSION (this symkit provides {API_VERSION})"
    api = obj.SYMKIT_API_VERSION
    if not isinstance(api, int) or api not in SUPPORTED_API_VERSIONS:
        return (
            f"declares SYMKIT_API_VERSION={api!r}; this symkit supports "
            f"{sorted(SUPPORTED_API_VERSIONS)}"
        )
    return ""


def _register_parts(
    pm: pluggy.PluginManager, obj: Any, scope: str, *, origin: str
) -> list[tuple[str, str]]:
    """Run the plugin's ``symkit_register`` and add what it staged, all or nothing."""
    staged: list[tuple[str, str, Any]] = []

    def register_part(category: str, part: str, target: Any) -> None:
        registry(category)  # an unknown category fails here, naming the categories
        if SEP in part and part.split(SEP, 1)[0] != scope:
            raise PluginError(
                f"plugins register in their own scope '{scope}'; cannot register '{part}'"
            )
        staged.append((category, part.split(SEP)[-1], target))

    others = [p for p in pm.get_plugins() if p is not obj]
    pm.subset_hook_caller("symkit_register", remove_plugins=others)(register=register_part)
    added: list[tuple[str, str]] = []
    try:
        for category, part, target in staged:
            entry = registry(category).add(part, target, scope=scope, origin=origin)
            added.append((category, entry.qualname))
    except BaseException:
        for category, qualname in added:
            registry(category).remove(qualname, missing_ok=True)
        raise
    return added


def unload_plugin(name: str) -> None:
    """Undo :func:`load_plugin`: unregister every plugin ``name`` and every part it added."""
    for info in [i for i in _report if i.name == name]:
        _report.remove(info)
        for category, qualname in info.registered:
            registry(category).remove(qualname, missing_ok=True)
        if info._plugin is not None and _pm().is_registered(info._plugin):
            _pm().unregister(info._plugin)


def plugin_report() -> list[PluginInfo]:
    """Every plugin seen, in name order, with its status and what it registered."""
    ensure_loaded()
    return sorted(_report, key=lambda i: i.name)


def reset() -> None:
    """Unload every plugin so the next :func:`ensure_loaded` discovers them again (tests)."""
    global _loaded, _fatal
    for name in {i.name for i in _report}:
        unload_plugin(name)
    _loaded = False
    _fatal = None
    mark_loaded(False)
    importlib.invalidate_caches()


def _record(info: PluginInfo) -> PluginInfo:
    _report.append(info)
    return info


def _fail(
    info: PluginInfo, message: str, exc: BaseException | None = None, *, strict: bool = False
) -> PluginInfo:
    info.status = "failed"
    info.error = message
    _record(info)
    if exc is not None and _flag("SYMKIT_DEBUG"):
        traceback.print_exception(exc, file=sys.stderr)
    if strict:
        raise PluginError(f"plugin '{info.name}' {message}") from exc
    return info


def _short(exc: BaseException) -> str:
    if isinstance(exc, SymkitError):
        return str(exc)
    if isinstance(exc, SystemExit):
        return (f"it called sys.exit({exc.code!r}) (does it parse the command line, e.g. with "
                "argparse, when imported? that belongs under `if __name__ == '__main__':`)")
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt)"
    return f"{type(exc).__name__}: {exc}"


def _describe(obj: Any) -> str:
    return getattr(obj, "__name__", None) or type(obj).__name__


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return str(getattr(dist, "name", "") or "")


def _dist_version(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return str(getattr(dist, "version", "") or "")
