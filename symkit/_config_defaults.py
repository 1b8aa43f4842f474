"""A config with every default written out: what ``symkit config show --defaults`` prints and
what MLflow records as the run's parameters.

Each typed node (a key of :data:`symkit.config.KEY_CATEGORIES`) gets the defaults of its
factory's options that the YAML leaves out; options a builder injects (``group``, ``in_spec``,
``backbone``, ...) are left out, as are required options (the YAML must give them anyway).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from typing import Any

from symkit._config_keys import KEY_CATEGORIES, LIST_KEYS

__all__ = ["with_defaults", "plain_default"]


def with_defaults(tree: Any, context: Iterable[str]) -> Any:
    """A copy of the plain config ``tree`` with the defaults of every typed node filled in.

    Args:
        tree: plain dicts and lists (a validated config section).
        context: option names a builder injects; never written out.
    """
    return _section(tree, frozenset(context))


def _section(value: Any, names: frozenset[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            if key in KEY_CATEGORIES and child is not None:
                category = KEY_CATEGORIES[key]
                if key in LIST_KEYS and isinstance(child, list):
                    out[key] = [_typed(v, category, names) for v in child]
                else:
                    out[key] = _typed(child, category, names)
            elif isinstance(key, str) and key.endswith("spec"):
                out[key] = child
            else:
                out[key] = _section(child, names)
        return out
    if isinstance(value, list):
        return [_section(v, names) for v in value]
    return value


def _typed(node: Any, category: str, names: frozenset[str]) -> Any:
    """A typed node as a mapping with ``type``, its YAML options and its remaining defaults."""
    from symkit._config_types import options_of
    from symkit.registry import registry

    if isinstance(node, str):
        node = {"type": node}
    if not isinstance(node, dict) or "type" not in node:
        return node
    entry = registry(category).get(node["type"])
    out = {"type": entry.qualname}
    for key, value in node.items():
        if key == "type":
            continue
        if key in KEY_CATEGORIES and value is not None and not isinstance(value, (int, float)):
            out[key] = _section({key: value}, names)[key]
        else:
            out[key] = value
    for option in options_of(entry.load()).by_name.values():
        if option.name in out or option.name in names or option.required:
            continue
        out[option.name] = plain_default(option.default)
    return out


def plain_default(value: Any) -> Any:
    """A default value as YAML-ready plain data (tuples as lists, other objects as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return plain_default(value.value)
    if isinstance(value, (list, tuple)):
        return [plain_default(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain_default(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_default(dataclasses.asdict(value))
    return str(value)
