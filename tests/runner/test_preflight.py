"""Everything that can fail is checked before the first training step, as one line on stderr
with the key path and a fix (exit code 2), and leaves no MLflow run RUNNING and no run folder.
"""

from __future__ import annotations

import os
import re

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from symkit.cli import main
from symkit.errors import CheckpointError, ConfigError, TrackingError
from symkit.runner import distributed as D
from symkit.runner import preflight
from symkit.runner.parts import build_loss, build_metric, build_model, read_config
from symkit.runner.trainer import train


def run_cli(capsys, tmp_path, cfg, *overrides, command="train"):
    """``symkit COMMAND run.yaml overrides``: (exit code, stdout, stderr)."""
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    capsys.readouterr()  # only what this command prints
    code = main([command, str(path), *overrides])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line(code, err, key, *fragments):
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"symkit: error: {key}"), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, err)


def runs_in(uri, experiment="runner-tests"):
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id])


# -- device --------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, guess", [("gpu", "cuda"), ("GPU", "cuda"), ("CUDA", "cuda"),
                                          ("gpu1", "cuda:1"), ("cuda0", "cuda:0"),
                                          ("metal", "mps"), ("tpu", None)])
def test_misspelt_device_fails_at_config_time(toy_config, value, guess):
    cfg = toy_config()
    cfg["train"]["device"] = value
    with pytest.raises(ConfigError, match=r"^train\.device: unknown device") as info:
        read_config(cfg)  # what `symkit config show` runs
    assert (f"did you mean '{guess}'?" in str(info.value)) == (guess is not None)


@pytest.mark.parametrize("value, fake, fragment", [
    ("cuda", {"cuda": None}, "this torch build has none"),
    ("cuda:1", {"cuda": None}, "this torch build has none"),
    ("cuda", {"cuda": "12.4", "count": 0}, "no CUDA GPU is visible"),
    ("cuda:1", {"cuda": "12.4", "count": 1}, "this machine has 1 CUDA GPU(s), numbered 0-0"),
    ("mps", {"mps": False}, "'mps' (Apple Metal) is not available"),
])
def test_unavailable_device_is_one_line_before_anything_runs(toy_config, tmp_path, capsys,
                                                              monkeypatch, value, fake, fragment):
    if "cuda" in fake:
        monkeypatch.setattr(torch.version, "cuda", fake["cuda"])
    if "count" in fake:
        monkeypatch.setattr(torch.cuda, "device_count", lambda: fake["count"])
    if "mps" in fake:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: fake["mps"])
    cfg = toy_config()
    for command in ("train", "check"):  # `check` used to run on the CPU silently
        code, _, err = run_cli(capsys, tmp_path, cfg, f"train.device={value}", command=command)
        assert_one_line(code, err, "train.device", fragment, "use train.device=")
    assert not (tmp_path / "runs").exists()


def test_auto_and_cpu_devices_pass():
    assert preflight.check_device("cpu") == torch.device("cpu")
    assert preflight.check_device("auto").type in ("cpu", "cuda")


# -- fields read by the loss, the metric and the output spec ----------------------------------
@pytest.mark.parametrize("override, key, fragment", [
    ("loss.output=tgt", "loss.output", "'tgt' is not an output of the model; the backbone "
                                       "writes 'target'"),
    ("loss.target=y", "loss.target", "'y' is not a field of the data; a training batch has "
                                     "'x', 'target'"),
    ("metric.output=tgt", "metric.output", "'tgt' is not an output"),
    ("metric.target=y", "metric.target", "'y' is not a field of the data"),
    ("model.out_spec={target: scalar, energy: scalar}", "model.out_spec.energy",
     "the model does not write 'energy'; it writes 'target'"),
    # a term of a weighted sum is named at its own key
    ("loss={type: weighted_sum, terms: {a: {weight: 1.0, loss: {type: mse, output: target}}, "
     "b: {weight: 0.5, loss: {type: mae, output: target, target: y}}}}",
     "loss.terms.b.loss.target", "'y' is not a field of the data; a training batch has"),
    ("loss={type: weighted_sum, terms: {a: {weight: 1.0, loss: {type: mse, output: tgt}}}}",
     "loss.terms.a.loss.output", "'tgt' is not an output of the model"),
])
def test_missing_fields_fail_before_training(toy_config, tmp_path, tracking_db, capsys, override,
                                             key, fragment):
    before = len(runs_in(tracking_db))
    code, _, err = run_cli(capsys, tmp_path, toy_config(), override)
    assert_one_line(code, err, key, fragment)
    assert not (tmp_path / "runs").exists()
    assert len(runs_in(tracking_db)) == before  # no MLflow run at all


