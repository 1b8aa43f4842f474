"""Fixtures for the reliability tests: the runner's toy data set and tiny run configs."""

import sys
from pathlib import Path

import pytest

RUNNER_TESTS = Path(__file__).parents[1] / "runner"
sys.path.insert(0, str(RUNNER_TESTS))
import runner_fakes  # noqa: E402


@pytest.fixture
def fakes():
    """The toy data set ``runnertest::toy`` (x -> |x|^2), registered for one test."""
    runner_fakes.install()
    yield runner_fakes
    runner_fakes.uninstall()


@pytest.fixture(scope="session")
def tracking_db(tmp_path_factory):
    """One SQLite MLflow store per session (creating one runs every migration)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def toy_config(fakes, tmp_path, tracking_db):
    """``make(**train)``: a tiny toy run config (a plain dict) logging to the session store."""

    def make(**train):
        cfg = fakes.toy_config(tmp_path, **train)
        cfg["tracking"]["uri"] = tracking_db
        return cfg

    return make
