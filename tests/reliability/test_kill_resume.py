"""Faults: ``symkit train`` killed with SIGKILL at several points, then ``--resume``.

At every kill point the checkpoints on disk load with ``weights_only=True``; the resumed run
ends with the metrics of an uninterrupted run (same seed), in the same MLflow run, whose metric
history has every epoch exactly once. The kill *during* a checkpoint write uses the writer's
test hook ``SYMKIT_CHECKPOINT_PAUSE`` (a sleep between the complete temporary file and the
rename). The kills come one after another in one run, each in the run resumed after the last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from symkit.runner import checkpoint as ckpt
from symkit.runner.checkpoint import load_checkpoint
from symkit.runner.trainer import train

FAKES = Path(__file__).parents[1] / "runner" / "runner_fakes.py"
EPOCHS = 4


def _epoch(run_dir: Path) -> int:
    """Epoch of ``last.pt`` (-1 when there is none yet)."""
    try:
        return load_checkpoint(run_dir / ckpt.LAST)["epoch"] if (run_dir / ckpt.LAST).is_file() \
            else -1
    except Exception:  # noqa: BLE001 - replaced between the check and the read: try again
        return -1


def _writing_last(run_dir: Path) -> bool:
    return (run_dir / ckpt.LAST).is_file() and any(run_dir.glob(f".{ckpt.LAST}.*.tmp"))


#: The kill points, in order, each in the run resumed after the previous kill:
#: (name, extra environment, when to kill: f(run_dir) -> bool, delay after that).
KILL_POINTS = [
    ("right after the first checkpoint", {}, lambda d: _epoch(d) >= 0, 0.0),
    ("in the middle of an epoch", {}, lambda d: _epoch(d) >= 1, 0.4),
    ("during a checkpoint write", {ckpt.PAUSE_ENV: "2"}, _writing_last, 0.0),
    ("during the final evaluation", {}, lambda d: _epoch(d) == EPOCHS - 1, 0.0),
]


def _symkit(args, cwd: Path, log: Path, **env) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SYMKIT_DISABLE_PLUGIN_AUTOLOAD": "1", **env}
    return subprocess.Popen([sys.executable, str(FAKES), *args], cwd=cwd, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def _kill_when(proc, runs: Path, condition, delay: float, log: Path) -> Path:
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, f"finished before the kill point:\n{log.read_text()}"
        assert time.monotonic() < deadline, "kill point not reached in 120 s"
        dirs = [d for d in runs.glob("*") if d.is_dir()] if runs.is_dir() else []
        if dirs and condition(dirs[0]):
            break
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return dirs[0]


def test_sigkill_at_any_point_then_resume_matches_an_uninterrupted_run(fakes, tmp_path):
    cfg = fakes.toy_config(tmp_path, epochs=EPOCHS, threads=1)
    cfg["data"]["slow"] = 0.005  # ~0.7 s per epoch: time to land inside one
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    log = tmp_path / "train.log"
    args = ["train", "run.yaml"]
    for name, env, condition, delay in KILL_POINTS:
        proc = _symkit(args, tmp_path, log, **env)
        run_dir = _kill_when(proc, tmp_path / "runs", condition, delay, log)
        if env:
            assert any(run_dir.glob(".*.tmp")), f"{name}: not killed inside the write"
        for path in (run_dir / ckpt.LAST, run_dir / ckpt.BEST):  # never corrupt
            load_checkpoint(path)
        args = ["train", "--resume", str(run_dir)]
    proc = _symkit([*args, "data.slow=0", "--json"], tmp_path, log)
    assert proc.wait(timeout=120) == 0, log.read_text()
    summary = json.loads(log.read_text().strip().splitlines()[-1])
    assert summary["run_dir"] == str(run_dir)
    assert not list(run_dir.glob(".*.tmp"))

    reference = train({**cfg, "data": {**cfg["data"], "slow": 0.0},
                       "tracking": {"enabled": False}}).metrics
    for key, value in reference.items():
        assert summary["metrics"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=cfg["tracking"]["uri"])
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_id == run_dir.name
    for key in ("train_loss", "valid_loss", "valid_metric", "lr"):
        steps = [m.step for m in client.get_metric_history(summary["run_id"], key)]
        assert steps == list(range(1, EPOCHS + 1)), (key, steps)  # epochs as printed
    for key in ("test_metric", "equivariance.rotation"):
        steps = [m.step for m in client.get_metric_history(summary["run_id"], key)]
        assert steps == [EPOCHS], (key, steps)
