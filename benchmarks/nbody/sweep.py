"""Run several `symkit train` variants of one config and tabulate their results.

Each variant is a name plus dotlist overrides of one base config; every process gets
``--threads`` torch threads (OMP_NUM_THREADS too) so that variants don't oversubscribe the CPU.
Variants run side by side, or one after another with ``--sequential``; ``--nice N`` lowers
their priority (so other jobs on the machine keep their cores). Logs go to ``OUT/<name>.log``;
the JSON summary line of each finished run, its wall time and the load average before and after
go to ``OUT/results.json`` (merged with results already there).

Example:
    python benchmarks/nbody/sweep.py configs/nbody/sfa_gnn.yaml --out /tmp/sweep --threads 2 \\
        --variant h64 model.backbone.hidden=64 --variant h128 model.backbone.hidden=128
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _start(args: argparse.Namespace, out: Path, name: str, overrides: list[str],
           env: dict[str, str]) -> tuple[subprocess.Popen, float, list[float], object]:
    cmd = [args.symkit, "train", args.config, *overrides, f"train.threads={args.threads}",
           f"train.checkpoint_dir={out / 'runs'}", "train.progress=false", "--json"]
    if args.nice:
        cmd = ["nice", "-n", str(args.nice), *cmd]
    log = open(out / f"{name}.log", "w")
    log.write(" ".join(cmd) + "\n")
    log.flush()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    return proc, time.time(), _load(), log


def _finish(out: Path, name: str, proc: subprocess.Popen, start: float, load: list[float],
            log, threads: int) -> dict:
    proc.wait()
    log.close()
    lines = (out / f"{name}.log").read_text().strip().splitlines()
    summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return {"returncode": proc.returncode, "wall_s": round(time.time() - start, 1),
            "threads": threads, "load_start": load, "load_end": _load(),
            "command": lines[0] if lines else "", "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sequential", action="store_true", help="one variant at a time")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the runs")
    parser.add_argument("--symkit", default=str(Path(sys.executable).with_name("symkit")))
    parser.add_argument(
        "--variant", nargs="+", action="append", required=True, metavar="NAME [KEY=VALUE ...]"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}

    def record(name: str, started: tuple) -> None:
        results[name] = _finish(out, name, *started, threads=args.threads)
        print(name, json.dumps(results[name])[:400], flush=True)
        results_file.write_text(json.dumps(results, indent=2))

    if args.sequential:
        for name, *overrides in args.variant:
            record(name, _start(args, out, name, overrides, env))
        return
    procs = {name: _start(args, out, name, overrides, env) for name, *overrides in args.variant}
    for name, started in procs.items():
        record(name, started)


if __name__ == "__main__":
    main()
