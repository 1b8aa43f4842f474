import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import runner_fakes  # noqa: E402


@pytest.fixture
def fakes():
    """The toy data set (and a stand-in ``symkit.model`` until the real one lands)."""
    runner_fakes.install()
    yield runner_fakes
    runner_fakes.uninstall()


@pytest.fixture(scope="session")
def tracking_db(tmp_path_factory):
    """One SQLite MLflow store per session: creating one runs every migration (seconds)."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    return f"sqlite:///{path}"


@pytest.fixture
def toy_config(fakes, tmp_path, tracking_db):
    """A factory of tiny toy run configs that log to the session's store."""

    def make(**train):
        cfg = fakes.toy_config(tmp_path, **train)
        cfg["tracking"]["uri"] = tracking_db
        return cfg

    return make
