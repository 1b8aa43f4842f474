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
    """Relative equivariance error of the final model by element kind (log scale)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    kinds = list(errors)
    values = [max(errors[k], 1e-17) for k in kinds]
    ax.bar(kinds, values, color="tab:blue")
    ax.set(yscale="log", ylabel="relative error", title="equivariance error by kind")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
