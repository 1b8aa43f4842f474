"""Reloading a trained model from its run: the resolved YAML plus the best state_dict.

A reference is a local run directory (``config.yaml`` + ``best.pt``), a checkpoint file inside
one, or an MLflow run id (its ``config.yaml`` and ``model.pt`` artifacts, from the store named
by ``tracking_uri``, ``MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db``).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from symkit.errors import CheckpointError, TrackingError
from symkit.runner import checkpoint as ckpt

__all__ = ["LoadedRun", "load", "load_run", "locate_run", "run_tags", "check_store_exists",
           "uri_from_overrides"]

_RUN_ID = re.compile(r"[0-9a-f]{32}")  #: MLflow run ids: 32 lower-case hex digits


@dataclass
class LoadedRun:
    """A rebuilt model in eval mode, with its run config."""

    model: nn.Module
    run: object  # symkit.runner.parts.RunConfig
    run_dir: Path | None
    run_id: str | None


def load(ref: str | os.PathLike, *, tracking_uri: str | None = None) -> nn.Module:
    """The trained model of a run id or run directory, in eval mode."""
    return load_run(ref, tracking_uri=tracking_uri).model


def load_run(ref: str | os.PathLike, *, tracking_uri: str | None = None,
             overrides: Sequence[str] = ()) -> LoadedRun:
    """Rebuild a run's model from its YAML and best weights (see module docs for ``ref``).

    ``overrides`` (``key=value``) apply to the run's config before anything is built, e.g.
    ``data.path=other.npz`` to evaluate on another file; they must leave the model's weights
    loadable. A run id is looked up in ``tracking_uri``, else in the ``tracking.uri`` that
    ``overrides`` set, else in ``MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db``.
    """
    from symkit.runner.parts import build_model, read_config

    if tracking_uri is None:  # a run id is looked up in the store that the overrides name
        tracking_uri = uri_from_overrides(overrides)
    path = Path(ref)
    _check_exists(ref)
    if path.is_file():
        config, weights, run_dir, run_id = path.parent / "config.yaml", path, path.parent, None
    elif path.is_dir():
        config, weights, run_dir, run_id = path / "config.yaml", path / ckpt.BEST, path, None
    else:
        run_tags(str(ref), tracking_uri)  # no such store or run: one line naming both
        folder = _download(str(ref), tracking_uri)
        config, weights, run_dir, run_id = (folder / "config.yaml", folder / "model.pt", None,
                                            str(ref))
    if not config.is_file():
        raise CheckpointError(f"{ref}: no config.yaml next to the weights")
    run = read_config(config, list(overrides))
    model = build_model(run, pretrained=False)  # the run's own weights replace backbone.init
    state = ckpt.load_checkpoint(weights)
    try:
        model.load_state_dict(state["model"] if "optimizer" in state else state)
    except RuntimeError as exc:
        changed = f" with overrides {list(overrides)}" if overrides else ""
        raise CheckpointError(
            f"{ref}: the weights in {weights} do not fit the model built from its config"
            f"{changed}; override data.* and evaluation settings only, not the model's "
            f"architecture ({str(exc).splitlines()[0]} ...)") from exc
    model.eval()
    return LoadedRun(model, run, run_dir, run_id)


def locate_run(ref: str | os.PathLike, *, tracking_uri: str | None = None) -> Path:
    """The local directory of a run: ``ref`` itself, or the ``symkit.run_dir`` tag of a run id
    in the store ``tracking_uri`` (default: ``MLFLOW_TRACKING_URI``, else ``mlflow.db``)."""
    path = Path(ref)
    _check_exists(ref)
    if path.is_dir():
        if not (path / ckpt.LAST).is_file():
            raise CheckpointError(f"{path}: not a run directory (no {ckpt.LAST})")
        return path.resolve()
    run_dir = run_tags(str(ref), tracking_uri).get("symkit.run_dir")
    if not run_dir or not (Path(run_dir) / ckpt.LAST).is_file():
        raise CheckpointError(f"run {ref}: its run directory {run_dir!r} is not on this machine")
    return Path(run_dir)


def run_tags(run_id: str, tracking_uri: str | None = None) -> dict[str, str]:
    """The tags of run ``run_id`` in the store ``tracking_uri`` (default as
    :func:`locate_run`); the store is never created to look.

    Raises:
        CheckpointError: no such store, or no such run in it (one line naming both).
        TrackingError: the store cannot be reached.
    """
    from symkit.runner.tracking import resolve_uri

    check_store_exists(run_id, tracking_uri)
    client = _client(tracking_uri)
    try:
        return dict(client.get_run(run_id).data.tags)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{run_id}: no such run in the tracking store "
                              f"{resolve_uri(tracking_uri)} ({_first_line(exc)}); {_STORE_HINT}"
                              ) from exc


def uri_from_overrides(overrides: Sequence[str]) -> str | None:
    """The ``tracking.uri`` that ``key=value`` overrides set, if any (to find a run by id)."""
    from symkit.config import load_config
    from symkit.errors import ConfigError

    items = [o for o in overrides if o.startswith("tracking.") or o.startswith("tracking=")]
    try:
        uri = load_config({}, items).get("tracking", {}).get("uri")
    except (ConfigError, AttributeError):
        return None
    return str(uri) if uri else None


_STORE_HINT = ("for a run in another store pass tracking.uri=... (or set MLFLOW_TRACKING_URI), "
               "or give the run directory instead")


def check_store_exists(ref: str | os.PathLike, tracking_uri: str | None = None) -> None:
    """Looking a run id up never creates a store: a local SQLite store that does not exist
    holds no run.

    Raises:
        CheckpointError: naming ``ref`` and the store.
    """
    from symkit.runner.tracking import resolve_uri

    uri = resolve_uri(tracking_uri)
    store = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if uri.startswith("sqlite:///") and not os.path.isfile(store):
        raise CheckpointError(f"{ref}: no such run: the tracking store {uri} does not exist; "
                              f"{_STORE_HINT}")


def _check_exists(ref: str | os.PathLike) -> None:
    """A reference that is neither an existing path nor shaped like a run id is a path typo."""
    text = str(ref)
    if Path(text).exists() or _RUN_ID.fullmatch(text):
        return
    kind = "config file" if Path(text).suffix in (".yaml", ".yml") else "file or run directory"
    raise CheckpointError(f"{text}: no such {kind}, and not an MLflow run id (32 hex digits)")


def _client(tracking_uri: str | None):
    from symkit.runner.tracking import check_reachable, resolve_uri

    uri = resolve_uri(tracking_uri)
    check_reachable(uri)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise TrackingError("loading a run by id needs MLflow: pip install 'symkit[tracking]'"
                            ) from exc
    return MlflowClient(tracking_uri=uri)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _download(run_id: str, tracking_uri: str | None,
              names: Sequence[str] = ("config.yaml", "model.pt")) -> Path:
    """A new temporary folder holding the artifacts ``names`` of run ``run_id``.

    Raises:
        CheckpointError: the run or one of the artifacts is not in the store (one line).
    """
    import shutil

    from symkit.runner.tracking import resolve_uri

    client = _client(tracking_uri)
    folder = Path(tempfile.mkdtemp(prefix=f"symkit-{re.sub(r'[^0-9A-Za-z]', '_', run_id[:8])}-"))
    try:
        for name in names:
            client.download_artifacts(run_id, name, str(folder))
    except Exception as exc:  # noqa: BLE001
        shutil.rmtree(folder, ignore_errors=True)
        raise CheckpointError(
            f"{run_id}: not a local path, and not an MLflow run with {' and '.join(names)} "
            f"artifacts in the tracking store {resolve_uri(tracking_uri)} "
            f"({type(exc).__name__}: {_first_line(exc)})"
        ) from exc
    return folder
