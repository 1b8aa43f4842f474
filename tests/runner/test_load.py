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
