"""Finding runs by id: a lookup never creates the tracking store it looks in."""

from __future__ import annotations

import pytest

from symkit.cli import main

RUN_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("command", ["eval", "check"])
def test_a_run_id_with_no_store_is_one_line_and_creates_no_store(tmp_path, monkeypatch, capsys,
                                                                 command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main([command, RUN_ID]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"symkit: error: {RUN_ID}: no such run: the tracking store sqlite:///mlflow.db "
                   "does not exist; for a run in another store pass tracking.uri=... (or set "
                   "MLFLOW_TRACKING_URI), or give the run directory instead"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["eval", "check"])
def test_a_run_id_is_looked_up_in_the_tracking_uri_override(toy_config, tmp_path, monkeypatch,
                                                            capsys, command):
    """``symkit eval|check RUN_ID tracking.uri=URI`` reads the run from URI (what the message
    of a missing run tells the user to do), not from the default store."""
    from symkit.runner.trainer import train

    cfg = toy_config(epochs=1)
    cfg["tracking"]["uri"] = uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = train(cfg)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # the default store ./mlflow.db does not exist
    capsys.readouterr()
    assert main([command, result.run_id, f"tracking.uri={uri}"]) == 0
    capsys.readouterr()
    assert main([command, RUN_ID, f"tracking.uri={uri}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"symkit: error: {RUN_ID}: no such run in the "
                                               f"tracking store {uri} "), err
    assert list((tmp_path / "cwd").iterdir()) == []
