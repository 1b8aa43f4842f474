"""The error catalogue (docs/errors.md): one test per entry.

Each test provokes one failure the way a user would and checks the exception type and that its
message names the key, field or tensor at fault and what was expected.
"""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
from types import ModuleType

import pytest
import torch
import yaml
from torch.utils.data import Dataset

from symkit import plugins
from symkit.config import load_config
from symkit.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DuplicateNameError,
    PluginError,
    SpecError,
    TrackingError,
    TrainingError,
    UnknownNameError,
)
from symkit.hookspecs import hookimpl
from symkit.model import build_model
from symkit.registry import registry
from symkit.runner import checkpoint as ckpt
from symkit.runner.parts import build_optimizer, read_config
from symkit.runner.trainer import train

SCOPE = "reliability"


class SampleData(Dataset):
    """``n`` items ``{"x": (*shape) of dtype, "target": (1,)}``; ``bad`` puts ``bad_value`` into
    the input of that sample."""

    def __init__(self, n: int, shape: list[int], dtype: str, bad: int, bad_value: float):
        self.x = torch.randn(n, *shape, generator=torch.Generator().manual_seed(0))
        self.x = self.x.to(getattr(torch, dtype))
        if 0 <= bad < n:
            self.x[bad] = bad_value
        self.y = self.x.float().pow(2).flatten(1).sum(-1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "target": self.y[i]}


def sample_data(split: str, n: int = 16, shape: list[int] = (3,), dtype: str = "float32",
                bad: int = -1, bad_value: float = float("nan"), empty_split: str = ""):
    """Toy data whose inputs can have a wrong shape, dtype or a NaN/Inf at sample ``bad``."""
    return SampleData(0 if split == empty_split else n, list(shape), dtype, bad, bad_value)


@pytest.fixture
def run_cfg(toy_config):
    """A tiny run config on :func:`sample_data` (registered as ``reliability::samples``)."""
    registry("datasets").add("samples", sample_data, scope=SCOPE)
    cfg = toy_config(epochs=1)
    cfg["data"] = {"type": f"{SCOPE}::samples"}
    cfg["tracking"] = {"enabled": False}
    yield cfg
    registry("datasets").remove(f"{SCOPE}::samples")


