"""What a run config is: its top-level keys, and its own sections as typed dataclasses.

A run config has the keys :data:`TOP_LEVEL_KEYS`; :data:`REQUIRED_KEYS` must be set.
``train:`` and ``tracking:`` are the runner's own sections (:class:`TrainConfig`,
:class:`TrackingConfig`); ``metric.mode`` is the runner's too (:func:`metric_mode`). Every
other key (``data``, ``model``, ``loss``, ``metric``, ``optimizer``, ``scheduler``) is a
registry node that :func:`symkit.config.validate` checks, with :data:`RUNNER_CONTEXT` and
:data:`symkit.config.CONTEXT_NAMES` injected by the runner; ``model:`` has the keys
:data:`symkit.model.MODEL_KEYS`. :func:`symkit.runner.parts.read_config` checks all of it in
one pass, before anything is built.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from symkit._config_keys import TOP_LEVEL_KEYS
from symkit._config_types import matches, type_name
from symkit.errors import ConfigError

__all__ = [
    "TOP_LEVEL_KEYS",
    "REQUIRED_KEYS",
    "RUNNER_SECTIONS",
    "RUNNER_CONTEXT",
    "check_run_keys",
    "SPLITS",
    "EquivarianceConfig",
    "TrainConfig",
    "TrackingConfig",
    "parse_section",
    "metric_mode",
]

#: Keys a run config must set (``metric`` defaults to the loss, ``optimizer`` to adam,
#: ``scheduler`` to constant).
REQUIRED_KEYS = ("data", "model", "loss")
#: Top-level keys that are the runner's own (not registry nodes).
RUNNER_SECTIONS = ("experiment", "train", "tracking")
#: Options the runner injects into registry nodes, besides :data:`symkit.config.CONTEXT_NAMES`.
RUNNER_CONTEXT = frozenset({"optimizer", "epochs"})


def check_run_keys(cfg: Mapping[str, Any], require: Iterable[str] = REQUIRED_KEYS) -> None:
    """The top-level keys of a run config, and those of its ``model:`` node.

    Raises:
        ConfigError: an unknown key (with a did-you-mean), or a key of ``require`` unset.
    """
    from symkit.model import check_model_keys

    for key in cfg:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                str(key), f"unknown top-level key{hint} Keys: {', '.join(TOP_LEVEL_KEYS)}"
            )
    for key in require:
        if cfg.get(key) is None:
            raise ConfigError(key, "missing; a run config needs " + ", ".join(REQUIRED_KEYS))
    if isinstance(cfg.get("model"), Mapping):
        check_model_keys(cfg["model"], "model")


#: The data splits every data set is built for (``train``, ``valid``, ``test``).
SPLITS = ("train", "valid", "test")


def _at_least(low: float, default: Any, high: float | None = None) -> Any:
    """A field whose value (when not ``None``) must be ``>= low`` (and ``<= high`` when given);
    checked by parse_section."""
    return field(default=default, metadata={"min": low, "max": high})


@dataclass
class EquivarianceConfig:
    """How the final model's equivariance error is measured on held-out data."""

    n_elements: int = _at_least(0, 8)  #: random group elements per kind (0: do not measure)
    max_samples: int = _at_least(0, 64)  #: held-out samples used (0: do not measure)
    split: typing.Literal["train", "valid", "test"] = "test"  #: the data split measured on


