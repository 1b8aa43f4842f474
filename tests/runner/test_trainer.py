"""In-process training on a toy data set: tracking, reproducibility, reload, errors."""

import json
import socket

import pytest
import torch

import symkit
from symkit.errors import ConfigError, TrackingError, TrainingError
from symkit.runner.checkpoint import load_checkpoint
from symkit.runner.trainer import train


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


@pytest.fixture
def finished(toy_config):
    cfg = toy_config()
    return cfg, train(cfg)


def test_run_is_tracked_with_params_tags_metrics_and_artifacts(finished):
    cfg, result = finished
    client = _client(cfg["tracking"]["uri"])
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.batch_size"] == "16"
    assert run.data.params["model.backbone.type"] == "symkit::mlp"  # the resolved name
    # the whole resolved config, defaults included (`symkit config show --defaults`)
    assert run.data.params["train.progress_every"] == "30.0"
    assert run.data.params["optimizer.betas"] == "[0.9, 0.999]"
    assert run.data.params["tracking.log_model"] == "False"
    assert run.info.run_name == "runner-tests-none"  # <config or experiment>-<method>
    assert run.data.tags["symkit.version"] == symkit.__version__
    assert run.data.tags["symkit.run_dir"] == str(result.run_dir)
    for key in ("train_loss", "valid_metric", "lr"):
        assert [m.step for m in client.get_metric_history(result.run_id, key)] == [1, 2, 3]
    assert run.data.metrics["test_metric"] == pytest.approx(result.metrics["test_metric"])
    assert set(result.equivariance) == {"rotation", "all"}
    assert "equivariance.rotation" in run.data.metrics
    names = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"config.yaml", "model.pt", "plots"} <= names
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert plots == {"plots/learning_curves.png", "plots/equivariance.png"}
    last = load_checkpoint(result.run_dir / "last.pt")
    assert last["epoch"] == 2 and last["run_id"] == result.run_id and last["step"] == 9


def test_load_by_run_id_and_directory_gives_the_same_test_metric(finished, fakes):
    from symkit.runner.data import build_split, eval_loader
    from symkit.runner.distributed import DistInfo
    from symkit.runner.evaluation import evaluate
    from symkit.runner.load import load_run
    from symkit.runner.parts import build_loss, build_metric

    cfg, result = finished
    for ref in (result.run_id, result.run_dir):
        loaded = load_run(ref, tracking_uri=cfg["tracking"]["uri"])
        run = loaded.run
        test = build_split(run.cfg.data, "test", run.train.max_samples)
        got = evaluate(loaded.model, eval_loader(test, run.train, DistInfo()),
                       build_loss(run), build_metric(run), DistInfo())
        assert got["metric"] == pytest.approx(result.metrics["test_metric"], rel=1e-6)
    model = symkit.load(result.run_dir)
    assert not model.training


def test_cli_eval_check_compose(finished, capsys, monkeypatch):
    from symkit.cli import main

    cfg, result = finished
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cfg["tracking"]["uri"])
    assert main(["eval", result.run_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["metric"] == pytest.approx(result.metrics["test_metric"], rel=1e-6)
    assert main(["check", str(result.run_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["model"] == "trained model" and set(data["equivariance"]) == {"rotation", "all"}
    config = result.run_dir / "config.yaml"
    assert main(["check", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["model"] == (
        "untrained model")
    assert main(["compose", str(config), "model.backbone.hidden=[8]"]) == 0
    out = capsys.readouterr().out
    assert "backbone" in out and "total parameters: 41" in out  # (3*8 + 8) + (8*1 + 1)


def test_same_seed_same_result_without_tracking(toy_config):
    cfg = toy_config(epochs=2)
    cfg["tracking"] = {"enabled": False}
    a, b = train(cfg), train(cfg)
    assert a.run_id is None and a.tracking_uri is None
    assert a.metrics == b.metrics and a.run_dir != b.run_dir


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(toy_config):
    cfg = toy_config(epochs=4)
    cfg["tracking"] = {"enabled": False}
    cfg["train"]["epochs"] = 2
    result = train(cfg)
    before = load_checkpoint(result.run_dir / "last.pt")
    with pytest.raises(TrainingError, match="non-finite loss"):
        train(resume=result.run_dir, overrides=["train.epochs=4", "data.nan=true"])
    after = load_checkpoint(result.run_dir / "last.pt")
    assert after["epoch"] == before["epoch"] == 1
    for name, value in before["model"].items():
        assert torch.equal(after["model"][name], value), name


def test_unreachable_tracking_server_fails_before_training(toy_config, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = toy_config()
    cfg["tracking"]["uri"] = f"http://127.0.0.1:{port}"
    with pytest.raises(TrackingError, match="cannot reach the tracking server"):
        train(cfg)
    assert not (tmp_path / "runs").exists()


def test_config_errors_name_the_key(toy_config):
    cfg = toy_config()
    cfg["train"]["epoch"] = 3
    with pytest.raises(ConfigError, match="train.epoch: unknown option; did you mean 'epochs'"):
        train(cfg)
    cfg = toy_config()
    cfg["trian"] = {}
    with pytest.raises(ConfigError, match="did you mean 'train'"):
        train(cfg)
    cfg = toy_config()
    cfg["metric"]["mode"] = "lowest"
    with pytest.raises(ConfigError, match="metric.mode"):
        train(cfg)
