"""Plots of the recorded benchmark results: quality against training time, one point per method.

Reads ``benchmarks/results/digits_20ep.json`` (else ``digits.json``; from
``benchmarks/digits.py``), every ``nbody*.json`` and ``forces_*.json`` (through
``benchmarks/runs.py``: one point per configuration, mean over its seeds) and writes PNGs to
``benchmarks/plots/`` with matplotlib's Agg backend. Missing inputs are skipped.

    python benchmarks/plots.py [--results benchmarks/results] [--out benchmarks/plots]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the sibling modules runs.py and glance.py
    sys.path.insert(0, str(HERE))

from runs import SUPERSEDED  # noqa: E402


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


def _machine_label(machine: str | None) -> str:
    """The machine's name: its description up to the first comma or semicolon, and its device."""
    if not machine:
        return "machine not recorded"
    label = re.split(r"[,;]", machine)[0]
    label = (label.split("(")[0] if label.count("(") > label.count(")") else label).strip()
    device = re.search(r"device (?:cpu|cuda|mps)\S*", machine)
    return f"{label}, {device.group(0)}" if device else label


def _time_plot(groups, metric: str, path: Path, *, title: str, ylabel: str,
               lines: dict[str, tuple[float, str]]) -> Path:
    """Mean ``metric`` (error bar: sd over seeds) against mean wall time, log-log.

    Colour: symmetrizer family; filled marker: exact by construction, hollow: not; marker
    shape: machine. Each point is labelled with its epochs and seed count; groups without a
    recorded wall time or metric are left out (counted in the caption).
    """
    from runs import describe

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 6.5))
    families, machines, skipped = {}, {}, 0
    for g in groups:
        walls = [r.wall_s for r in g.runs]
        mean, sd, n = g.stat(metric)
        if n == 0 or any(w is None for w in walls):
            skipped += 1
            continue
        family, exact = describe(g.first.config, g.first.overrides)
        color = families.setdefault(family, f"C{len(families) % 10}")
        marker = machines.setdefault(_machine_label(g.first.machine),
                                     "os^Dvp<>"[len(machines) % 8])
        x = sum(walls) / len(walls)
        ax.errorbar([x], [mean], yerr=None if sd is None else [[sd], [sd]], fmt=marker,
                    color=color, mfc=color if exact.startswith("yes") else "none",
                    ms=7, capsize=2, lw=0.8)
        ax.annotate(f"{g.first.epochs} ep" + (f", {n} seeds" if n > 1 else ""), (x, mean),
                    fontsize=6, xytext=(4, 3), textcoords="offset points", color=color)
    from matplotlib.ticker import ScalarFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(which="minor", labelsize=6)
    for label, (value, color) in lines.items():
        ax.axhline(value, color=color, lw=0.8, ls="--")
        ax.text(ax.get_xlim()[1], value, f"{label} {value} ", fontsize=7, va="bottom",
                ha="right", color=color)
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=f) for f, c in
               families.items()]
    handles += [plt.Line2D([], [], color="k", marker=m, ls="", mfc="none", label=name)
                for name, m in machines.items()]
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12),
              ncol=2)
    ax.set_xlabel("wall time per run (s; mean over seeds)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}\nfilled: exact by construction; hollow: not; error bar: sd over "
                 f"seeds" + (f"; {skipped} configuration(s) without wall time not shown"
                             if skipped else ""), fontsize=9)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def nbody_plot(results: Path, path: Path) -> Path:
    """n-body test MSE (best validation epoch) against wall time, one point per configuration."""
    from glance import TARGET
    from runs import group_runs, load_runs

    published = {}
    if (results / "nbody.json").exists():
        published = json.loads((results / "nbody.json").read_text()).get("published", {})
    lines = {f"published {k}": (v, "grey") for k, v in published.items()}
    lines["issue 18 target"] = (TARGET, "red")
    return _time_plot(group_runs(load_runs(results, "nbody")), "test_mse", path,
                      title="Charged 5-body: test MSE against wall time",
                      ylabel="test MSE at the best validation epoch", lines=lines)


def forces_plot(results: Path, path: Path) -> Path:
    """Cu13 test force MAE against wall time, current (not superseded) configs only."""
    from runs import SUPERSEDED, group_runs, load_runs

    groups = [g for g in group_runs(load_runs(results, "forces"))
              if g.first.source not in SUPERSEDED]
    return _time_plot(groups, "force_mae", path,
                      title="Cu13 energies and forces: test force MAE against wall time",
                      ylabel="test force MAE (eV/Å)", lines={})


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
    if any(results.glob("nbody*.json")):
        made.append(nbody_plot(results, out / "nbody_mse_vs_time.png"))
    if any(p.name not in SUPERSEDED for p in results.glob("forces_*.json")):
        made.append(forces_plot(results, out / "forces_mae_vs_time.png"))
    for path in made:
        print(path)


if __name__ == "__main__":
    main()