SYMMETRIZED = ("model.symmetrizer={type: group_averaging, train_samples: 2, eval_samples: 2}",)


def test_training_on_an_output_the_spec_does_not_declare_fails_before_training(
        toy_config, tmp_path, tracking_db, capsys):
    """'v' averaged untransformed would be trained on as if it were the output of an
    equivariant model."""
    before = len(runs_in(tracking_db))
    code, _, err = run_cli(capsys, tmp_path, toy_config(), *SYMMETRIZED,
                           "model.backbone.writes={target: [1], v: [3]}", "loss.output=v")
    assert_one_line(code, err, "loss.output", "'v' is not declared in model.out_spec "
                    "('target'), so the symmetrizer averages it untransformed",
                    "declare it there with its rep")
    assert not (tmp_path / "runs").exists() and len(runs_in(tracking_db)) == before


@pytest.mark.parametrize("command", ["train", "check"])
def test_a_backbone_output_of_the_wrong_shape_for_its_rep_is_one_line(toy_config, tmp_path,
                                                                       capsys, command):
    code, _, err = run_cli(capsys, tmp_path, toy_config(), *SYMMETRIZED,
                           "model.out_spec={target: scalar, v: vector}",
                           "model.backbone.writes={target: [1], v: [2]}", command=command)
    assert_one_line(code, err, "v: backbone output (one row per copy g^-1 x of a sample): "
                    "expected shape (B, ..., 3), got (", ", 2)")
    assert not (tmp_path / "runs").exists()


def test_check_names_a_missing_output_field(toy_config, tmp_path, capsys):
    code, _, err = run_cli(capsys, tmp_path, toy_config(),
                           "model.out_spec={target: scalar, energy: scalar}", command="check")
    assert_one_line(code, err, "model.out_spec.energy", "does not write 'energy'")


def test_a_loss_of_a_plugin_that_reads_a_missing_field(toy_config, fakes):
    """Losses whose options are not named output/target: the KeyError still names the key."""
    from symkit.registry import registry

    def picky(name: str = "nope"):
        """Reads ``outputs[name]``."""
        return lambda outputs, batch: outputs[name].sum()

    registry("losses").add("picky", picky, scope="preflighttest")
    try:
        cfg = toy_config()
        cfg["loss"] = {"type": "preflighttest::picky"}
        with pytest.raises(ConfigError, match=r"^loss: the loss reads a field that is not "
                                              r"there: KeyError 'nope'; the model writes "
                                              r"'target' and a training batch has 'x', 'target'"):
            train(cfg)
    finally:
        registry("losses").remove("preflighttest::picky")


class NormNet(torch.nn.Module):
    """Batch norm (buffers a forward pass updates) and dropout (draws random numbers)."""

    def __init__(self):
        super().__init__()
        self.norm, self.drop, self.lin = (torch.nn.BatchNorm1d(3), torch.nn.Dropout(0.5),
                                          torch.nn.Linear(3, 1))

    def forward(self, sample):
        return {"target": self.lin(self.drop(self.norm(sample["x"])))}


def test_forward_check_leaves_model_rng_and_grads_as_they_were(toy_config):
    run = read_config(toy_config())
    model = NormNet()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    batch = {"x": torch.randn(4, 3), "target": torch.randn(4, 1)}
    rng = torch.get_rng_state()
    unused = preflight.check_forward(model, batch, run, build_loss(run), build_metric(run))
    assert unused == []
    assert torch.equal(torch.get_rng_state(), rng)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(p.grad is None for p in model.parameters())


