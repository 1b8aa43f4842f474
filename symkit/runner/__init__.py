"""Training, evaluation, checkpoints and MLflow tracking for symkit models.

``symkit.runner.train(config)`` is ``symkit train CONFIG``; ``symkit.load(run)`` rebuilds a
trained model. Submodules import torch; MLflow and matplotlib are imported only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["train", "load_run", "TrainConfig", "TrackingConfig", "EquivarianceConfig"]

_LAZY = {
    "train": "symkit.runner.trainer",
    "load_run": "symkit.runner.load",
    "TrainConfig": "symkit.runner.schema",
    "TrackingConfig": "symkit.runner.schema",
    "EquivarianceConfig": "symkit.runner.schema",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symkit.runner' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
