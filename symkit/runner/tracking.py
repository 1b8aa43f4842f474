"""MLflow tracking for runs: one run per training job, resumable, imported only when used.

:func:`start_tracker` returns an :class:`MlflowTracker` (rank 0, tracking enabled) or a
:class:`Tracker` that does nothing. The store defaults to ``sqlite:///mlflow.db`` in the working
directory; ``tracking.uri`` or ``MLFLOW_TRACKING_URI`` name any other. An unreachable store
raises :class:`~symkit.errors.TrackingError` when the run starts, before any training.

Metric steps are epochs. :meth:`Tracker.reconcile` makes the run's history equal to the
checkpoint's, logging only the (key, step) pairs MLflow lacks, so a run resumed after SIGKILL
has neither gaps nor duplicates.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import sqlite3
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from symkit.errors import ConfigError, TrackingError

__all__ = [
    "DEFAULT_URI",
    "MAX_PARAM_LENGTH",
    "Tracker",
    "MlflowTracker",
    "resolve_uri",
    "start_tracker",
    "flatten",
    "check_names",
]

DEFAULT_URI = "sqlite:///mlflow.db"
SQLITE_LOCK_TIMEOUT = 5.0  #: seconds to wait for a locked SQLite store before giving up
MAX_PARAM_LENGTH = 500
MAX_KEY_LENGTH = 250  #: MLflow's limit on param, metric and tag keys
MAX_TAG_LENGTH = 8000  #: MLflow's limit on tag values
MAX_EXPERIMENT_LENGTH = 500
_KEY_CHARS = re.compile(r"[/\w.\- :]*")  #: the characters MLflow allows in keys (POSIX)
PARAM_BATCH = 100
METRIC_BATCH = 1000

History = list[tuple[int, dict[str, float]]]


def resolve_uri(uri: str | None) -> str:
    """The tracking URI: config, else ``MLFLOW_TRACKING_URI``, else the local SQLite store."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys -> string values (lists keep their YAML-ish repr), each cut to 500 chars."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            text = str(value)
            cut = len(text) > MAX_PARAM_LENGTH
            out[name] = text[: MAX_PARAM_LENGTH - 3] + "..." if cut else text
    return out


def check_names(params: Mapping[str, Any], tags: Mapping[str, Any], experiment: str) -> None:
    """Check param keys, tag keys and values and the experiment name against MLflow's rules
    (characters, lengths, path-like keys), so a run never fails on them after it started.

    Args:
        params: flattened config (keys are config key paths, see :func:`flatten`).
        tags: ``tracking.tags``.

    Raises:
        ConfigError: naming the config key (``tracking.tags.<key>`` for a tag).
    """
    for key, value in tags.items():
        path = f"tracking.tags.{key}"
        _check_key(str(key), path, "tag key")
        if len(str(value)) > MAX_TAG_LENGTH:
            raise ConfigError(path, f"tag value of {len(str(value))} characters; MLflow keeps at "
                              f"most {MAX_TAG_LENGTH}")
    for key in params:
        _check_key(str(key), str(key), "config key (logged as an MLflow parameter)")
    if len(experiment) > MAX_EXPERIMENT_LENGTH:
        raise ConfigError("experiment", f"name of {len(experiment)} characters; MLflow allows "
                          f"at most {MAX_EXPERIMENT_LENGTH}")


def _check_key(name: str, path: str, what: str) -> None:
    if not _KEY_CHARS.fullmatch(name):
        bad = "".join(sorted({c for c in name if not _KEY_CHARS.fullmatch(c)}))
        raise ConfigError(path, f"MLflow rejects the {what} {name!r} (characters {bad!r}); "
                          "keys may only have letters, digits, '_', '-', '.', ' ', ':' and '/'")
    if len(name) > MAX_KEY_LENGTH:
        raise ConfigError(path, f"MLflow rejects the {what} of {len(name)} characters; keys "
                          f"have at most {MAX_KEY_LENGTH}")
    norm = posixpath.normpath(name) if name else ""
    if not name or norm != name or norm == "." or norm.startswith(("..", "/")):
        raise ConfigError(path, f"MLflow rejects the {what} {name!r}: keys must be non-empty "
                          "relative paths without '.', '..', '//' or a trailing '/'")


class Tracker:
    """No tracking: every method does nothing (tracking disabled, or not rank 0)."""

    run_id: str | None = None
    uri: str | None = None

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...

    def reconcile(self, history: History) -> None: ...

    def log_artifact(self, path: str | os.PathLike, folder: str | None = None) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def log_model(self, model: Any) -> None: ...

    def finish(self, status: str = "FINISHED") -> None: ...


