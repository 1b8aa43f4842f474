"""What a factory accepts from YAML: its options (signature or ``Params``) and their types."""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import inspect
import os
import pathlib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union

__all__ = ["Option", "Options", "options_of", "matches", "is_scalar", "type_name", "REQUIRED"]

REQUIRED = inspect.Parameter.empty
_SCALARS = (int, float, bool, str)
_SEQUENCES = (list, tuple, set, frozenset, cabc.Sequence, cabc.MutableSequence, cabc.Collection,
              cabc.Iterable, cabc.Set)
_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)


@dataclass(frozen=True)
class Option:
    """One keyword a factory accepts; ``default`` is :data:`REQUIRED` when it has none."""

    name: str
    annotation: Any = Any
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Options:
    """All keywords of a factory; ``open`` when it also takes ``**kwargs``."""

    by_name: dict[str, Option]
    open: bool = False


def options_of(factory: Any) -> Options:
    """Keywords of ``factory``: its signature (``__init__`` for a class), plus the fields of a
    ``Params`` dataclass attribute when it has one (which then replaces ``**kwargs``)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: accept anything
        return Options({}, open=True)
    target = factory.__init__ if inspect.isclass(factory) else factory
    hints = _hints(target)
    by_name: dict[str, Option] = {}
    is_open = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            is_open = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            by_name[p.name] = Option(p.name, hints.get(p.name, Any), p.default)
    params = getattr(factory, "Params", None)
    if dataclasses.is_dataclass(params) and isinstance(params, type):
        hints = _hints(params)
        for f in dataclasses.fields(params):
            if f.init:
                default = f.default
                if f.default_factory is not dataclasses.MISSING:
                    default = f.default_factory()
                if default is dataclasses.MISSING:
                    default = REQUIRED
                by_name[f.name] = Option(f.name, hints.get(f.name, Any), default)
        is_open = False
    return Options(by_name, is_open)


def _hints(obj: Any) -> dict[str, Any]:
    """Resolved annotations; any that cannot be resolved are left out (unchecked)."""
    try:
        return typing.get_type_hints(obj)
    except Exception:  # noqa: BLE001 - e.g. names imported only under TYPE_CHECKING
        pass
    raw = getattr(obj, "__annotations__", {}) or {}
    scope = getattr(obj, "__globals__", None) or vars(inspect.getmodule(obj) or typing)
    out = {}
    for name, ann in raw.items():
        try:
            out[name] = eval(ann, dict(scope)) if isinstance(ann, str) else ann  # noqa: S307
        except Exception:  # noqa: BLE001
            continue
    return out


def is_scalar(annotation: Any) -> bool:
    """Whether ``annotation`` only admits plain scalars (int, float, bool, str, Literal, None)."""
    if annotation in _SCALARS or annotation is type(None):
        return True
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return True
    if origin in (Union, types.UnionType):
        return all(is_scalar(a) for a in typing.get_args(annotation))
    return False


def matches(value: Any, annotation: Any) -> bool:
    """Whether a YAML value (plain Python data) fits ``annotation``; unknown classes pass."""
    if annotation in (Any, REQUIRED) or isinstance(annotation, (str, typing.TypeVar)):
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Annotated:
        return matches(value, args[0])
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation in (str, pathlib.Path, os.PathLike):
        return isinstance(value, str)
    base = origin or annotation
    if base in _SEQUENCES:
        if not isinstance(value, list):
            return False
        if base is tuple and args:
            if len(args) == 2 and args[1] is Ellipsis:
                return all(matches(v, args[0]) for v in value)
            return len(args) == len(value) and all(matches(v, a) for v, a in zip(value, args))
        return all(matches(v, args[0]) for v in value) if args else True
    if base in _MAPPINGS:
        if not isinstance(value, dict):
            return False
        return all(matches(v, args[1]) for v in value.values()) if len(args) == 2 else True
    if isinstance(base, type) and isinstance(value, (bool, int, float)):
        return isinstance(value, base)
    return True  # a class symkit cannot check from YAML (a group, a module, a callable)


def type_name(annotation: Any) -> str:
    """Readable name of an annotation: ``int``, ``list[int]``, ``Literal['relu', 'silu']``."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return repr(annotation).replace("typing.", "").replace("collections.abc.", "")
