"""PNG plots of a run (matplotlib, Agg backend, imported only here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["learning_curves", "equivariance_bars"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def learning_curves(
    history: Sequence[tuple[int, Mapping[str, float]]], path: str | Path, metric: str = "metric"
) -> Path:
    """Training loss, validation loss and the validation task metric against the epoch."""
    plt = _pyplot()
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, ax in (("train_loss", ax_loss), ("valid_loss", ax_loss), ("valid_metric", ax_metric)):
        points = [(e + 1, row[key]) for e, row in history if key in row]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", markersize=3, label=key)
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    ax_metric.set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    ax_loss.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def equivariance_bars(errors: Mapping[str, float], path: str | Path) -> Path:
    """Relative equivariance error of the final model by element kind, each bar labelled with
    its value.

    The axis starts at 0 (linear) unless the errors span more than two decades, when it is
    logarithmic from the decade below the smallest error (a log axis has no 0, so a kind with
    an exact 0 error keeps the linear axis).
    """
    import math

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    kinds = list(errors)
    values = [float(errors[k]) for k in kinds]
    finite = [v for v in values if math.isfinite(v)]
    positive = [v for v in finite if v > 0]
    log = bool(positive) and len(positive) == len(values) and max(positive) > 100 * min(positive)
    bars = ax.bar(kinds, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.2g}" for v in values], padding=2, fontsize=8)
    if log:
        low = 10 ** math.floor(math.log10(min(positive)) - 1)
        ax.set(yscale="log", ylim=(low, 10 ** math.ceil(math.log10(max(positive)) + 1)),
               ylabel="relative error (log scale)")
    else:
        ax.set(ylim=(0, (max(finite, default=0.0) or 1.0) * 1.2), ylabel="relative error")
    ax.set(title="equivariance error by kind")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
