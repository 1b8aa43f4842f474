"""The training loop: seeded, checkpointed every epoch, resumable, tracked, DDP-ready.

Before the first step everything that can fail is checked (:mod:`symkit.runner.preflight`):
device, data against the input spec, one forward and backward pass through model, loss and
metric, the checkpoint folder and the tracking store; a failure there leaves no MLflow run
RUNNING and no run folder. Per epoch: train, validate (every ``val_every`` epochs and after the
last), write ``best.pt`` when the task metric improves, write ``last.pt``, and only then log the
epoch's metrics (MLflow step = the epoch number as printed, from 1). A run killed at any point
resumes from ``last.pt`` in the same MLflow run; :meth:`~symkit.runner.tracking.Tracker.reconcile`
logs the checkpointed epochs MLflow missed, so the metric history has no gaps and no duplicates.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from symkit import errors
from symkit.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    SymkitError,
    TrackingError,
    TrainingError,
)
from symkit.runner import checkpoint as ckpt
from symkit.runner import distributed as D
from symkit.runner import preflight
from symkit.runner.data import (
    build_split,
    check_inputs,
    eval_loader,
    find_nonfinite,
    first_batch,
    to_device,
    train_loader,
)
from symkit.runner.evaluation import evaluate, measure_equivariance
from symkit.runner.parts import (
    RunConfig,
    build_loss,
    build_metric,
    build_model,
    build_optimizer,
    build_scheduler,
    full_config,
    materialize,
    parameter_counts,
    read_config,
)
from symkit.runner.reporting import ProgressLines, default_run_name, run_folder_name, run_tags
from symkit.runner.tracking import Tracker

__all__ = ["RunResult", "train"]


@dataclass
class RunResult:
    """What a finished run reports (``summary()`` is the ``--json`` object)."""

    run_id: str | None
    run_dir: Path
    tracking_uri: str | None
    metrics: dict[str, float]
    equivariance: dict[str, float]
    model: nn.Module = field(repr=False)

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / ckpt.BEST

    @property
    def plots(self) -> Path:
        """The folder of the run's PNG plots (learning curves, equivariance error)."""
        return self.run_dir / "plots"

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "run_dir": str(self.run_dir),
            "checkpoint": str(self.checkpoint), "tracking_uri": self.tracking_uri,
            "metrics": self.metrics, "equivariance": self.equivariance,
        }


def train(source: Any = None, overrides: list[str] | tuple[str, ...] = (), *,
          resume: str | os.PathLike | None = None) -> RunResult:
    """Train from a config (path, mapping or DictConfig), or resume a run (id or directory).

    With ``resume``, the run directory's ``config.yaml`` is the config and ``overrides``
    apply on top (e.g. ``train.epochs=50`` to train longer).
    """
    from symkit.runner.load import locate_run, uri_from_overrides

    resume_dir = None
    if resume is not None:  # a run id is looked up in the store that the overrides name
        resume_dir = locate_run(resume, tracking_uri=uri_from_overrides(overrides))
    run = read_config(resume_dir / "config.yaml" if resume_dir else source, overrides)
    preflight.check_device(run.train.device)
    dist = D.setup(run.train.device)
    try:
        _set_threads(run.train.threads, dist)
        return _Job(run, dist, resume_dir).execute()
    finally:
        D.teardown(dist)


