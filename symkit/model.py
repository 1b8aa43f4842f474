"""Build a symmetrized model from its config: group, specs, backbone, symmetrizer.

The model YAML (``model:``)::

    group: e3
    in_spec: {pos: {rep: point, nodes: true}, charge: {rep: scalar, nodes: true}}
    out_spec: {target: {rep: point, nodes: true}}
    backbone: {type: graph::gnn, hidden: 64}   # + init: RUN_OR_FILE, freeze: true, strict
    symmetrizer: {type: frame_averaging, field: pos}   # absent or null: the bare backbone
    forces: {energy: energy, pos: pos, output: forces}  # optional: F = -dE/dpos (_forces.py)

The backbone is built with ``group``, ``in_spec`` and ``out_spec`` in its context, then loaded
(``init``) and frozen (``freeze``) as :mod:`symkit.backbones._pretrained` says; the
symmetrizer with ``backbone``, ``group``, ``in_spec`` and ``out_spec``. The built model checks
every input against ``in_spec`` before its forward pass (:mod:`symkit._sample_check`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from symkit.errors import ConfigError

__all__ = ["MODEL_KEYS", "build_model", "check_model_keys"]

#: Every key a ``model:`` node may have (``group``, ``in_spec``, ``out_spec`` and ``backbone``
#: are required to build one).
MODEL_KEYS = ("group", "in_spec", "out_spec", "backbone", "symmetrizer", "forces", "dtype")
#: ``model.dtype``: the precision of the parameters (and so of the computation)
MODEL_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def check_model_keys(cfg_model: Mapping[str, Any], key: str = "model") -> None:
    """Refuse a key that a ``model:`` node cannot have, with a did-you-mean.

    Raises:
        ConfigError: ``model.KEY: unknown model key; did you mean ...? Keys: ...``.
    """
    import difflib

    for name in cfg_model:
        if name not in MODEL_KEYS:
            close = difflib.get_close_matches(str(name), MODEL_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{key}.{name}", f"unknown model key{hint} Keys: "
                              f"{', '.join(MODEL_KEYS)}")


def build_model(cfg_model: Mapping[str, Any], *, key: str = "model", pretrained: bool = True,
                checked: bool = False, tracking_uri: str | None = None) -> nn.Module:
    """The model of a ``model:`` config node (a mapping, a ``DictConfig`` or a YAML file's
    ``model:`` section read by the caller).

    Args:
        cfg_model: the ``model:`` node.
        key: its key path, for errors.
        pretrained: load ``backbone.init`` weights (``False`` when a checkpoint of the whole
            model is loaded next, so the ``init`` source need not exist any more).
        checked: ``cfg_model`` is the plain ``model:`` node of a run config that
            :func:`symkit.runner.parts.read_config` has validated; it is not checked again.
        tracking_uri: the MLflow store in which a run id in ``backbone.init`` is looked up (a
            run config's ``tracking.uri``); default: ``MLFLOW_TRACKING_URI``, else
            ``sqlite:///mlflow.db``.

    Returns:
        a module with attributes ``group``, ``in_spec``, ``out_spec``, ``backbone``,
        ``forward(sample) -> dict``, ``extra_losses() -> dict[str, Tensor]`` and
        ``metrics() -> dict[str, float]``: a :class:`~symkit.symmetrizers.Symmetrizer`, or
        :class:`~symkit.symmetrizers.Unsymmetrized` when ``symmetrizer`` is absent or null.

    Raises:
        ConfigError: with the full key path, for unknown keys, names or options.
        CheckpointError: ``backbone.init`` names a run, store or file that is not there, or
            weights that do not fit (one line starting with ``KEY.backbone.init``).
    """
    from symkit._sample_check import install_input_check
    from symkit.backbones._pretrained import apply_backbone_options, split_backbone_options
    from symkit.config import build, build_spec, to_plain
    from symkit.plugins import ensure_loaded
    from symkit.symmetrizers import Unsymmetrized

    ensure_loaded()
    cfg = cfg_model if checked else to_plain(cfg_model, key=key)
    if not isinstance(cfg, Mapping):
        raise ConfigError(key, f"expected a mapping with {list(MODEL_KEYS)}, got {cfg!r}")
    if not checked:
        check_model_keys(cfg, key)
    for required in ("group", "in_spec", "out_spec", "backbone"):
        if cfg.get(required) is None:
            raise ConfigError(f"{key}.{required}", "missing value")
    dtype = model_dtype_of(cfg, key)
    group = build(cfg["group"], "groups", key=f"{key}.group", checked=checked)
    in_spec = build_spec(cfg["in_spec"], key=f"{key}.in_spec", checked=checked)
    out_spec = build_spec(cfg["out_spec"], key=f"{key}.out_spec", checked=checked)
    context: dict[str, Any] = {"group": group, "in_spec": in_spec, "out_spec": out_spec}
    node, options = split_backbone_options(cfg["backbone"], f"{key}.backbone")
    backbone = build(node, "backbones", key=f"{key}.backbone", context=context, checked=checked)
    if not pretrained:
        options.pop("init", None)
        options.pop("strict", None)
    apply_backbone_options(backbone, options, key=f"{key}.backbone", tracking_uri=tracking_uri)
    if cfg.get("symmetrizer") is None:
        model = Unsymmetrized(backbone, group, in_spec, out_spec)
    else:
        context["backbone"] = backbone
        model = build(cfg["symmetrizer"], "symmetrizers", key=f"{key}.symmetrizer",
                      context=context, checked=checked)
    model = install_input_check(model)
    if cfg.get("forces") is not None:
        from symkit._forces import conservative_forces

        model = conservative_forces(model, cfg["forces"], key=f"{key}.forces")
    return model if dtype == torch.float32 else model.to(dtype)


def model_dtype_of(cfg_model: Mapping[str, Any], key: str = "model") -> torch.dtype:
    """``model.dtype`` as a torch dtype (float32 when absent or null).

    Raises:
        ConfigError: another value, naming ``KEY.dtype``.
    """
    name = cfg_model.get("dtype") if isinstance(cfg_model, Mapping) else None
    if name is None:
        return torch.float32
    if name not in MODEL_DTYPES:
        raise ConfigError(f"{key}.dtype", f"expected one of {list(MODEL_DTYPES)}, got {name!r}")
    return MODEL_DTYPES[name]


def strip_backbone_options(cfg_model: Any) -> Any:
    """A plain ``model:`` mapping whose ``backbone`` lacks ``init``/``freeze``/``strict``, for
    validation against the backbone factory (those keys are checked here instead)."""
    from symkit.backbones._pretrained import split_backbone_options

    if isinstance(cfg_model, Mapping) and isinstance(cfg_model.get("backbone"), Mapping):
        node, _ = split_backbone_options(cfg_model["backbone"], "model.backbone")
        return {**cfg_model, "backbone": node}
    return cfg_model
