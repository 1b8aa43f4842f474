"""A run killed with SIGKILL mid-epoch and resumed ends like an uninterrupted run, in the same
MLflow run, with every metric step logged exactly once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from symkit.runner.trainer import train

FAKES = Path(__file__).with_name("runner_fakes.py")
EPOCHS = 4


def _symkit(*args, cwd, **env):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.Popen([sys.executable, str(FAKES), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_then_resume_matches_an_uninterrupted_run(toy_config, tmp_path):
    cfg = toy_config(epochs=EPOCHS, threads=1)
    cfg["data"]["slow"] = 0.02  # ~1 s per epoch: time to kill it mid-epoch
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))

    proc = _symkit("train", str(path), cwd=tmp_path)
    runs = tmp_path / "runs"
    deadline = time.monotonic() + 120
    while not list(runs.glob("*/last.pt")):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.05)
    time.sleep(0.3)  # into the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (run_dir,) = runs.iterdir()
    from symkit.runner.checkpoint import load_checkpoint

    killed_at = load_checkpoint(run_dir / "last.pt")["epoch"]
    assert killed_at < EPOCHS - 1, "the run finished before it was killed"

    # resume by MLflow run id (the run directory is found through the run's tag)
    resumed = _symkit("train", "--resume", run_dir.name, "data.slow=0", "--json", cwd=tmp_path,
                      MLFLOW_TRACKING_URI=cfg["tracking"]["uri"])
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    import json

    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["run_dir"] == str(run_dir)

    cfg["data"]["slow"] = 0.0
    cfg["tracking"] = {"enabled": False}
    reference = train(cfg)
    for key, value in reference.metrics.items():
        assert summary["metrics"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=cfg_uri(path))
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_id == run_dir.name
    for key in ("train_loss", "valid_loss", "valid_metric", "lr"):
        steps = [m.step for m in client.get_metric_history(summary["run_id"], key)]
        assert steps == list(range(1, EPOCHS + 1)), (key, steps)  # epochs as printed
    for key in ("test_metric", "equivariance.rotation"):
        steps = [m.step for m in client.get_metric_history(summary["run_id"], key)]
        assert steps == [EPOCHS], (key, steps)


def cfg_uri(path):
    return yaml.safe_load(path.read_text())["tracking"]["uri"]
