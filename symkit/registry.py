"""Named, scoped registries of buildable parts, one per category.

A part is registered under ``scope::name`` (core parts use the scope ``symkit``, a plugin its
own name). Lookups accept the scoped name or, when unambiguous, the bare name. A target may be
the factory itself or a lazy ``"module:attribute"`` string that is imported on first use.

Lookups have no side effect: a registry holds what has been registered so far. Core parts
register when their module is imported, plugins when :func:`symkit.plugins.ensure_loaded` runs
(once per process). The entry points of symkit call it before they resolve a name: the CLI,
:func:`symkit.config.validate` and :func:`symkit.config.build` (hence the runner),
:func:`symkit.build_model`, :func:`symkit.symmetrize` and the :mod:`symkit.testing` helpers.
Code that calls ``registry(...).get`` itself calls ``ensure_loaded()`` first; a name missed
before that fails with an :class:`~symkit.errors.UnknownNameError` that says so.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from symkit.errors import AmbiguousNameError, DuplicateNameError, RegistryError, UnknownNameError

__all__ = ["CATEGORIES", "CORE_SCOPE", "Entry", "Registry", "registry", "register", "mark_loaded",
           "supports_rule"]

CATEGORIES: tuple[str, ...] = (
    "groups",
    "reps",
    "symmetrizers",
    "canonicalizers",
    "backbones",
    "datasets",
    "losses",
    "metrics",
    "optimizers",
    "schedulers",
)
CORE_SCOPE = "symkit"
SEP = "::"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SCOPE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_LAZY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


@dataclass
class Entry:
    """One registered part. ``target`` is a callable or a lazy ``"module:attr"`` string."""

    category: str
    name: str
    scope: str
    target: Any
    origin: str
    _loaded: Any = field(default=None, repr=False)

    @property
    def qualname(self) -> str:
        return f"{self.scope}{SEP}{self.name}"

    def load(self) -> Callable[..., Any]:
        """The factory, importing it if it was registered lazily."""
        if self._loaded is None:
            if isinstance(self.target, str):
                module, _, attr = self.target.partition(":")
                try:
                    obj: Any = importlib.import_module(module)
                    for part in attr.split("."):
                        obj = getattr(obj, part)
                except Exception as exc:  # noqa: BLE001 - any failure of a plugin's module
                    # (ImportError, a typo'd attribute, a SyntaxError or an exception raised at
                    # its import) is one line naming the part and its target, never a traceback
                    raise RegistryError(
                        None,
                        f"{self.category} '{self.qualname}': cannot load '{self.target}' "
                        f"({type(exc).__name__}: {exc})",
                    ) from exc
                self._loaded = obj
            else:
                self._loaded = self.target
        return self._loaded

    def supports(self, group: Any) -> bool:
        """Whether the part declares that it works with ``group``.

        The rule is written once, as a ``supports(group)`` classmethod of the class the factory
        returns (found through the factory's return annotation), or as the factory's own
        ``supports`` attribute (a class registered directly, or a plugin's explicit rule). A part
        that declares no rule supports nothing that can be checked: ``False``.
        """
        rule = supports_rule(self.load())
        return bool(rule(group)) if rule is not None else False

    @property
    def doc(self) -> str:
        """First line of the factory's docstring (or why it cannot be loaded)."""
        try:
            text = inspect.getdoc(self.load()) or ""
        except RegistryError as exc:
            return f"(unavailable: {exc})"
        return text.split("\n\n")[0].replace("\n", " ")


class Registry:
    """The parts of one category, e.g. ``registry("groups")``."""

    def __init__(self, category: str):
        self.category = category
        self._entries: dict[str, Entry] = {}

    # -- registration -------------------------------------------------------------------------
    def add(self, name: str, target: Any, *, scope: str = CORE_SCOPE, origin: str = "") -> Entry:
        """Register ``target`` as ``scope::name``; a second registration of it is an error."""
        if SEP in name:
            scope, name = name.split(SEP, 1)
        if not _NAME.fullmatch(name):
            raise ValueError(f"{self.category}: invalid part name {name!r} (letters, digits, _ -)")
        if not _SCOPE.fullmatch(scope):
            raise ValueError(f"{self.category}: invalid scope {scope!r} for part {name!r}")
        if isinstance(target, str) and not _LAZY.fullmatch(target):
            raise ValueError(
                f"{self.category} '{scope}{SEP}{name}': lazy target {target!r} must look like "
                "'package.module:attribute'"
            )
        if not isinstance(target, str) and not callable(target):
            raise TypeError(f"{self.category} '{scope}{SEP}{name}': target must be callable")
        qual = f"{scope}{SEP}{name}"
        origin = origin or _origin_of(target)
        if qual in self._entries:
            first = self._entries[qual].origin
            raise DuplicateNameError(
                None,
                f"{self.category} '{qual}' is registered twice: "
                f"first by {first}, again by {origin}",
            )
        entry = Entry(self.category, name, scope, target, origin)
        self._entries[qual] = entry
        return entry

    def remove(self, name: str, *, missing_ok: bool = False) -> None:
        """Unregister a part (undoing a plugin, or a test's fake part)."""
        try:
            self._entries.pop(self._resolve(name, key=None).qualname)
        except UnknownNameError:
            if not missing_ok:
                raise

    # -- lookup -------------------------------------------------------------------------------
    def get(self, name: str, key: str | None = None) -> Entry:
        """The entry for a scoped or unambiguous bare name; ``key``: config path for errors.

        Raises:
            UnknownNameError: no such part (with a did-you-mean and the known names; before
                :func:`symkit.plugins.ensure_loaded` has run, also how to load the parts).
            AmbiguousNameError: a bare name registered under several scopes.
        """
        return self._resolve(name, key)

    def build(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the factory registered as ``name``."""
        return self.get(name).load()(*args, **kwargs)

    def _resolve(self, name: str, key: str | None) -> Entry:
        if not isinstance(name, str):
            raise UnknownNameError(key, f"{self.category} name must be a string, got {name!r}")
        if SEP in name:
            entry = self._entries.get(name)
            if entry is not None:
                return entry
        else:
            matches = [e for e in self._entries.values() if e.name == name]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                options = ", ".join(sorted(e.qualname for e in matches))
                raise AmbiguousNameError(
                    key, f"{self.category} name '{name}' is ambiguous; use one of: {options}"
                )
        raise UnknownNameError(key, self._unknown_message(name))

    def _unknown_message(self, name: str) -> str:
        known = sorted({e.name for e in self._entries.values()} | set(self._entries))
        bare = name.split(SEP)[-1]
        same_case = [k for k in known if k.lower() in (name.lower(), bare.lower())]
        close = same_case[:1] or difflib.get_close_matches(name, known, n=1) or (
            difflib.get_close_matches(bare, known, n=1)
        )
        hint = f"; did you mean '{close[0]}'?" if close else "."
        listing = ", ".join(sorted(self._entries)) or "(none registered)"
        message = f"unknown {self.category} name '{name}'{hint} Known {self.category}: {listing}"
        if not _loaded:
            message += (". Plugins and core parts are not loaded yet: call "
                        "symkit.plugins.ensure_loaded() first (the CLI, symkit.config.build, "
                        "symkit.build_model and symkit.symmetrize do)")
        return message

    # -- listing ------------------------------------------------------------------------------
    def entries(self, pattern: str = "*") -> list[Entry]:
        """Entries registered so far whose scoped or bare name matches the shell-style
        ``pattern`` (all parts once :func:`symkit.plugins.ensure_loaded` has run)."""
        return [
            e
            for q, e in sorted(self._entries.items())
            if fnmatch.fnmatchcase(q, pattern) or fnmatch.fnmatchcase(e.name, pattern)
        ]

    def names(self, pattern: str = "*") -> list[str]:
        """Scoped names matching ``pattern``, sorted."""
        return [e.qualname for e in self.entries(pattern)]

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except (UnknownNameError, AmbiguousNameError):
            return False
        return True

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self.entries())


_REGISTRIES = {c: Registry(c) for c in CATEGORIES}


def registry(category: str) -> Registry:
    """The registry of one category (``groups``, ``reps``, ``symmetrizers``, ...)."""
    try:
        return _REGISTRIES[category]
    except KeyError:
        close = difflib.get_close_matches(category, CATEGORIES, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else "."
        raise UnknownNameError(
            None, f"unknown category '{category}'{hint} Categories: {', '.join(CATEGORIES)}"
        ) from None


def register(category: str, name: str | None = None, *, scope: str = CORE_SCOPE):
    """Decorator registering a typed factory (class or function); the name defaults to its own.

    Example::

        @register("groups", "so3")
        def so3() -> SO: ...
    """

    def decorate(factory):
        registry(category).add(name or factory.__name__, factory, scope=scope)
        return factory

    return decorate


def supports_rule(factory: Any) -> Callable[[Any], bool] | None:
    """The ``supports(group)`` rule of a factory: its own attribute, else that of the class its
    return annotation names; ``None`` when neither declares one."""
    rule = getattr(factory, "supports", None)
    if callable(rule):
        return rule
    returned = getattr(factory, "__annotations__", {}).get("return")
    if isinstance(returned, str):  # ``from __future__ import annotations``
        try:
            returned = eval(returned, getattr(factory, "__globals__", {}))  # noqa: S307
        except Exception:  # noqa: BLE001 - an annotation that cannot be resolved declares nothing
            return None
    rule = getattr(returned, "supports", None) if inspect.isclass(returned) else None
    return rule if callable(rule) else None


def _origin_of(target: Any) -> str:
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None) or "?"
    return f"{module}.{getattr(target, '__qualname__', repr(target))}"


#: whether :func:`symkit.plugins.ensure_loaded` has run (set by it; only read for error hints)
_loaded = False


def mark_loaded(loaded: bool = True) -> None:
    """Record that core parts and plugins are loaded (called by :mod:`symkit.plugins`)."""
    global _loaded
    _loaded = loaded
