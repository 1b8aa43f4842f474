"""Checks that run before the first training step, so a run fails in seconds with one line.

``symkit train`` checks, in order: the device (:func:`check_device`), the data against the
model's input spec (:func:`symkit.runner.data.check_inputs`), one forward and backward pass of
a small training batch through model, loss and metric (:func:`check_forward`), the checkpoint
folder (:func:`check_checkpoint_dir`) and the tracking store
(:func:`symkit.runner.tracking.check_reachable`). Only then is a run folder made and an MLflow
run started. Every failure is a :class:`~symkit.errors.SymkitError` naming the config key at
fault and a fix.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from symkit.errors import CheckpointError, ConfigError, SymkitError, TrainingError

__all__ = ["DEVICE_PATTERN", "check_device_name", "check_device", "check_checkpoint_dir",
           "check_forward", "check_unused", "check_outputs", "unused_parameters",
           "remove_empty", "call"]

#: Device names ``train.device`` accepts.
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_DEVICE_ALIASES = {"gpu": "cuda", "cuda0": "cuda:0", "nvidia": "cuda", "metal": "mps",
                   "apple": "mps", "cpu0": "cpu", "default": "auto"}


def check_device_name(value: str, key: str = "train.device") -> None:
    """Check the spelling of a device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Raises:
        ConfigError: naming ``key``, with a did-you-mean (``gpu`` -> ``cuda``).
    """
    if DEVICE_PATTERN.fullmatch(value):
        return
    lower = value.strip().lower()
    guess = _DEVICE_ALIASES.get(lower) or (lower if DEVICE_PATTERN.fullmatch(lower) else None)
    if guess is None and re.fullmatch(r"(gpu|cuda)\W*\d+", lower):
        guess = "cuda:" + re.findall(r"\d+", lower)[0]
    hint = f"; did you mean '{guess}'?" if guess else ""
    raise ConfigError(key, f"unknown device {value!r}{hint} Devices: auto, cpu, cuda, cuda:N, "
                      "mps")


def check_device(value: str, key: str = "train.device") -> torch.device:
    """The device ``value`` names, after checking that this machine and torch build have it.

    Raises:
        ConfigError: naming ``key``: an unknown name, a CUDA device on a torch build without
            CUDA or on a machine without that GPU, or ``mps`` where Metal is not available.
    """
    check_device_name(value, key)
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(value)
    fix = f"use {key}=cpu (or {key}=auto, which picks a GPU when there is one)"
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise ConfigError(key, f"{value!r} needs CUDA, but this torch build has none "
                              f"(torch {torch.__version__}); {fix}, or install a CUDA build "
                              "of torch")
        count = torch.cuda.device_count()
        if count == 0:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            why = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
            raise ConfigError(key, f"{value!r}: no CUDA GPU is visible{why}; {fix}")
        if device.index is not None and device.index >= count:
            raise ConfigError(key, f"{value!r}: this machine has {count} CUDA GPU(s), numbered "
                              f"0-{count - 1}; use {key}=cuda:0 (or cuda, which picks the "
                              "process's local GPU)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(key, f"'mps' (Apple Metal) is not available on this machine or torch "
                          f"build; {fix}")
    return device


def check_checkpoint_dir(path: str | os.PathLike, key: str = "train.checkpoint_dir"
                         ) -> list[Path]:
    """Make ``path`` (with parents) and prove it writable by creating and removing a file.

    Returns:
        the folders it created, deepest first (to remove with :func:`remove_empty` when the
        run does not start after all).

    Raises:
        CheckpointError: naming ``key`` and the operating system's reason.
    """
    folder = Path(path).expanduser().absolute()
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".symkit-write-test-"):
            pass
    except OSError as exc:
        remove_empty(created)
        raise CheckpointError(
            f"{key}: cannot write run folders under {folder} ({exc.strerror or exc}); set "
            f"{key} to a writable folder"
        ) from None
    return created


def remove_empty(folders: list[Path]) -> None:
    """Remove each of ``folders`` (deepest first) that exists and is empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass


