import pytest
import runner_fakes


@pytest.fixture
def fakes():
    runner_fakes.install()
    yield runner_fakes
    runner_fakes.uninstall()
