"""In-process training on a toy data set: tracking, reproducibility, reload, errors."""

import json
import socket
from pathlib import Path

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
        train(resume=result.run_dir, overrides=["train.epochs=4", "data.overflow=true"])
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


def test_cli_train_names_the_run_and_says_where_plots_and_the_ui_are(toy_config, tmp_path,
                                                                        capsys):
    import yaml

    from symkit.cli import main

    cfg = toy_config(epochs=2, progress=True, progress_every=0)
    cfg["experiment"] = "naming-test"
    path = tmp_path / "ga_mlp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "model.symmetrizer={type: group_averaging}",
                 "train.batch_size=16"]) == 0
    out, err = capsys.readouterr()
    # no terminal: progress as lines (every step with progress_every=0), then one per epoch
    assert "epoch 1/2  step 1/3  train_loss" in err and "epoch 2/2  step 2/3" in err
    lines = out.strip().splitlines()
    plots = next(line for line in lines if line.startswith("plots: "))
    assert "equivariance.png" in plots and "learning_curves.png" in plots
    folder = Path(plots.split()[1].rstrip("/"))
    assert (folder / "equivariance.png").is_file()
    uri = cfg["tracking"]["uri"]
    assert lines[-1] == (f"open the MLflow UI: mlflow ui --backend-store-uri {uri}   "
                         "(then http://127.0.0.1:5000)")
    client = _client(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("naming-test").experiment_id])
    assert run.info.run_name == "ga_mlp-group_averaging"  # config file and method
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
    assert "epoch 2/2  train_loss" in err  # printed epochs are MLflow's steps


def test_resume_by_run_id_uses_the_tracking_uri_override(toy_config, tmp_path, capsys,
                                                         monkeypatch):
    import yaml

    from symkit.cli import main

    cfg = toy_config(epochs=1)
    cfg["tracking"]["uri"] = uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = train(cfg)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the default store ./mlflow.db does not have it
    capsys.readouterr()
    assert main(["train", "--resume", result.run_id, "train.epochs=2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"symkit: error: {result.run_id}: no such run: the tracking store "
                          "sqlite:///mlflow.db does not exist") and "pass tracking.uri=" in err
    assert len(err.splitlines()) == 1 and not Path("mlflow.db").exists()  # not created to look
    assert main(["train", "--resume", "0" * 32, f"tracking.uri={uri}"]) == 2  # a store without
    assert "no such run in the tracking store" in capsys.readouterr().err
    assert main(["train", "--resume", result.run_id, f"tracking.uri={uri}",
                 "train.epochs=2", "--json"]) == 0
    summary = yaml.safe_load(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run_id"] == result.run_id and summary["run_dir"] == str(result.run_dir)
    client = _client(uri)
    assert [m.step for m in client.get_metric_history(result.run_id, "train_loss")] == [1, 2]


def test_nan_loss_in_the_first_epoch_names_no_checkpoint_that_does_not_exist(toy_config):
    cfg = toy_config(epochs=1)
    cfg["tracking"] = {"enabled": False}
    cfg["data"]["overflow"] = True
    with pytest.raises(TrainingError, match="non-finite loss") as info:
        train(cfg)
    assert "last.pt" not in str(info.value)
    assert "no checkpoint was written yet" in str(info.value)
