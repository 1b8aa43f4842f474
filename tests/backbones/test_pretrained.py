"""``backbone.init`` (weights from a run, a checkpoint or a state_dict file) and ``freeze``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symkit.backbones._pretrained import freeze_backbone, load_backbone_weights
from symkit.errors import CheckpointError, ConfigError
from symkit.model import build_model

MODEL = {
    "group": "o3",
    "in_spec": {"pos": {"rep": "vector", "nodes": True}},
    "out_spec": {"e": "scalar"},
    "backbone": {"type": "mlp", "writes": {"e": [1]}, "hidden": [8]},
    "symmetrizer": {"type": "frame_averaging", "field": "pos"},
}


def mlp_state(hidden=8):
    torch.manual_seed(1)
    return build_model({**MODEL, "backbone": {**MODEL["backbone"], "hidden": [hidden]}})


def test_init_from_a_plain_state_dict_file(tmp_path):
    source = mlp_state().backbone
    source(dict(pos=torch.randn(2, 4, 3)))  # materialize the lazy layer
    torch.save(source.state_dict(), tmp_path / "w.pt")
    init = {**MODEL["backbone"], "init": str(tmp_path / "w.pt")}
    model = build_model({**MODEL, "backbone": init})
    for k, v in source.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k


def test_init_from_a_whole_model_checkpoint_takes_the_backbone_prefix(tmp_path):
    source = mlp_state()
    source(dict(pos=torch.randn(2, 4, 3)))
    (tmp_path / "run").mkdir()
    torch.save(source.state_dict(), tmp_path / "run" / "best.pt")
    model = build_model({**MODEL, "backbone": {**MODEL["backbone"],
                                               "init": str(tmp_path / "run")}})
    assert torch.equal(model.backbone.heads.heads["e"].weight,
                       source.backbone.heads.heads["e"].weight)


def test_strict_lists_missing_unexpected_and_mismatched_keys(tmp_path):
    source = mlp_state(hidden=16).backbone
    source(dict(pos=torch.randn(2, 4, 3)))
    state = source.state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state[next(iter(state))]
    torch.save(state, tmp_path / "w.pt")
    target = mlp_state(hidden=8).backbone
    target(dict(pos=torch.randn(2, 4, 3)))
    with pytest.raises(CheckpointError) as info:
        load_backbone_weights(target, tmp_path / "w.pt")
    text = str(info.value)
    assert "missing keys: body.0.weight" in text and "unexpected keys: extra.weight" in text
    assert "mismatched keys: " in text and "(16,) -> (8,)" in text and "strict: false" in text
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.warns(UserWarning, match="loaded what matches"):
        report = load_backbone_weights(target, tmp_path / "w.pt", strict=False)
    assert report["unexpected"] == ["extra.weight"] and report["mismatched"]
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items()
               if any(k in m for m in report["mismatched"]))


def test_weights_are_read_with_weights_only(tmp_path):
    torch.save({"layer": nn.Linear(2, 2)}, tmp_path / "pickled.pt")  # a module, not tensors
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_backbone_weights(nn.Linear(2, 2), tmp_path / "pickled.pt")


def test_freeze_stops_gradients_and_keeps_eval_mode():
    net = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    freeze_backbone(net)
    outer = nn.ModuleDict({"net": net, "head": nn.Linear(3, 1)})
    outer.train()
    x = torch.ones(4, 3)
    assert torch.equal(net(x), net(x)) and not net.training  # dropout off
    assert not any(p.requires_grad for p in net.parameters())


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"model.backbone.init: missing value"):
        build_model({**MODEL, "backbone": {**MODEL["backbone"], "init": "???"}})
    with pytest.raises(ConfigError, match=r"model.backbone.freeze: expected true or false"):
        build_model({**MODEL, "backbone": {**MODEL["backbone"], "freeze": "yes"}})
    with pytest.raises(ConfigError, match=r"model.backbone.freeze: .*lazy"):
        build_model({**MODEL, "backbone": {**MODEL["backbone"], "freeze": True}})


def test_init_references_that_are_not_there_name_the_key_and_create_no_store(tmp_path,
                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cases = {"nope.pt": r"no file or folder at nope\.pt",
             "sub/weights": r"no file or folder at sub/weights",
             "abcdef0123": r"abcdef0123: no such file or run directory, and not an MLflow run",
             "0123456789abcdef0123456789abcdef": r"0123456789abcdef0123456789abcdef: no such "
                                                 r"run: the tracking store sqlite:///mlflow\.db "
                                                 r"does not exist"}
    for ref, message in cases.items():
        with pytest.raises(CheckpointError, match=rf"^model\.backbone\.init: {message}"):
            build_model({**MODEL, "backbone": {**MODEL["backbone"], "init": ref}})
    assert list(tmp_path.iterdir()) == []  # looking a run up never creates mlflow.db


def test_a_file_that_is_not_torch_weights_is_one_line(tmp_path):
    (tmp_path / "notes.py").write_text("print('hello')\n")
    with pytest.raises(CheckpointError) as info:
        load_backbone_weights(nn.Linear(2, 2), tmp_path / "notes.py", key="model.backbone.init")
    assert str(info.value).startswith(f"model.backbone.init: cannot read {tmp_path}/notes.py as "
                                      "torch weights (read with weights_only=True): ")
    assert "\n" not in str(info.value)