@pytest.fixture
def plugin_names():
    """Names of in-process plugins a test loads; unloaded afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        plugins.unload_plugin(name)


def _plugin(hook, api: int = 1, module: str = "catalogue_plugin") -> ModuleType:
    module = ModuleType(module)
    module.SYMKIT_API_VERSION = api
    module.symkit_register = hookimpl(hook)
    return module


# -- configuration ------------------------------------------------------------------------------
def test_malformed_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  group: e3\n  in_spec: {pos: point\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+:\d+: invalid YAML") as info:
        load_config(path)
    assert info.value.key is None


def test_unknown_key(run_cfg):
    run_cfg["model"]["backbone"]["hiden"] = [8]
    with pytest.raises(ConfigError) as info:
        read_config(run_cfg)
    assert info.value.key == "model.backbone.hiden"
    assert "unknown option" in str(info.value) and "did you mean 'hidden'" in str(info.value)


def test_unknown_name(run_cfg):
    run_cfg["model"]["backbone"]["type"] = "mlpp"
    with pytest.raises(UnknownNameError) as info:
        read_config(run_cfg)
    assert info.value.key == "model.backbone.type"
    assert "unknown backbones name 'mlpp'; did you mean 'mlp'?" in str(info.value)
    assert "Known backbones:" in str(info.value)


def test_wrong_type(run_cfg):
    run_cfg["train"]["batch_size"] = "sixteen"
    with pytest.raises(ConfigError, match="expected int, got str 'sixteen'") as info:
        read_config(run_cfg)
    assert info.value.key == "train.batch_size"


def test_missing_value(run_cfg):
    run_cfg["model"]["backbone"]["writes"] = "???"
    with pytest.raises(ConfigError, match="missing value") as info:
        read_config(run_cfg)
    assert info.value.key == "model.backbone.writes"


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("train.epochs=-1", "train.epochs", "expected a value >= 1, got -1"),
        ("train.batch_size=0", "train.batch_size", "expected a value >= 1, got 0"),
        ("train.equivariance.n_elements=-2", "train.equivariance.n_elements", ">= 0"),
        ("train.seed=99999999999999999999999", "train.seed",
         "expected a value from 0 to 9223372036854775807"),  # torch seeds fit in 64 bits
        ("train.seed=-3", "train.seed", r"expected a value >= 0 and <= 9223372036854775807"),
        ("model.group={type: cyclic, n: 0}", "model.group", "n must be an integer >= 1, got 0"),
        ("optimizer.lr=-0.1", "optimizer", "Invalid learning rate: -0.1"),
    ],
)
def test_out_of_range_value(run_cfg, override, key, expected):
    run_cfg["model"]["in_spec"] = {"x": "scalar"}  # valid for any group, cyclic included
    with pytest.raises(ConfigError, match=expected) as info:
        run = read_config(run_cfg, [override])
        build_optimizer(run, build_model(run.cfg.model).parameters())
    assert (info.value.key or "").startswith(key) or str(info.value).startswith(key.split(".")[-1])


# -- data -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"shape": [4]}, r"x: expected shape \(B, \.\.\., 3\), got \(2, 4\) in the train split"),
        ({"dtype": "int64"}, r"x: expected a floating-point tensor .* got dtype torch\.int64"),
    ],
)
def test_tensor_of_wrong_shape_or_dtype(run_cfg, data, expected):
    run_cfg["data"].update(data)
    with pytest.raises(SpecError, match=expected) as info:
        train(run_cfg)
    assert info.value.field == "x" and "samples 0-1" in str(info.value)
    from symkit.cli import main  # `symkit check` on the same data: the same boundary check

    path = run_cfg["train"]["checkpoint_dir"] + ".yaml"
    with open(path, "w") as f:
        yaml.safe_dump(run_cfg, f)
    assert main(["check", path]) == 2


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_inf_in_inputs(run_cfg, value):
    run_cfg["data"].update(bad=5, bad_value=value)
    with pytest.raises(DataError, match="sample 5 of the train split has NaN or Inf in input "
                                        "field 'x'; inputs and targets must be finite"):
        train(run_cfg)


def test_empty_data_set(run_cfg):
    run_cfg["data"]["empty_split"] = "valid"
    with pytest.raises(DataError, match="data: the valid split is empty"):
        train(run_cfg)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(toy_config):
    cfg = toy_config(epochs=1)
    cfg["tracking"] = {"enabled": False}
    result = train(cfg)
    before = ckpt.load_checkpoint(result.run_dir / ckpt.LAST)
    with pytest.raises(TrainingError, match=r"non-finite loss \(inf\) at epoch 2, step 4; the "
                                            r"last good checkpoint is .*last\.pt"):
        train(resume=result.run_dir, overrides=["train.epochs=2", "data.overflow=true"])
    after = ckpt.load_checkpoint(result.run_dir / ckpt.LAST)
    assert after["epoch"] == before["epoch"] == 0
    assert all(torch.equal(after["model"][k], v) for k, v in before["model"].items())


def test_degenerate_geometry_is_handled_not_raised():
    """Frame averaging on coincident points (no principal axes): finite output, no error."""
    model = build_model({
        "group": "e3", "in_spec": {"pos": {"rep": "point", "nodes": True}},
        "out_spec": {"e": "scalar"},
        "backbone": {"type": "mlp", "writes": {"e": [1]}, "hidden": [8]},
        "symmetrizer": {"type": "frame_averaging", "field": "pos"},
    }).eval()
    pos = torch.ones(2, 5, 3)  # every point in one place
    out = model({"pos": pos})["e"]
    assert out.shape == (2, 1) and torch.isfinite(out).all()
    assert model.metrics()["degenerate_fraction"] == 1.0


# -- plugins ----------------------------------------------------------------------------------
def test_plugin_raising_while_registering(plugin_names):
    def hook(register):
        register("losses", "half", dict)
        raise RuntimeError("boom")

    plugin_names.append("exploding")
    with pytest.raises(PluginError, match="plugin 'exploding' failed while registering: "
                                          "RuntimeError: boom"):
        plugins.load_plugin(_plugin(hook), "exploding", strict=True)
    assert "exploding::half" not in registry("losses")  # all or nothing


def test_two_plugins_registering_one_name(plugin_names):
    plugin_names.append("twin")
    first = plugins.load_plugin(_plugin(lambda register: register("losses", "net", dict)), "twin")
    assert first.status == "ok"
    with pytest.raises(PluginError, match=r"losses 'twin::net' is registered twice: first by "
                                          r"plugin twin .* again by plugin twin") as info:
        plugins.load_plugin(_plugin(lambda register: register("losses", "net", list),
                                    module="other_twin"), "twin", strict=True)
    assert isinstance(info.value.__cause__, DuplicateNameError)
    assert registry("losses").get("twin::net").load() is dict  # the first one stays


def test_incompatible_plugin_api_version(plugin_names):
    plugin_names.append("future")
    with pytest.raises(PluginError, match=r"declares SYMKIT_API_VERSION=99; this symkit "
                                          r"supports \[1\]"):
        plugins.load_plugin(_plugin(lambda register: None, api=99), "future", strict=True)


# -- tracking and checkpoints -------------------------------------------------------------------
def test_unreachable_tracking_store_fails_before_training(run_cfg, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    run_cfg["tracking"] = {"uri": f"http://127.0.0.1:{port}"}
    with pytest.raises(TrackingError, match=rf"cannot reach the tracking server "
                                            rf"http://127.0.0.1:{port} .*tracking.enabled=false"):
        train(run_cfg)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("problem", ["locked", "unwritable", "proc"])
def test_locked_or_unwritable_sqlite_store_fails_before_training(run_cfg, tmp_path, monkeypatch,
                                                                  problem):
    """Probed once, without MLflow's minutes of retries: fails within seconds."""
    import time

    from symkit.runner import tracking

    monkeypatch.setattr(tracking, "SQLITE_LOCK_TIMEOUT", 0.2)
    if problem == "locked":
        db = tmp_path / "locked.db"
        holder = sqlite3.connect(db)
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, for ever
        expected = r"cannot write the tracking store .*locked\.db \(database is locked\)"
    elif problem == "unwritable":
        (tmp_path / "afile").write_text("")
        db = tmp_path / "afile" / "mlflow.db"  # its folder is a file: nothing can be written
        expected = (r"^tracking\.uri: cannot create the tracking store sqlite:///.*afile/mlflow"
                    r"\.db: its folder .* is not writable .*tracking\.enabled=false$")
    else:
        if not os.path.isdir("/proc/self"):
            pytest.skip("needs Linux /proc (a folder no one can create files in)")
        db = "/proc/mlflow.db"
        expected = r"^tracking\.uri: cannot create the tracking store sqlite:////proc/mlflow\.db"
    run_cfg["tracking"] = {"uri": f"sqlite:///{db}"}
    start = time.monotonic()
    with pytest.raises(TrackingError, match=expected):
        train(run_cfg)
    assert time.monotonic() - start < 30
    assert not (tmp_path / "runs").exists()
    if problem == "locked":
        holder.rollback()
        holder.close()


