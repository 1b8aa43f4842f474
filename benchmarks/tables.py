"""Markdown tables of the recorded benchmark results, printed or written into the README.

    python benchmarks/tables.py [--results benchmarks/results]      # print every table
    python benchmarks/tables.py --readme [benchmarks/README.md]     # rewrite its generated
                                                                    # blocks, then the plots

``--readme`` replaces the text between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->`` for every block in :data:`BLOCKS` (the "Results at a glance"
tables: n-body, how far toward issue 18's target, forces) and regenerates the PNGs of
``benchmarks/plots.py``. A new results file (``benchmarks/results/nbody*.json`` or
``forces_*.json``) is picked up by running it again.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the sibling modules runs.py, glance.py, plots.py
    sys.path.insert(0, str(HERE))

from symkit.errors import DataError  # noqa: E402

import glance  # noqa: E402
from runs import load_runs  # noqa: E402

#: generated README block -> renderer of the results folder
BLOCKS = {
    "nbody": lambda results: glance.nbody_table(load_runs(results, "nbody")),
    "nbody-target": lambda results: glance.target_table(load_runs(results, "nbody")),
    "forces": lambda results: glance.forces_table(load_runs(results, "forces")),
    "forces-superseded": lambda results: glance.forces_table(load_runs(results, "forces"),
                                                             superseded=True),
    "nbody-runs": lambda results: nbody_table(json.loads((results / "nbody.json").read_text())),
}


def write_readme(readme: Path, results: Path) -> list[str]:
    """Replace every generated block of ``readme`` by its table; return the block names.

    Raises:
        DataError: a block of :data:`BLOCKS` has no (or no closed) marker pair in ``readme``.
    """
    text = readme.read_text()
    for name, render in BLOCKS.items():
        pattern = re.compile(rf"(<!-- generated:{re.escape(name)} -->\n).*?"
                             rf"(<!-- /generated:{re.escape(name)} -->)", re.S)
        if not pattern.search(text):
            raise DataError(f"{readme}: no '<!-- generated:{name} -->' ... "
                            f"'<!-- /generated:{name} -->' block")
        table = render(results)
        text = pattern.sub(lambda m, t=table: f"{m.group(1)}\n{t}\n\n{m.group(2)}", text)
    readme.write_text(text)
    return list(BLOCKS)


def _machine(m: dict) -> str:
    return (f"{m['nproc']} CPUs ({m['cpu']}), torch {m['torch']}, {m['threads']} thread(s), "
            f"Python {m['python']}, load average {m['load'][0]}")


def digits_table(result: dict) -> str:
    start, end = result["machine_start"], result["machine_end"]
    lines = [
        f"Recorded {start['date']} - {end['date']}; {_machine(start)} at the start, "
        f"{end['load'][0]} at the end.",
        "",
        "| method | test acc. c4 | test acc. so2 | valid acc. upright | identity rate "
        "(upright valid) | C4 error | s / epoch (median) | vs plain | parameters "
        "(canonicalizer) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ident = r.get("identity_rate_upright")
        canon = r["parameters"].get("canonicalizer")
        lines.append(
            f"| {r['method']} | {r['test_c4']:.3f} | {r['test_so2']:.3f} | "
            f"{r['valid_upright']:.3f} | {'-' if ident is None else f'{ident:.3f}'} | "
            f"{r['c4_error']:.2g} | {r['epoch_s_median']:.1f} | "
            f"{'-' if r.get('epoch_vs_plain') is None else format(r['epoch_vs_plain'], '.2f')} | "
            f"{r['parameters']['total']:,}{'' if canon is None else f' ({canon:,})'} |")
    return "\n".join(lines)


def speed_table(result: dict) -> str:
    start = result["machine_start"]
    lines = [
        f"Recorded {start['date']}; {_machine(start)} at the start, "
        f"{result['machine_end']['load'][0]} at the end. Backbone channels "
        f"{result['channels']}, canonicalizer hidden {result['hidden']}.",
        "",
        "| model | s / epoch (median) | ratio to bare (median of per-round ratios) | "
        "per-round ratios | backbone params | canonicalizer params | test acc. c4 | "
        "test acc. so2 | C4 error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        p = r["parameters"]
        lines.append(
            f"| {r['model']} | {r['epoch_s_median']:.1f} | {r['ratio_median']:.2f} | "
            f"{', '.join(f'{x:.2f}' for x in r['ratios'])} | {p.get('backbone', p['total']):,} | "
            f"{p.get('canonicalizer', 0):,} | {r['test_c4']:.3f} | {r['test_so2']:.3f} | "
            f"{r['c4_error']:.2g} |")
    return "\n".join(lines)


def frozen_table(result: dict) -> str:
    start, end = result["machine_start"], result["machine_end"]
    lines = [
        f"Recorded {start['date']} - {end['date']}; {_machine(start)} at the start, "
        f"{end['load'][0]} at the end.",
        "",
        "| model | epochs | valid acc. upright | test acc. c4 | test acc. so2 | identity rate "
        "(upright valid) | C4 error | trainable parameters |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ident = r.get("identity_rate_upright")
        lines.append(
            f"| {r['model']} | {r['epochs']} | {r['valid_upright']:.3f} | {r['test_c4']:.3f} | "
            f"{r['test_so2']:.3f} | {'-' if ident is None else f'{ident:.3f}'} | "
            f"{r['c4_error']:.2g} | {r['trainable_parameters']:,} |")
    return "\n".join(lines)


def nbody_table(result: dict) -> str:
    """The rows of ``nbody.json`` one by one, as recorded (section 3 of the README)."""
    lines = [
        "| method | config + overrides | epochs | test MSE | best valid MSE | wall s | "
        "where | equivariance error (all kinds) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        nr = "not recorded"
        mse = f"{r['test_mse']:.5f}" if r.get("test_mse") is not None else nr
        valid = f"{r['valid_mse']:.5f}" if r.get("valid_mse") is not None else nr
        wall = f"{r['wall_s']:.0f}" if r.get("wall_s") is not None else nr
        eq = f"{r['equivariance']:.1e}" if r.get("equivariance") is not None else nr
        lines.append(f"| {r['method']} | `{r['config']}` | {r['epochs']} | {mse} | {valid} | "
                     f"{wall} | {r['where']} | {eq} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--readme", nargs="?", const=str(HERE / "README.md"), default=None,
                        help="rewrite the generated blocks of this README (default: "
                             "benchmarks/README.md) and the plots, instead of printing")
    parser.add_argument("--plots", default=str(HERE / "plots"),
                        help="where --readme writes the PNGs")
    args = parser.parse_args(argv)
    results = Path(args.results)
    if args.readme is not None:
        import plots

        names = write_readme(Path(args.readme), results)
        print(f"{args.readme}: rewrote blocks {', '.join(names)}")
        plots.main(["--results", str(results), "--out", args.plots])
        return
    files = ("digits_20ep.json", "digits.json", "digits_20ep_subset.json",
             "digits_5ep_lr1e-3_b64.json", "lc_speed_2.json", "lc_speed.json",
             "lc_speed_h64.json", "lc_speed_all_3ep_lr1e-3.json", "nbody.json",
             "digits_lc_gcnn.json", "digits_lc_covering.json", "digits_frozen.json",
             "digits_so2_frame.json", "fashion_lc.json")
    for name in files:
        render = (frozen_table if "frozen" in name else
                  digits_table if name.startswith(("digits", "fashion")) else
                  speed_table if name.startswith("lc_speed") else nbody_table)
        if (results / name).exists():
            print(f"<!-- {name} -->")
            print(render(json.loads((results / name).read_text())))
            print()
    for name, render in BLOCKS.items():
        if name != "nbody-runs":
            print(f"<!-- generated:{name} -->")
            print(render(results))
            print()


if __name__ == "__main__":
    main()
