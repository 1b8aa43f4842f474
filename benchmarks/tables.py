"""Markdown tables of the recorded benchmark results (pasted into ``benchmarks/README.md``).

    python benchmarks/tables.py [--results benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


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
    lines = [
        "| method | config + overrides | epochs | test MSE | best valid MSE | wall s | "
        "where | equivariance error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        mse = f"{r['test_mse']:.5f}" if r.get("test_mse") is not None else "pending"
        valid = f"{r['valid_mse']:.5f}" if r.get("valid_mse") is not None else ""
        wall = f"{r['wall_s']:.0f}" if r.get("wall_s") else ""
        eq = f"{r['equivariance']:.1e}" if r.get("equivariance") is not None else ""
        lines.append(f"| {r['method']} | `{r['config']}` | {r['epochs']} | {mse} | {valid} | "
                     f"{wall} | {r['where']} | {eq} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    results = Path(args.results)
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


if __name__ == "__main__":
    main()