def check_forward(model: torch.nn.Module, batch: Mapping[str, Any], run: Any, loss_fn: Any,
                  metric_fn: Any) -> list[str]:
    """One forward and backward pass of ``batch`` through model, loss and metric.

    Leaves the model's parameters, buffers (batch-norm statistics), gradients and the random
    number generators as they were, so a run trains exactly as it would without this check.

    Returns:
        the names of trainable parameters that got no gradient (see :func:`unused_parameters`).

    Raises:
        ConfigError: the model does not write a field of ``model.out_spec``, ``loss.output`` /
            ``metric.output`` name a field the model does not write, or ``loss.target`` /
            ``metric.target`` one the data does not have; each lists the fields there are.
        TrainingError: the model, loss or metric raised anything else (type and first line).
    """
    from symkit.runner import checkpoint as ckpt

    rng = ckpt.rng_state()
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    try:
        with torch.enable_grad():
            outputs = _model_call(model, batch)
            check_outputs(model, outputs)
            declared = getattr(model, "out_spec", None) if hasattr(model, "is_exact") else None
            loss = _apply(run, "loss", loss_fn, outputs, batch, declared)
            if run.cfg.get("metric") is not None:
                with torch.no_grad():
                    _apply(run, "metric", metric_fn, outputs, batch, declared)
            for extra in getattr(model, "extra_losses", dict)().values():
                loss = loss + extra
            if loss.requires_grad:
                loss.backward()
        return unused_parameters(model)
    finally:
        for p in model.parameters():
            p.grad = None
        for name, value in model.named_buffers():
            if name in buffers:
                value.copy_(buffers[name])
        ckpt.set_rng_state(rng)


def _model_call(model: torch.nn.Module, batch: Mapping[str, Any]) -> Any:
    """The model's forward pass through :func:`call`; a crash of a backbone whose weights
    came from ``init`` says so (lazy layers take their input sizes from the checkpoint)."""
    try:
        return call("model", "the model's forward pass", model, batch)
    except TrainingError as exc:
        init = getattr(getattr(model, "backbone", None), "symkit_init", None)
        if init is None:
            raise
        raise TrainingError(f"{exc}; the backbone's weights come from {init}: were they "
                            "trained on other input fields or sizes?") from exc.__cause__


def unused_parameters(model: torch.nn.Module) -> list[str]:
    """Trainable parameters without a gradient after a backward pass: those DDP cannot reduce
    unless ``train.find_unused_parameters`` is set."""
    return [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]


def check_unused(unused: list[str], dist: Any, *, allowed: bool) -> None:
    """Under DDP (``dist.enabled``), parameters without a gradient (``unused``, from
    :func:`check_forward`) fail in the first backward pass unless ``allowed``
    (``train.find_unused_parameters``): say so before training, on every process.

    Raises:
        ConfigError: at ``train.find_unused_parameters``, naming the parameters.
    """
    from symkit.runner import distributed as D

    if not dist.enabled or allowed:
        return
    if D.all_reduce_sum(dist, [float(len(unused))])[0] > 0:
        names = ", ".join(unused[:3]) + (", ..." if len(unused) > 3 else "")
        raise ConfigError(
            "train.find_unused_parameters",
            f"{len(unused) or 'some'} trainable parameter(s) get no gradient from the loss "
            f"({names or 'on another process'}), e.g. an output head the loss does not use; DDP "
            "(torchrun) cannot train that by default: set train.find_unused_parameters=true, or "
            "make the loss use every output",
        )


def check_outputs(model: Any, outputs: Any) -> None:
    """Check that ``outputs`` (of ``model``) is a dict with every field of ``model.out_spec``.

    Raises:
        ConfigError: naming ``model.out_spec.<field>`` and the fields the model writes.
    """
    if not isinstance(outputs, Mapping):
        raise ConfigError("model.backbone", f"the model returned {type(outputs).__name__}, not "
                          "a dict of named output fields")
    for name in getattr(model, "out_spec", None) or ():
        if name not in outputs:
            raise ConfigError(f"model.out_spec.{name}", f"the model does not write '{name}'; it "
                              f"writes {_names(outputs)} (fix model.out_spec or the backbone's "
                              "output fields)")