# -- DDP: parameters without a gradient ------------------------------------------------------
def test_unused_head_is_found_and_explained_under_ddp(toy_config, monkeypatch):
    cfg = toy_config()
    cfg["model"]["backbone"] = {"type": "runnertest::two_heads"}
    run = read_config(cfg)
    model = build_model(run)
    batch = {"x": torch.randn(2, 3), "target": torch.randn(2, 1)}
    unused = preflight.check_forward(model, batch, run, build_loss(run), build_metric(run))
    assert unused == ["backbone.aux.weight", "backbone.aux.bias"]
    single, two = D.DistInfo(), D.DistInfo(world_size=2)
    preflight.check_unused(unused, single, allowed=False)  # one process: fine
    monkeypatch.setattr(D, "all_reduce_sum", lambda info, values: list(values))
    preflight.check_unused(unused, two, allowed=True)
    with pytest.raises(ConfigError, match=r"^train\.find_unused_parameters: 2 trainable "
                                          r"parameter\(s\) get no gradient from the loss "
                                          r"\(backbone\.aux\.weight, backbone\.aux\.bias\).*"
                                          r"set train\.find_unused_parameters=true"):
        preflight.check_unused(unused, two, allowed=False)
    preflight.check_unused([], two, allowed=False)


# -- paths, the tracking store, MLflow names ---------------------------------------------------
@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_unwritable_checkpoint_dir_is_a_checkpoint_error(toy_config, tmp_path, capsys, where,
                                                        tracking_db):
    if where == "proc":
        if not os.path.isdir("/proc/self"):
            pytest.skip("needs Linux /proc")
        folder = "/proc/runs"
    else:
        (tmp_path / "afile").write_text("")
        folder = str(tmp_path / "afile" / "runs")
    before = len(runs_in(tracking_db))
    code, _, err = run_cli(capsys, tmp_path, toy_config(), f"train.checkpoint_dir={folder}")
    assert_one_line(code, err, "train.checkpoint_dir", f"cannot write run folders under {folder}",
                    "set train.checkpoint_dir to a writable folder")
    assert len(runs_in(tracking_db)) == before
    with pytest.raises(CheckpointError):
        preflight.check_checkpoint_dir(folder)


def test_new_checkpoint_dir_is_removed_when_the_store_fails(toy_config, tmp_path):
    cfg = toy_config()
    cfg["train"]["checkpoint_dir"] = str(tmp_path / "new" / "runs")
    (tmp_path / "afile").write_text("")
    cfg["tracking"]["uri"] = f"sqlite:///{tmp_path / 'afile' / 'x.db'}"
    with pytest.raises(TrackingError, match=r"^tracking\.uri: cannot create the tracking store"):
        train(cfg)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("tags, key, fragment", [
    ({"owner@lab": "me"}, "tracking.tags.owner@lab", "characters '@'"),
    ({"k" * 251: "me"}, "tracking.tags.kkk", "of 251 characters; keys have at most 250"),
    ({"a/../b": "me"}, "tracking.tags.a/../b", "relative paths"),
    ({"owner": "x" * 8001}, "tracking.tags.owner", "tag value of 8001 characters"),
])
def test_tags_mlflow_rejects_fail_at_config_show(toy_config, tmp_path, capsys, tags, key,
                                                  fragment):
    cfg = toy_config()
    cfg["tracking"]["tags"] = tags
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    code = main(["config", "show", str(path)])
    err = capsys.readouterr().err
    assert_one_line(code, err, key, fragment)
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}"):
        train(cfg)
    assert not (tmp_path / "runs").exists()


