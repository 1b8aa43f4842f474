"""Plots of the recorded benchmark results: quality against training time, one point per method.

Reads ``benchmarks/results/digits_20ep.json`` (else ``digits.json``; from
``benchmarks/digits.py``) and
``benchmarks/results/nbody.json`` (the n-body table of ``benchmarks/README.md``) and writes
PNGs to ``benchmarks/plots/`` with matplotlib's Agg backend. Missing inputs are skipped.

    python benchmarks/plots.py [--results benchmarks/results] [--out benchmarks/plots]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def digits_plot(result: dict, path: Path) -> Path:
    """Test accuracy (c4 and so2 test sets) against training time, per method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, row in enumerate(result["rows"]):
        color = f"C{i}"
        t = row["train_s"]
        ax.scatter([t], [row["test_c4"]], color=color, marker="o", label=row["method"])
        ax.scatter([t], [row["test_so2"]], color=color, marker="^")
        ax.plot([t, t], [row["test_so2"], row["test_c4"]], color=color, lw=0.8, alpha=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("training time (s, sum of epochs, 1 thread, shared machine)")
    ax.set_ylabel("test accuracy (o: c4-rotated, ^: so2-rotated)")
    ax.set_title(f"Rotated digits, trained upright ({result['rows'][0]['epochs']} epochs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def nbody_plot(result: dict, path: Path) -> Path:
    """Test MSE at the best validation epoch against wall time, per method and setting."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 7))
    markers = {"16-core host": "s", "2-core machine": "o"}
    ax.set_xscale("log")
    ax.set_yscale("log")
    for i, row in enumerate(r for r in result["rows"] if r.get("wall_s") and r.get("test_mse")):
        ax.scatter([row["wall_s"]], [row["test_mse"]], color=f"C{i % 10}",
                   marker=markers.get(row.get("where"), "o"),
                   label=f"{row['method']} ({row['epochs']} ep, {row.get('where', '')})")
    left = ax.get_xlim()[0]
    for name, value in result.get("published", {}).items():
        ax.axhline(value, color="grey", lw=0.7, ls="--")
        ax.text(left, value, f" published {name} {value}", fontsize=7, va="bottom",
                color="grey")
    ax.set_xlabel("wall time of the run (s)")
    ax.set_ylabel("test MSE at best validation epoch")
    ax.set_title("Charged 5-body: test MSE against wall time\n"
                 "(square: 16-core host, 2 threads/run; circle: 2-core machine, 1 thread)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--out", default=str(HERE / "plots"))
    args = parser.parse_args(argv)
    results, out = Path(args.results), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    digits = next((results / n for n in ("digits_20ep.json", "digits.json")
                   if (results / n).exists()), None)
    if digits is not None:
        made.append(digits_plot(json.loads(digits.read_text()),
                                out / "digits_accuracy_vs_time.png"))
    if (results / "nbody.json").exists():
        made.append(nbody_plot(json.loads((results / "nbody.json").read_text()),
                               out / "nbody_mse_vs_time.png"))
    for path in made:
        print(path)


if __name__ == "__main__":
    main()
