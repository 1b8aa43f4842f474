"""The Mondal et al. workflow from YAML: train a CNN on upright digits, then train only a
learned canonicalizer in front of it, frozen (configs/digits/frozen_lc_cnn.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from symkit.registry import registry

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "digits"
TINY = ["train.epochs=1", "train.max_samples=16", "train.batch_size=8", "train.progress=false",
        "train.equivariance.n_elements=1", "train.equivariance.max_samples=2",
        "tracking.enabled=false"]


def test_frozen_pretrained_config_trains_only_the_canonicalizer(tmp_path):
    if "vision::mnist" not in registry("datasets"):
        pytest.fail("the symkit-vision plugin is not installed (scripts/setup.sh installs it)")
    from symkit.runner.trainer import train

    base = train(CONFIGS / "upright_cnn.yaml", [*TINY, f"train.checkpoint_dir={tmp_path}"])
    pretrained = torch.load(base.checkpoint, weights_only=True)
    result = train(CONFIGS / "frozen_lc_cnn.yaml",
                   [*TINY, f"train.checkpoint_dir={tmp_path}",
                    f"model.backbone.init={base.run_dir}"])
    model = result.model
    canonicalizer = sum(p.numel() for n, p in model.named_parameters()
                        if not n.startswith("backbone."))
    assert result.metrics["parameters_trainable"] == canonicalizer > 0
    assert result.metrics["parameters_total"] == canonicalizer + sum(
        p.numel() for p in model.backbone.parameters())
    trained = torch.load(result.checkpoint, weights_only=True)
    for name, value in pretrained.items():  # the backbone did not move
        assert torch.equal(trained[name], value), name
    from symkit.runner.parts import build_model, read_config

    run = read_config(result.run_dir / "config.yaml")
    torch.manual_seed(run.train.seed)  # the canonicalizer as the trainer initialized it
    start = build_model(run, pretrained=False).state_dict()
    moved = [k for k, v in start.items() if not k.startswith("backbone.")
             and v.is_floating_point() and not torch.equal(v, trained[k])]
    assert moved  # the canonicalizer trained


def test_init_from_an_mlflow_run_id(tmp_path, tracking_db, monkeypatch):
    from test_arrays_runs import nbody_config  # tests/runner is on sys.path (conftest)

    from symkit.model import build_model
    from symkit.runner.trainer import train

    cfg = nbody_config(tmp_path)
    cfg["train"]["epochs"] = 1
    cfg["tracking"] = {"enabled": True, "uri": tracking_db}
    run = train(cfg)
    assert run.run_id is not None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_db)
    model_cfg = dict(cfg["model"])
    model_cfg["backbone"] = {**model_cfg["backbone"], "init": run.run_id, "freeze": True}
    model = build_model(model_cfg)
    best = torch.load(run.checkpoint, weights_only=True)
    for name, value in model.backbone.state_dict().items():
        assert torch.equal(value, best[f"backbone.{name}"]), name
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_init_run_id_is_looked_up_in_the_configured_tracking_uri(tmp_path, monkeypatch):
    """``model.backbone.init: RUN_ID`` reads the run's weights from the config's own
    ``tracking.uri``, not from ``MLFLOW_TRACKING_URI`` or ``./mlflow.db``: from its run
    directory while that is on this machine, else from its ``model.pt`` artifact."""
    import shutil

    from test_arrays_runs import nbody_config  # tests/runner is on sys.path (conftest)

    from symkit.errors import CheckpointError
    from symkit.runner.parts import build_model, read_config
    from symkit.runner.trainer import train

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = nbody_config(tmp_path)
    cfg["train"]["epochs"] = 1
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    cfg["tracking"] = {"enabled": True, "uri": uri}
    base = train(cfg)
    weights = torch.load(base.run_dir / "model.pt", weights_only=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the default store ./mlflow.db does not exist

    def backbone_of(init, store=uri):
        run = read_config({**cfg, "tracking": {"enabled": False, "uri": store}},
                          [f"model.backbone.init={init}"])
        return build_model(run).backbone.state_dict()

    best = torch.load(base.checkpoint, weights_only=True)
    for name, value in backbone_of(base.run_id).items():  # best.pt of its run directory
        assert torch.equal(value, best[f"backbone.{name}"]), name
    shutil.rmtree(base.run_dir)  # the run directory is gone: the model.pt artifact
    for name, value in backbone_of(base.run_id).items():
        assert torch.equal(value, weights[f"backbone.{name}"]), name
    missing = {
        "abc" * 10 + "de": rf"^model\.backbone\.init: (abc){{10}}de: no such run in the tracking "
                           rf"store {uri} ",
        base.run_id: rf"^model\.backbone\.init: {base.run_id}: no such run: the tracking store "
                     rf"sqlite:///{tmp_path}/none\.db does not exist",
    }
    for ref, message in missing.items():
        store = uri if ref != base.run_id else f"sqlite:///{tmp_path / 'none.db'}"
        with pytest.raises(CheckpointError, match=message) as info:
            backbone_of(ref, store)
        assert "\n" not in str(info.value)
    assert not (tmp_path / "none.db").exists() and not any((tmp_path / "elsewhere").iterdir())


def test_a_frozen_backbone_with_nothing_else_to_train_fails_before_any_run(tmp_path, capsys):
    import yaml
    from test_arrays_runs import nbody_config  # tests/runner is on sys.path (conftest)

    from symkit.cli import main

    cfg = nbody_config(tmp_path)
    base = main(["train", str(_write(tmp_path, cfg)), "--json"])
    assert base == 0
    run_dir = yaml.safe_load(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"]
    before = sorted((tmp_path / "runs").iterdir())
    cfg["model"]["backbone"].update(init=run_dir, freeze=True)  # frame averaging learns nothing
    assert main(["train", str(_write(tmp_path, cfg))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "symkit: error: model.backbone.freeze: the backbone is frozen and the rest of the model "
        "has no trainable parameters: there is nothing to train"), err
    assert sorted((tmp_path / "runs").iterdir()) == before


def _write(tmp_path, cfg):
    import yaml

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_init_weights_of_another_input_size_are_named_when_the_first_pass_fails(tmp_path,
                                                                                capsys):
    import yaml
    from test_arrays_runs import nbody_config  # tests/runner is on sys.path (conftest)

    from symkit.cli import main

    cfg = nbody_config(tmp_path)
    assert main(["train", str(_write(tmp_path, cfg)), "--json"]) == 0
    run_dir = yaml.safe_load(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"]
    del cfg["model"]["in_spec"]["vel"]  # the lazy first layer now sees 4 features, not 7
    cfg["data"]["fields"].pop("vel")
    cfg["model"]["backbone"]["init"] = run_dir
    assert main(["train", str(_write(tmp_path, cfg))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("symkit: error: model: the model's forward pass "
                                               "failed on the first training batch"), err
    assert err[0].endswith(f"the backbone's weights come from model.backbone.init ({run_dir}/"
                           "best.pt): were they trained on other input fields or sizes?"), err