def _apply(run: Any, key: str, fn: Any, outputs: Mapping[str, Any], batch: Mapping[str, Any],
           declared: Any = None) -> torch.Tensor:
    """Check the node's ``output``/``target`` field names, then call ``fn(outputs, batch)``.

    ``declared``: a symmetrized model's ``out_spec``; an ``output`` it does not declare is
    refused (the symmetrizer averages it untransformed, as if it were invariant)."""
    node = run.cfg.get(key) if run.cfg.get(key) is not None else run.cfg.get("loss")
    category = "metrics" if key == "metric" and run.cfg.get("metric") is not None else "losses"
    for at, fields in _leaf_field_options(node, category, key):
        if "output" in fields and fields["output"] not in outputs:
            raise ConfigError(f"{at}.output", f"'{fields['output']}' is not an output of the "
                              f"model; the backbone writes {_names(outputs)}")
        if "output" in fields and declared is not None and fields["output"] not in declared:
            raise ConfigError(f"{at}.output", f"'{fields['output']}' is not declared in "
                              f"model.out_spec ({_names(declared)}), so the symmetrizer averages "
                              "it untransformed, as if it were invariant; declare it there with "
                              "its rep")
        if "target" in fields and fields["target"] not in batch:
            raise ConfigError(f"{at}.target", f"'{fields['target']}' is not a field of the "
                              f"data; a training batch has {_names(batch)}")
    value = call(key, f"the {key}", fn, outputs, batch, fields=(outputs, batch))
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ConfigError(key, f"the {key} must give one number per batch, got {shape}")
    return value


def _leaf_field_options(node: Any, category: str, key: str) -> list[tuple[str, dict[str, str]]]:
    """``(key path, field names)`` of the node and, for ``weighted_sum``, of each term's loss
    (``loss.terms.NAME.loss``), so a wrong name is reported at its own key."""
    from symkit.config import to_plain

    plain = to_plain(node, key=key)
    terms = plain.get("terms") if isinstance(plain, Mapping) else None
    if isinstance(terms, Mapping) and str(plain.get("type", "")).split("::")[-1] == "weighted_sum":
        out = []
        for name, term in terms.items():
            if isinstance(term, Mapping) and term.get("loss") is not None:
                out += _leaf_field_options(term["loss"], "losses", f"{key}.terms.{name}.loss")
        return out
    return [(key, _field_options(node, category, key))]


def _field_options(node: Any, category: str, key: str) -> dict[str, str]:
    """The ``output`` and ``target`` field names a loss or metric node reads (YAML or default)."""
    from symkit._config_types import options_of
    from symkit.config import _resolve, to_plain

    entry, params = _resolve(to_plain(node, key=key), category, key, "type")
    options = options_of(entry.load()).by_name
    found = {}
    for name in ("output", "target"):
        value = params.get(name, options[name].default if name in options else None)
        if isinstance(value, str):
            found[name] = value
    return found


def call(key: str, what: str, fn: Any, *args: Any,
          fields: tuple[Mapping, Mapping] | None = None,
          where: str = "the first training batch, before training") -> Any:
    """``fn(*args)``; a ``KeyError`` becomes a :class:`ConfigError` at ``key`` listing the
    fields there are (``fields``: model outputs and batch), anything else but a symkit error
    a one-line :class:`TrainingError` saying it failed on ``where``."""
    try:
        return fn(*args)
    except SymkitError:
        raise
    except KeyError as exc:
        have = (f"; the model writes {_names(fields[0])} and a training batch has "
                f"{_names(fields[1])}") if fields else f"; a training batch has {_names(args[0])}"
        raise ConfigError(key, f"{what} reads a field that is not there: KeyError "
                          f"{exc.args[0]!r}{have}") from exc
    except Exception as exc:  # noqa: BLE001 - one line for the user; --debug has the traceback
        text = (str(exc).strip().splitlines() or [""])[0]
        raise TrainingError(f"{key}: {what} failed on {where}: {type(exc).__name__}: {text}"
                            ) from exc


def _names(mapping: Any) -> str:
    names = [str(k) for k in mapping] if isinstance(mapping, Mapping) else []
    return ", ".join(f"'{n}'" for n in names) if names else "no fields"
