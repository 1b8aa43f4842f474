"""The one place that detects the optional native extension ``torch-cluster``.

A missing extension means the pure-torch path; a *broken* one (it imports but fails, e.g. built
against another torch) is reported once with a warning and then also means the pure-torch path.
Set ``SYMKIT_POINTCLOUD_NO_ACCEL=1`` to force the pure-torch path.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

__all__ = ["torch_cluster", "backend"]

_UNSET = object()
_cached: object = _UNSET


def torch_cluster() -> ModuleType | None:
    """The imported ``torch_cluster`` module, or ``None`` when absent, broken or disabled."""
    global _cached
    if _cached is _UNSET:
        _cached = _detect()
    return _cached  # type: ignore[return-value]


def backend() -> str:
    """Which kNN implementation :func:`~symkit_pointcloud.ops.knn` uses: ``torch-cluster`` or
    ``torch``."""
    return "torch" if torch_cluster() is None else "torch-cluster"


def _detect() -> ModuleType | None:
    if os.environ.get("SYMKIT_POINTCLOUD_NO_ACCEL", "").lower() in {"1", "true", "yes"}:
        return None
    try:
        module = importlib.import_module("torch_cluster")
        module.knn  # noqa: B018 - a broken build may lack its ops
    except ModuleNotFoundError as exc:
        if exc.name != "torch_cluster":
            return _broken(exc)
        return None
    except Exception as exc:  # noqa: BLE001 - any failure of an installed extension degrades
        return _broken(exc)
    return module


def _broken(exc: BaseException) -> None:
    warnings.warn(
        f"torch-cluster is installed but unusable ({type(exc).__name__}: {exc}); "
        "symkit-pointcloud falls back to its pure-torch kNN",
        RuntimeWarning,
        stacklevel=3,
    )
    return None