def test_config_keys_mlflow_rejects_fail_at_config_show(toy_config):
    cfg = toy_config()
    cfg["model"]["in_spec"] = {"x@1": "vector"}
    with pytest.raises(ConfigError, match=r"^model\.in_spec\.x@1: MLflow rejects the config key"):
        read_config(cfg)
    cfg["tracking"] = {"enabled": False}  # not logged: no MLflow rule applies
    read_config(cfg)


def test_a_failure_after_the_run_started_marks_it_failed_and_removes_the_folder(
        toy_config, tmp_path, tracking_db, monkeypatch):
    from symkit.runner import tracking

    def refuse(self, params):
        raise TrackingError("MLflow at test: refused")

    monkeypatch.setattr(tracking.MlflowTracker, "log_params", refuse)
    cfg = toy_config()
    cfg["experiment"] = "preflight-failed-start"
    with pytest.raises(TrackingError, match="refused"):
        train(cfg)
    (run,) = runs_in(tracking_db, "preflight-failed-start")
    assert run.info.status == "FAILED"
    assert not (tmp_path / "runs").exists()  # the run folder and the folder made for it


# -- the data's dimension against the group's -------------------------------------------------
@pytest.mark.parametrize("group, dim, suggestion", [("o2", 3, "(e.g. o3, e3, se3, so3)"),
                                                   ("so3", 2, "(e.g. so2, e2, o2, se2)"),
                                                   ("se2", 3, "(e.g. se3, e3, o3, so3)")])
def test_group_of_the_wrong_dimension_is_blamed(toy_config, group, dim, suggestion):
    cfg = toy_config()
    cfg["model"]["group"] = group
    cfg["data"]["dim"] = dim
    with pytest.raises(ConfigError, match=rf"^model\.group: .* acts on {5 - dim}-D vectors, but "
                                          rf"field 'x' has {dim} components") as info:
        train(cfg)
    assert suggestion in str(info.value)


@pytest.mark.parametrize("group, dim", [("so3", 4), ("c4", 3)])
def test_data_of_a_dimension_no_group_of_that_family_has_is_blamed_on_the_data(toy_config,
                                                                              group, dim):
    from symkit.errors import SpecError

    cfg = toy_config()
    cfg["model"]["group"] = group
    cfg["data"]["dim"] = dim
    with pytest.raises(SpecError, match=r"^x: expected shape .*check the data against "
                                        r"model\.in_spec"):
        train(cfg)


def test_a_model_that_crashes_on_the_first_batch_fails_before_any_run(toy_config, tmp_path,
                                                                      capsys, tracking_db):
    from symkit.registry import registry

    def crashing(in_spec, out_spec):
        """A backbone whose forward pass raises."""
        class Crash(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = torch.nn.Linear(3, 1)

            def forward(self, sample):
                return {"target": self.lin(sample["x"].unsqueeze(-1))}  # (B, 3, 1) @ (3, 1)

        return Crash()

    def crashing_lazy(in_spec, out_spec):
        """The same with a lazy layer: it crashes where lazy parameters get their shapes."""
        net = crashing(in_spec, out_spec)
        net.lin = torch.nn.LazyLinear(1)
        net.forward = lambda sample: {"target": net.lin(sample["x"]) @ torch.ones(2, 1)}
        return net

    registry("backbones").add("crashing", crashing, scope="preflighttest")
    registry("backbones").add("crashing_lazy", crashing_lazy, scope="preflighttest")
    try:
        before = len(runs_in(tracking_db))
        for name, message in (("crashing", "mat1 and mat2 shapes cannot be multiplied"),
                              ("crashing_lazy", "(2x1 and 2x1)")):
            code, _, err = run_cli(capsys, tmp_path, toy_config(),
                                   f"model.backbone={{type: preflighttest::{name}}}")
            assert_one_line(code, err, "model: the model's forward pass failed on the first "
                            "training batch, before training: RuntimeError: ")
            assert message in err
        assert len(runs_in(tracking_db)) == before and not (tmp_path / "runs").exists()
    finally:
        registry("backbones").remove("preflighttest::crashing_lazy")
        registry("backbones").remove("preflighttest::crashing")