def _set_threads(threads: int | None, dist: D.DistInfo) -> None:
    if threads is None and dist.device.type == "cpu":
        local = int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size))
        threads = max(1, (os.cpu_count() or 1) // local)
    if threads:
        torch.set_num_threads(threads)


class _Job:
    """One training job on one process (rank)."""

    def __init__(self, run: RunConfig, dist: D.DistInfo, resume_dir: Path | None):
        self.run, self.cfg, self.dist = run, run.train, dist
        torch.manual_seed(self.cfg.seed)
        self.data = {s: build_split(run.cfg.data, s, self.cfg.max_samples, run.model_dtype)
                     for s in ("train", "valid", "test")}
        self.model = build_model(run).to(dist.device)
        for split, dataset in self.data.items():
            check_inputs(self.model, dataset, split)
        materialize(self.model, self.data["train"], dist.device)
        self.loss_fn, self.metric_fn = build_loss(run), build_metric(run)
        batch = first_batch(self.data["train"], min(2, self.cfg.batch_size))
        unused = preflight.check_forward(self.model, to_device(batch, dist.device), run,
                                         self.loss_fn, self.metric_fn)
        preflight.check_unused(unused, dist, allowed=self.cfg.find_unused_parameters)
        self.optimizer = build_optimizer(run, self.model.parameters())
        self.scheduler = build_scheduler(run, self.optimizer)
        self.net: nn.Module = self.model
        if dist.enabled:
            ids = [dist.device.index] if dist.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=self.cfg.find_unused_parameters)
        self.tracker, self.run_dir = self._open_run(resume_dir)
        self.start_epoch, self.step = 0, 0
        self.history: list[tuple[int, dict[str, float]]] = []
        self.best: float | None = None
        if resume_dir is not None:
            try:
                self._restore()
            except BaseException:
                _finish_quietly(self.tracker, "FAILED")
                raise

    # -- run directory and tracking ---------------------------------------------------------
    def _open_run(self, resume_dir: Path | None) -> tuple[Tracker, Path]:
        """Rank 0 makes the run folder and the MLflow run; its error is raised on every rank."""
        tracker, run_dir, error = Tracker(), resume_dir, None
        if self.dist.is_main:
            try:
                tracker, run_dir = self._start_tracking(resume_dir)
            except SymkitError as exc:
                error = (type(exc).__name__, str(exc), getattr(exc, "key", None))
                if not self.dist.enabled:
                    raise
        run_dir, error = D.broadcast_object(self.dist, (str(run_dir), error))
        if error is not None:
            name, message, key = error
            cls = getattr(errors, name, TrackingError)
            if issubclass(cls, ConfigError):
                raise cls(key, message.removeprefix(f"{key}: ") if key else message)
            raise cls(message)
        return tracker, Path(run_dir)

    def _start_tracking(self, resume_dir: Path | None) -> tuple[Tracker, Path]:
        """Check the checkpoint folder and the store, then start the run; if anything fails
        after the MLflow run started, it is marked FAILED and a new run folder removed."""
        from symkit.config import to_yaml

        tcfg, run_id = self.run.tracking, None
        if resume_dir is not None:
            run_id = ckpt.load_checkpoint(resume_dir / ckpt.LAST).get("run_id")
        tracker, created, folders = Tracker(), None, []
        try:
            if resume_dir is None:
                folders = preflight.check_checkpoint_dir(self.cfg.checkpoint_dir)
            if tcfg.enabled and (resume_dir is None or run_id is not None):
                from symkit.runner.tracking import start_tracker

                tracker = start_tracker(tcfg.uri, self.run.experiment, run_id=run_id,
                                        run_name=tcfg.run_name or default_run_name(self.run),
                                        tags=tcfg.tags)
            run_dir = resume_dir or Path(self.cfg.checkpoint_dir) / (
                tracker.run_id or run_folder_name())
            run_dir = run_dir.resolve()
            if resume_dir is None:
                run_dir.mkdir(parents=True, exist_ok=True)
                created = run_dir
            (run_dir / "config.yaml").write_text(to_yaml(self.run.cfg))
            if resume_dir is None:
                tracker.log_params(full_config(self.run))
            tracker.set_tags(run_tags(run_dir, self.dist))
        except BaseException as exc:
            _finish_quietly(tracker, "FAILED")
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            preflight.remove_empty(folders)
            if isinstance(exc, OSError):
                raise CheckpointError(f"train.checkpoint_dir: cannot write the run folder "
                                           f"({exc.strerror or exc})") from exc
            raise
        return tracker, run_dir

    def _restore(self) -> None:
        state = ckpt.load_checkpoint(self.run_dir / ckpt.LAST)
        for stale in self.run_dir.glob(".*.tmp"):  # a write cut short by a kill
            stale.unlink(missing_ok=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        ckpt.set_rng_state(state["rng"])
        self.start_epoch, self.step = state["epoch"] + 1, state["step"]
        self.best = state["best"]
        self.history = [(int(e), dict(row)) for e, row in state["history"]]
        self.tracker.reconcile(_steps(self.history))

    # -- the loop -----------------------------------------------------------------------------
    def execute(self) -> RunResult:
        try:
            for epoch in range(self.start_epoch, self.cfg.epochs):
                row = {"train_loss": self._train_epoch(epoch),
                       "lr": self.optimizer.param_groups[0]["lr"]}
                self.scheduler.step()
                row.update(_model_metrics(self.model))
                if (epoch + 1) % self.cfg.val_every == 0 or epoch + 1 == self.cfg.epochs:
                    row.update(self._validate())
                self.history.append((epoch, row))
                self._save_last(epoch)
                self.tracker.log_metrics(row, step=epoch + 1)
                self._log_line(epoch, row)
            result = self._finish()
        except BaseException as exc:
            _finish_quietly(self.tracker, "KILLED" if isinstance(exc, KeyboardInterrupt)
                            else "FAILED")
            raise
        self.tracker.finish("FINISHED")
        return result

    def _train_epoch(self, epoch: int) -> float:
        from tqdm.auto import tqdm

        self.net.train()
        loader = train_loader(self.data["train"], self.cfg, self.dist, epoch)
        report = self.cfg.progress and self.dist.is_main
        show = report and sys.stderr.isatty()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", disable=not show,
                   leave=False, dynamic_ncols=True)
        lines = ProgressLines(epoch, self.cfg, len(loader)) if report and not show else None
        total, count = 0.0, 0
        for batch in bar:
            batch = to_device(batch, self.dist.device)
            self._check_data(find_nonfinite(batch, self.model.in_spec, loader.dataset, "train"))
            try:
                outputs = self.net(batch)
            except RuntimeError as exc:  # DDP: a parameter got no gradient in the last step
                if "find_unused_parameters" not in str(exc):
                    raise
                raise ConfigError("train.find_unused_parameters", "DDP found parameters without "
                                  "a gradient in the last step; set "
                                  "train.find_unused_parameters=true") from exc
            loss = self.loss_fn(outputs, batch)
            for extra in self.model.extra_losses().values():
                loss = loss + extra
            self._check_finite(loss, epoch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.optimizer.step()
            self.step += 1
            n = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
            total, count = total + loss.item() * n, count + n
            bar.set_postfix(loss=f"{loss.item():.4g}")
            if lines is not None:
                lines.update(total / max(count, 1))
        total, count = D.all_reduce_sum(self.dist, [total, count])
        return total / max(count, 1)

    def _check_data(self, problem: str | None) -> None:
        """Raise :class:`DataError` on every rank when any rank found a bad batch."""
        if D.all_reduce_sum(self.dist, [float(problem is not None)])[0] > 0:
            raise DataError(problem or "data: another process found NaN or Inf in its inputs")

    def _check_finite(self, loss: torch.Tensor, epoch: int) -> None:
        bad = 0.0 if bool(torch.isfinite(loss.detach())) else 1.0
        if D.all_reduce_sum(self.dist, [bad])[0] > 0:
            last = self.run_dir / ckpt.LAST
            kept = (f"the last good checkpoint is {last}" if last.is_file() else
                    "no checkpoint was written yet (one is written after each epoch)")
            raise TrainingError(
                f"non-finite loss ({loss.item()}) at epoch {epoch + 1}, step {self.step + 1}; "
                f"{kept} (lower the learning rate or set train.grad_clip)"
            )

    def _validate(self) -> dict[str, float]:
        result = evaluate(self.model, eval_loader(self.data["valid"], self.cfg, self.dist),
                          self.loss_fn, self.metric_fn, self.dist, split="valid")
        metric = result["metric"]
        if self.best is None or math.isnan(self.best) or _better(metric, self.best, self.run.mode):
            self.best = metric
            if self.dist.is_main:
                ckpt.save_atomic(self.model.state_dict(), self.run_dir / ckpt.BEST)
        return {"valid_loss": result["loss"], "valid_metric": metric}

    def _save_last(self, epoch: int) -> None:
        if self.dist.is_main:
            ckpt.save_atomic({
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": ckpt.rng_state(),
                "epoch": epoch, "step": self.step, "best": self.best,
                "history": self.history, "run_id": self.tracker.run_id,
            }, self.run_dir / ckpt.LAST)
        D.barrier(self.dist)

    def _log_line(self, epoch: int, row: dict[str, float]) -> None:
        if self.dist.is_main and self.cfg.progress:
            text = "  ".join(f"{k} {v:.4g}" for k, v in row.items())
            print(f"epoch {epoch + 1}/{self.cfg.epochs}  {text}", file=sys.stderr, flush=True)

    # -- the end ------------------------------------------------------------------------------
    def _finish(self) -> RunResult:
        D.barrier(self.dist)
        self.model.load_state_dict(ckpt.load_checkpoint(self.run_dir / ckpt.BEST))
        test = evaluate(self.model, eval_loader(self.data["test"], self.cfg, self.dist),
                        self.loss_fn, self.metric_fn, self.dist, split="test")
        metrics = {"test_metric": test["metric"], "test_loss": test["loss"],
                   "best_valid_metric": float(self.best), "epochs": float(self.cfg.epochs),
                   **parameter_counts(self.model)}
        equivariance: dict[str, float] = {}
        if self.dist.is_main:
            eq = self.cfg.equivariance
            if eq.n_elements > 0 and eq.max_samples > 0:
                equivariance = measure_equivariance(
                    self.model, self.data[eq.split], eq, seed=self.cfg.seed,
                    device=self.dist.device)
            final = {**metrics, **{f"equivariance.{k}": v for k, v in equivariance.items()}}
            self.tracker.reconcile([(self.cfg.epochs, final)])
            self._write_artifacts(equivariance)
        D.barrier(self.dist)
        return RunResult(self.tracker.run_id, self.run_dir, self.tracker.uri, metrics,
                         equivariance, self.model)

    def _write_artifacts(self, equivariance: dict[str, float]) -> None:
        from symkit.runner import plots

        folder = self.run_dir / "plots"
        folder.mkdir(exist_ok=True)
        pngs = [plots.learning_curves(self.history, folder / "learning_curves.png")]
        if equivariance:
            pngs.append(plots.equivariance_bars(equivariance, folder / "equivariance.png"))
        weights = self.run_dir / "model.pt"
        ckpt.save_atomic(self.model.state_dict(), weights)
        self.tracker.log_artifact(self.run_dir / "config.yaml")
        self.tracker.log_artifact(weights)
        for png in pngs:
            self.tracker.log_artifact(png, "plots")
        if self.run.tracking.log_model:
            self.tracker.log_model(self.model)


def _steps(history: list[tuple[int, dict[str, float]]]) -> list[tuple[int, dict[str, float]]]:
    """History rows keyed by MLflow step: the epoch number as printed (from 1)."""
    return [(epoch + 1, row) for epoch, row in history]


def _finish_quietly(tracker: Tracker, status: str) -> None:
    try:
        tracker.finish(status)
    except TrackingError:
        pass


def _better(new: float, old: float, mode: str) -> bool:
    if math.isnan(new):
        return False
    return new < old if mode == "min" else new > old


def _model_metrics(model: nn.Module) -> dict[str, float]:
    """The model's own diagnostics (``model.metrics()``, e.g. a learned augmentation width)."""
    metrics = getattr(model, "metrics", None)
    values = metrics() if callable(metrics) else {}
    return {f"model.{k}": float(v) for k, v in values.items()}