@dataclass
class TrainConfig:
    """The ``train:`` section."""

    epochs: int = _at_least(1, 10)  #: passes over the training split
    batch_size: int = _at_least(1, 32)  #: samples per training step (per process under DDP)
    #: batch size of evaluation; default: ``batch_size``
    eval_batch_size: int | None = _at_least(1, None)
    val_every: int = _at_least(1, 1)  #: validate every N epochs (and always after the last)
    num_workers: int = _at_least(0, 0)  #: DataLoader worker processes (0: load in the main process)
    #: seeds the weights, the batch order and every sampled group element (0 to 2**63 - 1)
    seed: int = _at_least(0, 0, 2**63 - 1)
    #: ``auto`` (a GPU if there is one), ``cpu``, ``cuda``, ``cuda:N``, ``mps``
    device: str = "auto"
    #: torch threads per process; default: cores / processes
    threads: int | None = _at_least(1, None)
    #: cap every split at this many items (quick tries)
    max_samples: int | None = _at_least(1, None)
    grad_clip: float | None = _at_least(0, None)  #: clip the gradient norm to this value
    checkpoint_dir: str = "runs"  #: each run writes ``<checkpoint_dir>/<run id>/``
    #: show progress: a bar on a terminal, else a line every ``progress_every`` s
    progress: bool = True
    progress_every: float = _at_least(0, 30.0)  #: seconds between progress lines without a terminal
    #: DDP: allow parameters that get no gradient (unused heads)
    find_unused_parameters: bool = False
    equivariance: EquivarianceConfig = field(default_factory=EquivarianceConfig)  #: final check


@dataclass
class TrackingConfig:
    """The ``tracking:`` section (MLflow)."""

    enabled: bool = True  #: log the run to MLflow (false: checkpoints and plots only)
    #: the store; default: env MLFLOW_TRACKING_URI, else ``sqlite:///mlflow.db``
    uri: str | None = None
    experiment: str | None = None  #: default: the top-level ``experiment``, else ``symkit``
    #: default: ``<config file>-<method>`` (e.g. ``fa_gnn-frame_averaging``)
    run_name: str | None = None
    log_model: bool = False  #: also log an MLflow pytorch model (slow)
    tags: dict[str, Any] = field(default_factory=dict)  #: extra MLflow run tags (values as strings)


def parse_section(cls: type, values: Mapping[str, Any] | None, key: str) -> Any:
    """Build dataclass ``cls`` from a mapping; an unknown option, a value of the wrong type or
    out of range (field metadata ``min``) is a :class:`ConfigError` naming its key path."""
    if values is not None and not isinstance(values, Mapping):
        raise ConfigError(key, f"expected a mapping of options, got {type(values).__name__} "
                          f"{values!r}")
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{key}.{name}", f"unknown option{hint} Options: {', '.join(fields)}"
            )
        sub = _nested_type(fields[name])
        if sub is not None:
            if value is not None and not isinstance(value, Mapping):
                raise ConfigError(f"{key}.{name}", f"expected a mapping, got {value!r}")
            value = parse_section(sub, value, f"{key}.{name}")
        else:
            _check_value(fields[name], hints[name], value, f"{key}.{name}")
        kwargs[name] = value
    return cls(**kwargs)


def _check_value(f: dataclasses.Field, annotation: Any, value: Any, key: str) -> None:
    if not matches(value, annotation):
        raise ConfigError(key, f"expected {type_name(annotation)}, got {type(value).__name__} "
                          f"{value!r}")
    low, high = f.metadata.get("min"), f.metadata.get("max")
    if low is not None and value is not None and value < low:
        raise ConfigError(key, f"expected a value >= {low}"
                          + (f" and <= {high}" if high is not None else "") + f", got {value!r}")
    if high is not None and value is not None and value > high:
        raise ConfigError(key, f"expected a value from {low} to {high}, got {value!r}")


def _nested_type(f: dataclasses.Field) -> type | None:
    factory = f.default_factory
    if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
        return factory  # type: ignore[return-value]
    return None


def metric_mode(metric: Mapping[str, Any] | None) -> str:
    """``min`` or ``max``: whether a lower or a higher task metric is better."""
    mode = (metric or {}).get("mode", "min") if isinstance(metric, Mapping) else "min"
    if mode not in ("min", "max"):
        raise ConfigError("metric.mode", f"expected 'min' or 'max', got {mode!r}")
    return mode