class MlflowTracker(Tracker):
    """A run in an MLflow store, written through :class:`mlflow.tracking.MlflowClient`."""

    def __init__(self, client: Any, run_id: str, uri: str):
        self.client = client
        self.run_id = run_id
        self.uri = uri

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in flatten(params).items()]
        for i in range(0, len(items), PARAM_BATCH):
            self._call(self.client.log_batch, self.run_id, params=items[i : i + PARAM_BATCH])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self._log_rows([(k, float(v), step) for k, v in metrics.items()])

    def reconcile(self, history: History) -> None:
        """Log every (key, step) of ``history`` that the run does not have yet."""
        keys = {k for _, row in history for k in row}
        have = {
            k: {m.step for m in self._call(self.client.get_metric_history, self.run_id, k)}
            for k in keys
        }
        self._log_rows(
            [(k, float(v), step) for step, row in history for k, v in row.items()
             if step not in have[k]]
        )

    def log_artifact(self, path: str | os.PathLike, folder: str | None = None) -> None:
        self._call(self.client.log_artifact, self.run_id, str(path), folder)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        rows = [RunTag(k, str(v)[:MAX_TAG_LENGTH]) for k, v in tags.items()]
        self._call(self.client.log_batch, self.run_id, tags=rows)

    def log_model(self, model: Any) -> None:
        """Log an MLflow pytorch model with explicit requirements (no environment inference)."""
        import mlflow
        import torch

        import symkit

        mlflow.set_tracking_uri(self.uri)
        with mlflow.start_run(run_id=self.run_id):
            mlflow.pytorch.log_model(
                model, name="model",
                pip_requirements=[f"torch=={torch.__version__}", f"symkit=={symkit.__version__}"],
            )

    def finish(self, status: str = "FINISHED") -> None:
        self._call(self.client.set_terminated, self.run_id, status)

    def _log_rows(self, rows: Iterable[tuple[str, float, int]]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v, step in rows]
        for i in range(0, len(metrics), METRIC_BATCH):
            self._call(self.client.log_batch, self.run_id, metrics=metrics[i : i + METRIC_BATCH])

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - MLflow raises many types; one error for users
            first = (str(exc).strip().splitlines() or [""])[0]
            if getattr(exc, "error_code", None) == "INVALID_PARAMETER_VALUE":
                raise TrackingError(  # the store works; it refused a name or value
                    f"MLflow at {self.uri} refused a value: {first}; rename the config key, "
                    "tag or value it names (see MLflow's limits in docs/errors.md)"
                ) from exc
            raise TrackingError(
                f"MLflow at {self.uri}: {type(exc).__name__}: {first}; fix tracking.uri / "
                "MLFLOW_TRACKING_URI, or run with tracking.enabled=false"
            ) from exc


def start_tracker(
    uri: str | None,
    experiment: str,
    *,
    run_id: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> MlflowTracker:
    """Open (``run_id``) or create a run; fail with :class:`TrackingError` if the store is down."""
    uri = resolve_uri(uri)
    check_reachable(uri)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise TrackingError(
            "tracking needs MLflow: pip install 'symkit[tracking]' (or set tracking.enabled=false)"
        ) from exc
    probe = MlflowTracker(None, "", uri)
    with _sqlite_init_lock(uri):  # MLflow creates a new store's tables here
        client = probe._call(MlflowClient, tracking_uri=uri)
    probe.client = client
    if run_id is not None:
        probe._call(client.get_run, run_id)
        probe._call(client.update_run, run_id, "RUNNING")
        return MlflowTracker(client, run_id, uri)
    found = probe._call(client.get_experiment_by_name, experiment)
    if found is None:
        try:
            exp_id = client.create_experiment(experiment)
        except Exception:  # noqa: BLE001 - created meanwhile by another job, or a real failure
            found = probe._call(client.get_experiment_by_name, experiment)
            if found is None:
                exp_id = probe._call(client.create_experiment, experiment)
            else:
                exp_id = found.experiment_id
    else:
        exp_id = found.experiment_id
    run = probe._call(client.create_run, exp_id, run_name=run_name, tags=dict(tags or {}))
    return MlflowTracker(client, run.info.run_id, uri)


@contextlib.contextmanager
def _sqlite_init_lock(uri: str) -> Iterator[None]:
    """Serialize the first use of a SQLite store across processes.

    Two jobs started together on a new ``mlflow.db`` would otherwise both create its tables
    and one fails ("table ... already exists").
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0] + ".lock")
    try:
        handle = open(path, "a")  # noqa: SIM115 - closed below
    except OSError:  # the store's folder is unusable: MLflow reports it as a TrackingError
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_reachable(uri: str, timeout: float = 10.0) -> None:
    """For an HTTP store, GET ``/health`` once (no retries); for an existing SQLite file, take
    and release its write lock; other stores fail on first use."""
    if uri.startswith("sqlite:///"):
        _check_sqlite(uri)
    if not uri.startswith(("http://", "https://")):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            if response.status >= 400:
                raise TrackingError(f"tracking server {uri} answered {response.status} on /health")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TrackingError(
            f"cannot reach the tracking server {uri} ({exc}); start it, fix tracking.uri / "
            "MLFLOW_TRACKING_URI, or run with tracking.enabled=false"
        ) from exc


def _check_sqlite(uri: str) -> None:
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:":
        return
    fix = "fix tracking.uri / MLFLOW_TRACKING_URI, or run with tracking.enabled=false"
    if not os.path.isfile(path):  # MLflow creates it: its folder must be writable
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder, prefix=".symkit-write-test-"):
                pass
        except OSError as exc:
            raise TrackingError(
                f"tracking.uri: cannot create the tracking store {uri}: its folder {folder} is "
                f"not writable ({exc.strerror or exc}); {fix}"
            ) from None
        return
    try:
        con = sqlite3.connect(path, timeout=SQLITE_LOCK_TIMEOUT)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.rollback()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise TrackingError(
            f"cannot write the tracking store {uri} ({exc}); another process may hold it "
            f"locked, or the file is read-only: {fix}"
        ) from exc
