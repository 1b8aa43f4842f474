"""Config: YAML in, validated and built parts out, every error with its full key path.

A *typed node* is a mapping with ``type`` (or a plain string, shorthand for ``{type: name}``)
under a key of :data:`KEY_CATEGORIES`; it is built by the registered factory of that name in
the key's category, with its other keys as keyword arguments. Keys ending in ``spec`` are specs
(``{field: rep}``). YAML never names Python import paths: only registered parts are buildable.

The whole tree is validated before anything is built: registry names, unknown options
(did-you-mean), missing values, and value types against the factory's annotations.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from symkit._config_keys import KEY_CATEGORIES, LIST_KEYS, TOP_LEVEL_KEYS
from symkit._config_load import load_config, to_plain, to_yaml
from symkit._config_types import Options, is_scalar, matches, options_of, type_name
from symkit.errors import ConfigError, SymkitError
from symkit.plugins import ensure_loaded
from symkit.registry import Entry, registry

if TYPE_CHECKING:
    from symkit.spec import Field, Spec

__all__ = [
    "KEY_CATEGORIES",
    "LIST_KEYS",
    "CONTEXT_NAMES",
    "load_config",
    "to_yaml",
    "validate",
    "build",
    "build_rep",
    "build_spec",
]

#: Parameter names that builders usually inject (never reported missing by :func:`validate`).
CONTEXT_NAMES = frozenset({"group", "in_spec", "out_spec", "backbone", "split", "params"})
MISSING = "???"


# -- validation -------------------------------------------------------------------------------
def validate(cfg: Any, *, root_key: str = "", context: Iterable[str] = CONTEXT_NAMES) -> None:
    """Check a whole config tree before anything is built; raise :class:`ConfigError`.

    Args:
        cfg: a config section (``DictConfig`` or mapping) holding typed nodes and specs.
        root_key: key path of ``cfg`` itself, prefixed to every error.
        context: parameter names a builder will inject (not required from YAML).
    """
    ensure_loaded()
    _check_section(to_plain(cfg, key=root_key), root_key, frozenset(context))


def _check_section(value: Any, path: str, names: frozenset[str]) -> None:
    if isinstance(value, dict):
        if "type" in value:
            raise ConfigError(
                path or None,
                f"has a 'type' but its key does not say which registry it comes from; typed "
                f"nodes go under one of: {', '.join(KEY_CATEGORIES)}",
            )
        for k, v in value.items():
            child = _join(path, k)
            if k in KEY_CATEGORIES:
                _check_slot(v, k, child, names)
            elif isinstance(k, str) and k.endswith("spec"):
                _check_spec(v, child)
            else:
                _check_section(v, child, names)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_section(v, _join(path, i), names)


def _check_slot(value: Any, key: str, path: str, names: frozenset[str]) -> None:
    """A typed node (or list of them, for :data:`LIST_KEYS`); ``None`` means none."""
    if value is None:
        return
    if value == MISSING:
        raise ConfigError(path, f"missing value ('???'); expected a {KEY_CATEGORIES[key]} name")
    if key in LIST_KEYS and isinstance(value, list):
        for i, item in enumerate(value):
            _check_typed(item, KEY_CATEGORIES[key], _join(path, i), names)
    else:
        _check_typed(value, KEY_CATEGORIES[key], path, names)


def _check_typed(
    node: Any, category: str, path: str, names: frozenset[str], type_key: str = "type"
) -> None:
    entry, params = _resolve(node, category, path, type_key)
    options = options_of(entry.load())
    for k, v in params.items():
        child = _join(path, k)
        option = options.by_name.get(k)
        if option is None and not options.open:
            raise ConfigError(child, _unknown_option(k, entry, options))
        if v == MISSING:
            raise ConfigError(child, f"missing value ('???') for {entry.qualname}")
        annotation = option.annotation if option else Any
        if _is_typed_child(k, annotation):
            _check_slot(v, k, child, names)
        elif isinstance(k, str) and k.endswith("spec") and not is_scalar(annotation):
            _check_spec(v, child)
        elif option is not None and not (v is None and option.default is None):
            if not matches(v, annotation):
                raise ConfigError(
                    child,
                    f"expected {type_name(annotation)} for {entry.qualname}, "
                    f"got {type(v).__name__} {v!r}",
                )
    for option in options.by_name.values():
        if option.required and option.name not in params and option.name not in names:
            raise ConfigError(
                _join(path, option.name),
                f"missing required value ({type_name(option.annotation)}) for {entry.qualname}",
            )


def _check_spec(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(path, f"a spec maps field names to reps, got {type(value).__name__}")
    for name, rep in value.items():
        _check_rep(rep, _join(path, name))


def _check_rep(value: Any, path: str) -> None:
    node = value
    if isinstance(value, dict):
        node = {k: v for k, v in value.items() if k != "nodes"}
        if not isinstance(value.get("nodes", False), bool):
            raise ConfigError(_join(path, "nodes"), f"expected bool, got {value['nodes']!r}")
    _check_typed(node, "reps", path, frozenset(), type_key="rep")


# -- building ---------------------------------------------------------------------------------
def build(
    node: Any, category: str, *, key: str, context: Mapping[str, Any] | None = None,
    checked: bool = False,
) -> Any:
    """Validate, then build a typed node (children first) through the ``category`` registry.

    A factory parameter named in ``context`` is taken from it unless the YAML sets it; nested
    typed nodes are built with the same context.

    Args:
        node: a name, a ``{type: name, ...}`` mapping or ``DictConfig``.
        category: the registry it is built from.
        key: its key path, for errors.
        context: values a builder injects (``group``, ``in_spec``, ``backbone``, ...).
        checked: ``node`` is a plain node of a tree that :func:`validate` has passed (the
            runner's one validation pass): it is neither converted nor checked again.

    Raises:
        ConfigError: invalid node, or the factory raised (the cause is chained).
    """
    ensure_loaded()
    context = dict(context or {})
    if not checked:
        node = to_plain(node, key=key)
        _check_typed(node, category, key, frozenset(context) | CONTEXT_NAMES)
    return _build_typed(node, category, key, context)


def _build_slot(value: Any, key: str, path: str, context: dict[str, Any]) -> Any:
    if value is None:
        return None
    if key in LIST_KEYS and isinstance(value, list):
        return [_build_typed(v, KEY_CATEGORIES[key], _join(path, i), context)
                for i, v in enumerate(value)]
    return _build_typed(value, KEY_CATEGORIES[key], path, context)


def _build_typed(node: Any, category: str, path: str, context: dict[str, Any]) -> Any:
    entry, params = _resolve(node, category, path, "type")
    factory = entry.load()
    options = options_of(factory)
    kwargs: dict[str, Any] = {}
    for k, v in params.items():
        option = options.by_name.get(k)
        annotation = option.annotation if option else Any
        if _is_typed_child(k, annotation):
            kwargs[k] = _build_slot(v, k, _join(path, k), context)
        elif isinstance(k, str) and k.endswith("spec") and not is_scalar(annotation):
            kwargs[k] = build_spec(v, key=_join(path, k), checked=True)  # checked with the node
        else:
            kwargs[k] = v
    for option in options.by_name.values():
        if option.name in kwargs:
            continue
        if option.name in context:
            kwargs[option.name] = context[option.name]
        elif option.required:
            raise ConfigError(
                _join(path, option.name),
                f"{entry.qualname} needs '{option.name}', which neither the YAML nor the "
                "context provides",
            )
    return _call(entry, factory, kwargs, path)


def build_rep(value: Any, *, key: str, checked: bool = False) -> Field:
    """A :class:`~symkit.spec.Field` from a rep name or ``{rep: NAME, nodes: bool, **params}``
    (``checked``: see :func:`build`)."""
    from symkit.reps._base import Rep
    from symkit.spec import Field

    if not checked:
        value = to_plain(value, key=key)
        _check_rep(value, key)
    nodes = value.get("nodes", False) if isinstance(value, dict) else False
    node = {k: v for k, v in value.items() if k != "nodes"} if isinstance(value, dict) else value
    entry, params = _resolve(node, "reps", key, "rep")
    rep = _call(entry, entry.load(), params, key)
    if not isinstance(rep, Rep):
        raise ConfigError(key, f"reps '{entry.qualname}' built {type(rep).__name__}, not a Rep")
    return Field(rep, nodes=nodes)


def build_spec(mapping: Any, *, key: str, checked: bool = False) -> Spec:
    """A :class:`~symkit.spec.Spec` from ``{field: rep}`` (see :func:`build_rep`;
    ``checked``: see :func:`build`)."""
    from symkit.spec import Spec

    if not checked:
        mapping = to_plain(mapping, key=key)
        _check_spec(mapping, key)
    return Spec({name: build_rep(v, key=_join(key, name), checked=True)
                 for name, v in mapping.items()})


# -- helpers ----------------------------------------------------------------------------------
def _resolve(node: Any, category: str, path: str, type_key: str) -> tuple[Entry, dict]:
    """The registry entry a typed node names, and its other keys."""
    if isinstance(node, str):
        name, name_key, params = node, path, {}
    elif isinstance(node, dict):
        if type_key not in node:
            close = difflib.get_close_matches(type_key, [str(k) for k in node], n=1)
            hint = f" (did you mean '{type_key}' instead of '{close[0]}'?)" if close else ""
            raise ConfigError(
                path, f"needs '{type_key}': the name of a registered {category} part{hint}"
            )
        params = {k: v for k, v in node.items() if k != type_key}
        name, name_key = node[type_key], _join(path, type_key)
    else:
        raise ConfigError(
            path,
            f"expected a {category} name or a mapping with '{type_key}', "
            f"got {type(node).__name__} {node!r}",
        )
    if name == MISSING:
        raise ConfigError(name_key, f"missing value ('???'); expected a {category} name")
    if isinstance(name, str) and _looks_like_import_path(name):
        raise ConfigError(
            name_key,
            f"'{name}' looks like a Python import path; YAML can only name registered parts "
            f"(see `symkit list {category}`)",
        )
    return registry(category).get(name, key=name_key), params


def _call(entry: Entry, factory: Any, kwargs: dict[str, Any], path: str) -> Any:
    try:
        return factory(**kwargs)
    except ConfigError as exc:
        if exc.key is None:  # a factory's own check: give it the key path
            raise type(exc)(path, str(exc)) from exc
        if path and exc.key.split(".")[0] not in TOP_LEVEL_KEYS and not exc.key.startswith(
                f"{path}."):  # a key relative to the node (splits.valid): make it whole
            message = str(exc).removeprefix(f"{exc.key}: ")
            raise type(exc)(f"{path}.{exc.key}", message) from exc
        raise
    except SymkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - a factory rejecting its YAML values
        raise ConfigError(path, f"{entry.qualname}: {type(exc).__name__}: {exc}") from exc


def _is_typed_child(key: Any, annotation: Any) -> bool:
    return key in KEY_CATEGORIES and not is_scalar(annotation)


def _looks_like_import_path(name: str) -> bool:
    if "::" in name:
        return False
    return ":" in name or "." in name or "/" in name


def _unknown_option(key: str, entry: Entry, options: Options) -> str:
    known = sorted(options.by_name)
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    return f"unknown option for {entry.qualname}{hint} Options: {', '.join(known) or '(none)'}"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
