"""A run config read, validated once and turned into parts: model, loss, metric, optimizer,
schedule.

What a run config contains is defined in :mod:`symkit.runner.schema`: ``data``, ``model`` and
``loss`` are required; ``metric`` defaults to the loss (``mode: min``), ``optimizer`` to adam,
``scheduler`` to constant. ``metric.mode`` (``min``/``max``) is the runner's, not the metric's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from symkit.runner.schema import (
    REQUIRED_KEYS,
    RUNNER_CONTEXT,
    RUNNER_SECTIONS,
    TOP_LEVEL_KEYS,
    TrackingConfig,
    TrainConfig,
    check_run_keys,
    metric_mode,
    parse_section,
)

__all__ = ["RunConfig", "read_config", "full_config", "build_model", "build_loss",
           "build_metric", "build_optimizer", "build_scheduler", "materialize"]

@dataclass
class RunConfig:
    """A run config read and validated: the tree, its plain form and its runner sections.

    What a run config may contain is defined in :mod:`symkit.runner.schema`.
    """

    cfg: DictConfig
    train: TrainConfig
    tracking: TrackingConfig
    mode: str  #: ``min`` or ``max``: which way the task metric improves
    source: str | None = None  #: the YAML file read, when the config came from one
    #: the tree as plain dicts and lists, interpolation resolved: what the parts are built from
    plain: dict[str, Any] = field(default_factory=dict)

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.cfg.get("experiment") or "symkit"

    @property
    def model_dtype(self) -> str | None:
        """``model.dtype`` when the config sets it (data sets then follow it), else ``None``."""
        model = self.plain.get("model")
        return model.get("dtype") if isinstance(model, dict) else None


def read_config(source: Any, overrides: Sequence[str] = (), *,
                require: Iterable[str] = REQUIRED_KEYS) -> RunConfig:
    """Load (YAML path, mapping or DictConfig), apply overrides, validate everything.

    The one validation pass of a run: the keys (:func:`~symkit.runner.schema.check_run_keys`),
    every registry node (:func:`symkit.config.validate`) and the runner's own sections, on the
    tree converted once to plain containers (:attr:`RunConfig.plain`); the ``build_*``
    functions below build from that tree without checking it again.
    """
    from symkit.config import CONTEXT_NAMES, load_config, to_plain, validate
    from symkit.model import strip_backbone_options

    cfg = load_config(source, list(overrides))
    plain = to_plain(cfg)
    check_run_keys(plain, require)
    nodes = {k: v for k, v in plain.items() if k not in RUNNER_SECTIONS}
    if isinstance(nodes.get("metric"), dict):
        nodes["metric"] = {k: v for k, v in nodes["metric"].items() if k != "mode"}
    if isinstance(nodes.get("model"), dict):
        nodes["model"] = strip_backbone_options(nodes["model"])
    validate(nodes, context=CONTEXT_NAMES | RUNNER_CONTEXT)
    train = parse_section(TrainConfig, plain.get("train"), "train")
    tracking = parse_section(TrackingConfig, plain.get("tracking"), "tracking")
    from symkit.runner.preflight import check_device_name

    check_device_name(train.device)
    path = str(source) if isinstance(source, (str, os.PathLike)) else None
    run = RunConfig(cfg, train, tracking, metric_mode(plain.get("metric")), path, plain)
    if tracking.enabled:
        from symkit.runner.tracking import check_names, flatten

        check_names(flatten(full_config(run)), tracking.tags, run.experiment)
    return run


def full_config(run: RunConfig) -> dict[str, Any]:
    """The run's config with every default written out (``symkit config show --defaults``;
    what MLflow records): the ``train:`` and ``tracking:`` sections, the default optimizer,
    schedule and metric, and the defaults of every typed node."""
    import copy
    import dataclasses

    from symkit._config_defaults import with_defaults
    from symkit.config import CONTEXT_NAMES

    tree = copy.deepcopy(run.plain)
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


def build_model(run: RunConfig, *, pretrained: bool = True):
    """The symmetrized model of ``model:`` (see :func:`symkit.model.build_model`); a run id in
    ``model.backbone.init`` is looked up in the run's own store, ``tracking.uri``."""
    from symkit.model import build_model as build

    return build(run.plain["model"], pretrained=pretrained, checked=True,
                 tracking_uri=run.tracking.uri)


def build_loss(run: RunConfig):
    from symkit.config import build

    return build(run.plain["loss"], "losses", key="loss", checked=True)


def build_metric(run: RunConfig):
    """The task metric; without ``metric:``, the loss function as a metric."""
    from symkit.config import build

    node = run.plain.get("metric")
    if node is None:
        node = run.plain["loss"]
        category = "losses"
    else:
        category = "metrics"
    if isinstance(node, Mapping):
        node = {k: v for k, v in node.items() if k != "mode"}
    return build(node, category, key="metric", checked=True)


def build_optimizer(run: RunConfig, params: Any):
    """The optimizer over the parameters that require gradients (a frozen backbone's do not)."""
    from symkit.config import build
    from symkit.errors import ConfigError

    params = [p for p in params if p.requires_grad]
    if not params:
        backbone = (run.plain.get("model") or {}).get("backbone")
        if isinstance(backbone, dict) and backbone.get("freeze"):
            raise ConfigError("model.backbone.freeze", "the backbone is frozen and the rest of "
                              "the model has no trainable parameters: there is nothing to train; "
                              "measure the pretrained model with `symkit check CONFIG` instead, "
                              "or set model.backbone.freeze=false, or use a symmetrizer that "
                              "learns (e.g. a learned canonicalizer)")
        raise ConfigError("model", "the model has no trainable parameters: there is nothing to "
                          "train; measure it with `symkit check CONFIG` instead")
    node = run.plain.get("optimizer") or "adam"
    return build(node, "optimizers", key="optimizer", context={"params": params}, checked=True)


def build_scheduler(run: RunConfig, optimizer: Any):
    from symkit.config import build

    node = run.plain.get("scheduler") or "constant"
    return build(node, "schedulers", key="scheduler",
                 context={"optimizer": optimizer, "epochs": run.train.epochs}, checked=True)


def materialize(model: Any, dataset: Any, device: Any = None) -> None:
    """Run one small batch through a model with lazy (uninitialized) parameters, so they get
    their shapes before an optimizer, DDP or a parameter count sees them."""
    import torch
    from torch.nn.parameter import is_lazy

    if not any(is_lazy(p) for p in model.parameters()):
        return
    from symkit.runner.data import first_batch, to_device
    from symkit.runner.preflight import call

    batch = first_batch(dataset, 2)
    with torch.no_grad():  # a crash is one line naming the model, as in preflight.check_forward
        call("model", "the model's forward pass", model,
             to_device(batch, device) if device is not None else batch)


def parameter_counts(model: Any) -> dict[str, float]:
    """``parameters_total`` and ``parameters_trainable`` (a frozen backbone is not trainable)."""
    params = list(model.parameters())
    return {"parameters_total": float(sum(p.numel() for p in params)),
            "parameters_trainable": float(sum(p.numel() for p in params if p.requires_grad))}
