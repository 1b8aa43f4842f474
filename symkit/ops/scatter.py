"""Scatter reductions over a ragged batch: the one place where torch-scatter is detected.

``scatter_sum(src, index, dim_size)[b] = sum_{i : index[i] = b} src[i]`` along dim 0. When the
optional ``torch_scatter`` extension imports, it is used; otherwise (or if it is broken, which
emits one warning) a pure-torch path based on ``index_add_`` is used. Both give the same result.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

__all__ = ["has_torch_scatter", "scatter_sum", "scatter_mean"]

#: cached detection result: ``{"module": torch_scatter or None}`` once detected
_STATE: dict[str, Any] = {}


def _torch_scatter() -> ModuleType | None:
    """The ``torch_scatter`` module if installed and working, else ``None`` (warned if broken)."""
    if "module" not in _STATE:
        try:
            import torch_scatter
        except ImportError:
            torch_scatter = None
        except Exception as exc:  # noqa: BLE001 - a broken binary extension must not be fatal
            _warn(f"torch-scatter is installed but failed to import ({_short(exc)})")
            torch_scatter = None
        _STATE["module"] = torch_scatter
    return _STATE["module"]


def has_torch_scatter() -> bool:
    """Whether the optional ``torch_scatter`` extension is used."""
    return _torch_scatter() is not None


def scatter_sum(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Sum the rows of ``src`` that share a segment index.

    Args:
        src: values, one row per element (node).
        index: segment (graph) of each row, in ``[0, dim_size)``.
        dim_size: number of segments ``B``.

    Shapes:
        src: ``(total, *F)``; index: ``(total,)`` long; returns ``(B, *F)``.
    """
    ts = _torch_scatter()
    if ts is not None:
        try:
            return ts.scatter(src, index, dim=0, dim_size=dim_size, reduce="sum")
        except Exception as exc:  # noqa: BLE001 - e.g. an ABI mismatch found at call time
            _warn(f"torch-scatter failed ({_short(exc)})")
            _STATE["module"] = None
    out = src.new_zeros((dim_size, *src.shape[1:]))
    return out.index_add_(0, index, src)


def scatter_mean(src: Tensor, index: Tensor, dim_size: int) -> Tensor:
    """Mean of the rows of ``src`` per segment (0 for an empty segment).

    Shapes:
        src: ``(total, *F)``; index: ``(total,)`` long; returns ``(B, *F)``.
    """
    total = scatter_sum(src, index, dim_size)
    ones = torch.ones(index.shape[0], dtype=src.dtype, device=src.device)
    count = scatter_sum(ones, index, dim_size).clamp_min(1)
    return total / count.reshape((dim_size,) + (1,) * (src.ndim - 1))


def _warn(message: str) -> None:
    warnings.warn(f"{message}; using the pure-torch scatter fallback", RuntimeWarning, stacklevel=3)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
