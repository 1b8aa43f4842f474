"""A run config read, validated and turned into parts: model, loss, metric, optimizer, schedule.

Top-level keys (see :data:`~symkit.runner.schema.TOP_LEVEL_KEYS`): ``data``, ``model`` and
``loss`` are required; ``metric`` defaults to the loss (``mode: min``), ``optimizer`` to adam,
``scheduler`` to constant. ``metric.mode`` (``min``/``max``) is the runner's, not the metric's.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from symkit.errors import ConfigError
from symkit.runner.schema import (
    TOP_LEVEL_KEYS,
    TrackingConfig,
    TrainConfig,
    metric_mode,
    parse_section,
)

__all__ = ["RunConfig", "read_config", "full_config", "build_model", "build_loss",
           "build_metric", "build_optimizer", "build_scheduler", "materialize"]

REQUIRED = ("data", "model", "loss")
RUNNER_CONTEXT = frozenset({"optimizer", "epochs"})


@dataclass
class RunConfig:
    """The resolved config tree and its typed runner sections."""

    cfg: DictConfig
    train: TrainConfig
    tracking: TrackingConfig
    mode: str  #: ``min`` or ``max``: which way the task metric improves
    source: str | None = None  #: the YAML file read, when the config came from one

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.cfg.get("experiment") or "symkit"


def read_config(source: Any, overrides: Sequence[str] = (), *, require: Iterable[str] = REQUIRED
                ) -> RunConfig:
    """Load (YAML path, mapping or DictConfig), apply overrides, validate everything."""
    from symkit.config import CONTEXT_NAMES, load_config, validate

    cfg = load_config(source, list(overrides))
    for key in cfg:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                str(key), f"unknown top-level key{hint} Keys: {', '.join(TOP_LEVEL_KEYS)}"
            )
    for key in require:
        if cfg.get(key) is None:
            raise ConfigError(key, "missing; a run config needs " + ", ".join(REQUIRED))
    checked = OmegaConf.to_container(cfg, resolve=True)
    for section in ("train", "tracking", "experiment"):
        checked.pop(section, None)
    if isinstance(checked.get("metric"), dict):
        checked["metric"].pop("mode", None)
    model = checked.get("model")
    if isinstance(model, dict):
        from symkit.model import _KEYS as MODEL_KEYS

        for key in model:
            if key not in MODEL_KEYS:
                close = difflib.get_close_matches(str(key), MODEL_KEYS, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ConfigError(f"model.{key}", f"unknown model key{hint} Keys: "
                                  f"{', '.join(MODEL_KEYS)}")
        from symkit.model import strip_backbone_options

        checked["model"] = strip_backbone_options(model)
    validate(checked, context=CONTEXT_NAMES | RUNNER_CONTEXT)
    train = parse_section(TrainConfig, _plain(cfg.get("train")), "train")
    tracking = parse_section(TrackingConfig, _plain(cfg.get("tracking")), "tracking")
    from symkit.runner.preflight import check_device_name

    check_device_name(train.device)
    path = str(source) if isinstance(source, (str, os.PathLike)) else None
    run = RunConfig(cfg, train, tracking, metric_mode(_plain(cfg.get("metric"))), path)
    if tracking.enabled:
        from symkit.runner.tracking import check_names, flatten

        check_names(flatten(full_config(run)), tracking.tags, run.experiment)
    return run


def full_config(run: RunConfig) -> dict[str, Any]:
    """The run's config with every default written out (``symkit config show --defaults``;
    what MLflow records): the ``train:`` and ``tracking:`` sections, the default optimizer,
    schedule and metric, and the defaults of every typed node."""
    import dataclasses

    from symkit._config_defaults import with_defaults
    from symkit.config import CONTEXT_NAMES

    tree = _plain(run.cfg)
    tree.setdefault("experiment", run.experiment)
    tree["optimizer"] = tree.get("optimizer") or "adam"
    tree["scheduler"] = tree.get("scheduler") or "constant"
    if tree.get("metric") is None and isinstance(tree.get("loss"), (str, Mapping)):
        loss = tree["loss"]
        tree["metric"] = {**({"type": loss} if isinstance(loss, str) else loss), "mode": run.mode}
    mode = tree["metric"].pop("mode", run.mode) if isinstance(tree.get("metric"), dict) else None
    tree = with_defaults(tree, CONTEXT_NAMES | RUNNER_CONTEXT)
    if isinstance(tree.get("metric"), dict):
        tree["metric"]["mode"] = mode
    tree["train"] = dataclasses.asdict(run.train)
    tree["tracking"] = dataclasses.asdict(run.tracking)
    return {k: tree[k] for k in TOP_LEVEL_KEYS if k in tree}


def _plain(node: Any) -> Any:
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def build_model(run: RunConfig, *, pretrained: bool = True):
    """The symmetrized model of ``model:`` (see :func:`symkit.model.build_model`)."""
    from symkit.model import build_model as build

    return build(run.cfg.model, pretrained=pretrained)


def build_loss(run: RunConfig):
    from symkit.config import build

    return build(run.cfg.loss, "losses", key="loss")


def build_metric(run: RunConfig):
    """The task metric; without ``metric:``, the loss function as a metric."""
    from symkit.config import build

    node = _plain(run.cfg.get("metric"))
    if node is None:
        node = _plain(run.cfg.loss)
        category = "losses"
    else:
        category = "metrics"
    if isinstance(node, Mapping):
        node = {k: v for k, v in node.items() if k != "mode"}
    return build(node, category, key="metric")


def build_optimizer(run: RunConfig, params: Any):
    """The optimizer over the parameters that require gradients (a frozen backbone's do not)."""
    from symkit.config import build

    params = [p for p in params if p.requires_grad]
    node = run.cfg.get("optimizer") or "adam"
    return build(node, "optimizers", key="optimizer", context={"params": params})


def build_scheduler(run: RunConfig, optimizer: Any):
    from symkit.config import build

    node = run.cfg.get("scheduler") or "constant"
    return build(node, "schedulers", key="scheduler",
                 context={"optimizer": optimizer, "epochs": run.train.epochs})


def materialize(model: Any, dataset: Any, device: Any = None) -> None:
    """Run one small batch through a model with lazy (uninitialized) parameters, so they get
    their shapes before an optimizer, DDP or a parameter count sees them."""
    import torch
    from torch.nn.parameter import is_lazy

    if not any(is_lazy(p) for p in model.parameters()):
        return
    from symkit.runner.data import first_batch, to_device

    batch = first_batch(dataset, 2)
    with torch.no_grad():
        model(to_device(batch, device) if device is not None else batch)


def parameter_counts(model: Any) -> dict[str, float]:
    """``parameters_total`` and ``parameters_trainable`` (a frozen backbone is not trainable)."""
    params = list(model.parameters())
    return {"parameters_total": float(sum(p.numel() for p in params)),
            "parameters_trainable": float(sum(p.numel() for p in params if p.requires_grad))}
