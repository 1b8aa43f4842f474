"""Reading a config: OmegaConf YAML, ``key=value`` overrides, interpolation, YAML dump."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from symkit._config_keys import KEY_CATEGORIES
from symkit.errors import ConfigError

__all__ = ["load_config", "to_yaml", "to_plain"]

_KEY = r"[A-Za-z_][\w-]*(?:\.[\w-]+)*"
_OVERRIDE = re.compile(rf"({_KEY})=(.*)", re.DOTALL)
_DELETE = re.compile(rf"~({_KEY})")


def load_config(
    path_or_mapping: str | os.PathLike[str] | Mapping[str, Any], overrides: Sequence[str] = ()
) -> DictConfig:
    """Read a YAML file (or mapping), apply ``key=value`` overrides, resolve interpolation.

    Args:
        path_or_mapping: a YAML file path, or a mapping / ``DictConfig``.
        overrides: ``key=value`` items (values parsed as YAML): ``model.backbone.hidden=64``
            sets one value; a mapping value *replaces* the node
            (``"model.symmetrizer={type: canonicalization}"`` drops the old node's keys);
            ``~model.symmetrizer.field`` deletes a key.

    Raises:
        ConfigError: bad YAML (with file and line), a YAML tag, a bad override (named), or a
            bad interpolation (with its key).
    """
    cfg = _read(path_or_mapping)
    for item in overrides:
        _apply_override(cfg, item)
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise _interpolation_error(exc) from exc
    return cfg


def to_yaml(cfg: Any) -> str:
    """The config as resolved YAML text."""
    if not isinstance(cfg, (DictConfig, ListConfig)):
        cfg = OmegaConf.create(cfg)
    try:
        return OmegaConf.to_yaml(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise _interpolation_error(exc) from exc


def to_plain(node: Any, *, key: str = "") -> Any:
    """Plain dicts/lists of a config node, interpolation resolved (``'???'`` kept as is)."""
    if isinstance(node, (DictConfig, ListConfig)):
        try:
            return OmegaConf.to_container(node, resolve=True, throw_on_missing=False)
        except OmegaConfBaseException as exc:
            raise _interpolation_error(exc, prefix=key) from exc
    if isinstance(node, Mapping):
        return {k: to_plain(v, key=key) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [to_plain(v, key=key) for v in node]
    return node


def _read(source: Any) -> DictConfig:
    if isinstance(source, DictConfig):
        return source.copy()
    if isinstance(source, Mapping):
        try:
            return OmegaConf.create(dict(source))
        except OmegaConfBaseException as exc:
            raise ConfigError(None, f"cannot read config mapping: {_first_line(exc)}") from exc
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(None, f"expected a YAML path or a mapping, got {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise ConfigError(None, f"{path}: no such config file")
    try:
        cfg = OmegaConf.load(path)
    except yaml.YAMLError as exc:
        raise ConfigError(None, _yaml_message(path, exc)) from None
    except OSError as exc:  # OmegaConf: the top level is a scalar
        raise ConfigError(None, f"{path}: the top level must be a mapping ({exc})") from None
    if not isinstance(cfg, DictConfig):
        raise ConfigError(None, f"{path}: the top level must be a mapping, not a list")
    return cfg


def _yaml_message(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in problem:
        tag = problem.split("tag", 1)[1].strip(" '")
        return (
            f"{where}: YAML tag {tag!r} is not allowed; configs are plain data and can only "
            "name registered parts"
        )
    context = getattr(exc, "context", None)
    return f"{where}: invalid YAML: {problem}" + (f" ({context})" if context else "")


def _apply_override(cfg: DictConfig, item: str) -> None:
    """Apply one override: ``key=value`` (a mapping replaces the node) or ``~key`` (delete)."""
    deleted = _DELETE.fullmatch(item)
    if deleted is not None:
        _delete(cfg, deleted.group(1), item)
        return
    match = _OVERRIDE.fullmatch(item)
    if match is None:
        raise ConfigError(
            None,
            f"bad override {item!r}: expected key=value with a dotted key (e.g. "
            "model.backbone.hidden=64), key={...} to replace a node, or ~key to delete one",
        )
    key, text = match.groups()
    try:
        value = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={text}"]))["v"]
    except Exception as exc:  # noqa: BLE001 - yaml or OmegaConf parse error of the value
        raise ConfigError(None, f"bad override {item!r}: {_first_line(exc)}") from None
    _expand_shorthand(cfg, key.split("."))
    try:
        # a mapping replaces the node (merge=False); a scalar or list sets the value
        OmegaConf.update(cfg, key, value, merge=False)
    except OmegaConfBaseException as exc:
        raise ConfigError(None, f"bad override {item!r}: {_first_line(exc)}") from None


def _delete(cfg: DictConfig, key: str, item: str) -> None:
    """``~a.b.c``: remove key ``c`` of node ``a.b``; a missing key is a :class:`ConfigError`."""
    *parents, last = key.split(".")
    node: Any = cfg
    for i, part in enumerate(parents):
        if not isinstance(node, DictConfig) or part not in node:
            where = ".".join(parents[: i + 1])
            raise ConfigError(where, f"cannot delete {key!r} ({item!r}): '{where}' is not in the "
                              "config")
        node = node[part]
    if not isinstance(node, DictConfig) or last not in node:
        have = ", ".join(str(k) for k in node) if isinstance(node, DictConfig) else "(a value)"
        raise ConfigError(key, f"cannot delete ({item!r}): no such key; the node has: {have}")
    del node[last]


def _expand_shorthand(cfg: DictConfig, parts: list[str]) -> None:
    """Before ``group.n=3`` lands on ``group: cyclic``, turn it into ``{type: cyclic}``."""
    node: Any = cfg
    for part in parts[:-1]:
        if not isinstance(node, DictConfig) or part not in node:
            return
        if OmegaConf.is_interpolation(node, part):
            return
        if isinstance(node[part], str) and part in KEY_CATEGORIES:
            node[part] = {"type": node[part]}
        node = node[part]


def _interpolation_error(exc: OmegaConfBaseException, prefix: str = "") -> ConfigError:
    key = str(getattr(exc, "full_key", "") or "")
    key = ".".join(k for k in (prefix, key) if k) or None
    return ConfigError(key, f"bad interpolation: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