def test_no_disk_space_while_checkpointing(tmp_path, monkeypatch):
    path = ckpt.save_atomic({"epoch": 1}, tmp_path / ckpt.LAST)
    real_save = torch.save

    def full_disk(obj, f):
        real_save(obj, f)  # half-written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*last\.pt: No space left "
                                              r"on device \(ENOSPC\); the previous last\.pt is "
                                              r"intact; free some disk space"):
        ckpt.save_atomic({"epoch": 2}, path)
    monkeypatch.undo()
    assert ckpt.load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == [ckpt.LAST]  # no temporary file left


def test_every_catalogue_entry_names_a_test_that_exists():
    """docs/errors.md: each row's last column names tests (`E::` this file, `P::` the preflight
    tests, `path::name`, or `::name` in the file named before it); each must exist."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    short = {"E": "tests/reliability/test_error_catalogue.py",
             "P": "tests/runner/test_preflight.py"}
    rows = [line for line in (root / "docs" / "errors.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith(("| failure", "|---"))]
    assert len(rows) >= 30
    for row in rows:
        cell = row.rstrip(" |").rsplit("|", 1)[-1]
        refs = re.findall(r"`([^`]*::\w+)`", cell)
        assert refs, row
        last = None
        for ref in refs:
            path, name = ref.rsplit("::", 1)
            path = short.get(path, path) or last
            last = path
            source = (root / path).read_text()
            assert re.search(rf"^def {name}\(", source, re.M), f"{path}::{name} ({row[:40]})"
