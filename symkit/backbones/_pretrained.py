"""Pretrained and frozen backbones: ``init`` (weights from a run or a file) and ``freeze``.

In YAML, every backbone takes three extra keys, handled here rather than by its factory::

    backbone: {type: vision::cnn_classifier, channels: [16, 32],
               init: RUN_ID_OR_FILE, freeze: true, strict: true}

``init`` is a symkit run (MLflow run id or run directory: its best weights), a symkit
checkpoint (``best.pt``, ``last.pt``, ``model.pt``) or a plain ``state_dict`` file of the
backbone alone, always read with ``torch.load(weights_only=True)``. The backbone's weights are
taken from a whole-model state dict by the ``backbone.`` prefix. ``freeze`` stops gradients
(``requires_grad=False``) and keeps the backbone in eval mode (dropout off, batch-norm
statistics fixed) even while the rest of the model trains: the adaptation of a pretrained
network by a learned canonicalizer in front of it (Mondal et al., 2023, "Equivariant
Adaptation of Large Pretrained Models").
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from symkit.errors import CheckpointError, ConfigError

__all__ = ["BACKBONE_OPTIONS", "split_backbone_options", "load_backbone_weights",
           "freeze_backbone", "apply_backbone_options"]

#: Keys every backbone node accepts in YAML, besides its factory's own options.
BACKBONE_OPTIONS = ("init", "freeze", "strict")
_PREFIX = "backbone."
#: Suffixes that make an ``init`` reference a file path (never a run id).
_WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")
_LIST = 10


def split_backbone_options(node: Any, key: str) -> tuple[Any, dict[str, Any]]:
    """A backbone node without :data:`BACKBONE_OPTIONS`, and those options checked.

    Raises:
        ConfigError: ``init`` missing (``???``) or not a string, ``freeze``/``strict`` not
            booleans; with the key path.
    """
    if not isinstance(node, Mapping):
        return node, {}
    options = {k: node[k] for k in BACKBONE_OPTIONS if k in node}
    rest = {k: v for k, v in node.items() if k not in BACKBONE_OPTIONS}
    init = options.get("init")
    if init == "???":
        raise ConfigError(f"{key}.init", "missing value ('???'); give a run id, a run "
                          "directory, a checkpoint or a state_dict file")
    if init is not None and not isinstance(init, (str, os.PathLike)):
        raise ConfigError(f"{key}.init", f"expected a run id or a file path, got {init!r}")
    for flag in ("freeze", "strict"):
        if flag in options and not isinstance(options[flag], bool):
            raise ConfigError(f"{key}.{flag}", f"expected true or false, got {options[flag]!r}")
    return rest, options


def _weights_file(ref: str, tracking_uri: str | None) -> Path:
    """The weights of a run id, run directory, checkpoint or state_dict file."""
    path = Path(os.path.expanduser(ref))
    if path.is_file():
        return path
    if not path.exists() and (path.suffix in _WEIGHT_SUFFIXES or os.sep in ref):
        raise CheckpointError(f"no file or folder at {path} (init takes a run id, a run "
                              "directory, a checkpoint or a state_dict file)")
    if path.is_dir():
        for name in ("best.pt", "model.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: a folder without best.pt, model.pt or last.pt")
    return _run_weights(ref, tracking_uri)


def _run_weights(run_id: str, tracking_uri: str | None) -> Path:
    """The best weights of the MLflow run ``run_id`` in the store ``tracking_uri`` (default:
    ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``): ``best.pt`` in its run directory
    when that is on this machine, else its ``model.pt`` artifact. The store is never created
    to look."""
    from symkit.runner import load
    from symkit.runner.tracking import resolve_uri

    load._check_exists(run_id)  # a path typo, not shaped like a run id
    run_dir = load.run_tags(run_id, tracking_uri).get("symkit.run_dir")
    if run_dir and (Path(run_dir) / "best.pt").is_file():
        return Path(run_dir) / "best.pt"
    try:
        return load._download(run_id, tracking_uri, ("model.pt",)) / "model.pt"
    except CheckpointError as exc:
        raise CheckpointError(
            f"{run_id}: the run in the tracking store {resolve_uri(tracking_uri)} has no "
            f"weights here: its run directory {run_dir!r} has no best.pt on this machine and "
            f"it has no model.pt artifact") from exc


def _state_dict_of(obj: Any, source: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]  # a last.pt training checkpoint
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{source}: not a state_dict (a mapping of names to tensors)")
    return dict(obj)


def load_backbone_weights(backbone: nn.Module, ref: str | os.PathLike, *, strict: bool = True,
                          key: str = "backbone.init", tracking_uri: str | None = None
                          ) -> dict[str, list[str]]:
    """Load ``backbone``'s weights from a run or file (see the module docs).

    Args:
        backbone: the freshly built backbone (lazy parameters are materialized by the load).
        ref: run id, run directory, checkpoint or ``state_dict`` file.
        strict: every key must match in name and shape; else load what matches and warn.
        key: the config key path, for messages.
        tracking_uri: the MLflow store a run id is looked up in (a run config's
            ``tracking.uri``); default: ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``.

    Returns:
        ``{"missing": [...], "unexpected": [...], "mismatched": [...]}`` (empty when strict).

    Raises:
        CheckpointError: a run, store or file that is not there, unreadable weights, or
            (strict) keys that do not match, listed; one line starting with ``key``.
    """
    from symkit.errors import SymkitError

    try:
        file = _weights_file(str(ref), tracking_uri)
    except SymkitError as exc:  # a run that is not there, a folder without weights
        text = str(exc)
        if not text.startswith(f"{key}:"):
            text = f"{key}: {text}"
        raise CheckpointError(text) from None
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one error for the user
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{key}: cannot read {file} as torch weights (read with "
                              f"weights_only=True): {type(exc).__name__}: {first}") from exc
    state = _state_dict_of(obj, f"{key}: {file}")
    own = backbone.state_dict()
    if any(k.startswith(_PREFIX) for k in state) and not any(k.startswith(_PREFIX) for k in own):
        state = {k[len(_PREFIX):]: v for k, v in state.items() if k.startswith(_PREFIX)}
    from torch.nn.parameter import UninitializedParameter

    def mismatch(k: str) -> bool:
        mine = own[k]
        return not isinstance(mine, UninitializedParameter) and mine.shape != state[k].shape

    report = {
        "missing": sorted(k for k in own if k not in state),
        "unexpected": sorted(k for k in state if k not in own),
        "mismatched": sorted(f"{k} {tuple(state[k].shape)} -> {tuple(own[k].shape)}"
                             for k in own if k in state and mismatch(k)),
    }
    problems = "; ".join(f"{what} keys: {_short(keys)}" for what, keys in report.items() if keys)
    if problems and strict:
        raise CheckpointError(f"{key}: the weights in {file} do not fit "
                              f"{type(backbone).__name__}: {problems} (set strict: false to "
                              "load only what matches)")
    if problems:
        warnings.warn(f"{key}: loaded what matches from {file}; skipped {problems}",
                      stacklevel=2)
        bad = {m.split(" ")[0] for m in report["mismatched"]}
        state = {k: v for k, v in state.items() if k in own and k not in bad}
    backbone.load_state_dict(state, strict=False)
    backbone.symkit_init = f"{key} ({file})"  # named by a failing first forward pass
    return report


def _short(keys: list[str]) -> str:
    more = f" (+{len(keys) - _LIST} more)" if len(keys) > _LIST else ""
    return ", ".join(keys[:_LIST]) + more


def _stay_in_eval(module: nn.Module, args: tuple) -> None:
    if module.training:
        module.eval()


def freeze_backbone(backbone: nn.Module) -> nn.Module:
    """No gradients for ``backbone`` and eval mode in every forward (dropout, batch norm)."""
    for p in backbone.parameters():
        p.requires_grad_(False)
    backbone.register_forward_pre_hook(_stay_in_eval)
    backbone.eval()
    backbone.frozen = True
    return backbone


def apply_backbone_options(backbone: nn.Module, options: Mapping[str, Any], *, key: str,
                           tracking_uri: str | None = None) -> nn.Module:
    """``init`` then ``freeze`` (see :func:`split_backbone_options`); a run id in ``init`` is
    looked up in the store ``tracking_uri`` (see :func:`load_backbone_weights`)."""
    if options.get("init") is not None:
        load_backbone_weights(backbone, options["init"], strict=options.get("strict", True),
                              key=f"{key}.init", tracking_uri=tracking_uri)
    elif "strict" in options:
        raise ConfigError(f"{key}.strict", "only applies with init")
    if options.get("freeze", False):
        from torch.nn.parameter import is_lazy

        if any(is_lazy(p) for p in backbone.parameters()):
            raise ConfigError(f"{key}.freeze", "the backbone has uninitialized (lazy) "
                              "parameters; freeze it with init: so its weights are known")
        freeze_backbone(backbone)
    return backbone
