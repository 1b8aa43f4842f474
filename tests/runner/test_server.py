"""Log a tiny run to a real ``mlflow server`` over HTTP and read it back.

Skipped only when the server's dependencies are missing, and never under CI (``CI`` set):
there the missing ``tracking`` extra is a failure.
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

FAKES = Path(__file__).with_name("runner_fakes.py")
STARTUP_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    missing = [m for m in ("flask", "flask_cors", "mlflow") if importlib.util.find_spec(m) is None]
    if missing:
        message = f"mlflow server needs {missing}: pip install 'symkit[tracking]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("server")
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 's.db'}",
         "--default-artifact-root", str(root / "art"), "--workers", "1"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mlflow server did not start:\n{(root / 'server.log').read_text()}")
        time.sleep(0.5)
    yield uri
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_symkit_train_logs_to_a_tracking_server(mlflow_server, fakes, tmp_path):
    cfg = fakes.toy_config(tmp_path, epochs=2, threads=1)
    cfg["tracking"]["uri"] = mlflow_server
    cfg["experiment"] = "server-test"
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, str(FAKES), "train", str(path), "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["tracking_uri"] == mlflow_server
    assert f"MLflow run id: {summary['run_id']}" in proc.stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test_metric"] == pytest.approx(summary["metrics"]["test_metric"])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "valid_metric")] == [1, 2]
    assert {"config.yaml", "model.pt"} <= {a.path for a in client.list_artifacts(run.info.run_id)}

    import symkit

    model = symkit.load(summary["run_id"], tracking_uri=mlflow_server)
    assert not model.training
