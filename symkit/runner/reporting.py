"""How a run presents itself: its default name, its MLflow tags, its progress lines."""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path
from typing import Any

import torch

from symkit.runner import distributed as D

__all__ = ["ProgressLines", "default_run_name", "run_folder_name", "run_tags"]


class ProgressLines:
    """Progress without a terminal (a log file, a batch job): one line on stderr every
    ``train.progress_every`` seconds (every step when 0), so a long epoch is not silent."""

    def __init__(self, epoch: int, cfg: Any, steps: int):
        self.epoch, self.cfg, self.steps, self.done = epoch, cfg, steps, 0
        self.start = self.last = time.monotonic()

    def update(self, mean_loss: float) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.last >= self.cfg.progress_every and self.done < self.steps:
            self.last = now
            print(f"epoch {self.epoch + 1}/{self.cfg.epochs}  step {self.done}/{self.steps}  "
                  f"train_loss {mean_loss:.4g}  {now - self.start:.0f}s", file=sys.stderr,
                  flush=True)


def default_run_name(run: Any) -> str:
    """``<config file>-<method>``: the config's file name and the symmetrizer's name
    (``none`` without one), e.g. ``fa_gnn-frame_averaging``."""
    model = run.cfg.get("model") or {}
    node = model.get("symmetrizer") if hasattr(model, "get") else None
    method = node.get("type") if hasattr(node, "get") else node
    method = str(method).split("::")[-1] if method else "none"
    return f"{Path(run.source).stem if run.source else run.experiment}-{method}"


def run_folder_name() -> str:
    """A run folder's name when tracking is off: time stamp and 6 random hex digits."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def run_tags(run_dir: Path, dist: D.DistInfo) -> dict[str, str]:
    """MLflow tags of a run: versions, run folder, process count and plugin statuses."""
    import symkit
    from symkit.plugins import plugin_report

    tags = {"symkit.version": symkit.__version__, "symkit.run_dir": str(run_dir),
            "symkit.world_size": str(dist.world_size), "torch.version": torch.__version__}
    for info in plugin_report():
        tags[f"symkit.plugin.{info.name}"] = f"{info.version} ({info.status})".strip()
    return tags
