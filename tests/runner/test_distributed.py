"""The same trainer under torchrun: two CPU processes (gloo) end with identical parameters,
and only rank 0 writes the run directory and the MLflow run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

FAKES = Path(__file__).with_name("runner_fakes.py")


def test_two_processes_train_identical_parameters(toy_config, tmp_path):
    cfg = toy_config(epochs=2, threads=1)
    cfg["experiment"] = "ddp-test"
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    hashes = tmp_path / "hashes"
    hashes.mkdir()
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", str(FAKES), "--hash-dir", str(hashes),
         str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rank0, rank1 = (hashes / "rank0.txt").read_text(), (hashes / "rank1.txt").read_text()
    assert rank0 == rank1
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert {"last.pt", "best.pt", "model.pt", "config.yaml"} <= {p.name for p in run_dir.iterdir()}

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=cfg["tracking"]["uri"])
    exp = client.get_experiment_by_name("ddp-test")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.tags["symkit.world_size"] == "2"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]


def test_unused_output_head_trains_with_find_unused_parameters(toy_config, tmp_path):
    """A backbone head the loss does not use: DDP needs train.find_unused_parameters (without
    it symkit stops before training, see test_preflight.py)."""
    cfg = toy_config(epochs=1, threads=1, find_unused_parameters=True)
    cfg["tracking"] = {"enabled": False}
    cfg["model"]["backbone"] = {"type": "runnertest::two_heads"}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    hashes = tmp_path / "hashes"
    hashes.mkdir()
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    proc = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", str(FAKES), "--hash-dir", str(hashes),
         str(path)],
        cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
        text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (hashes / "rank0.txt").read_text() == (hashes / "rank1.txt").read_text()
