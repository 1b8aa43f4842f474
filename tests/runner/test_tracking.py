import pytest

from symkit.errors import TrackingError
from symkit.runner.tracking import MAX_PARAM_LENGTH, flatten, resolve_uri, start_tracker


def test_flatten_cuts_long_values():
    flat = flatten({"a": {"b": 1, "c": [1, 2]}, "long": "x" * 600, "empty": {}})
    assert flat["a.b"] == "1" and flat["a.c"] == "[1, 2]" and flat["empty"] == "{}"
    assert len(flat["long"]) == MAX_PARAM_LENGTH and flat["long"].endswith("...")


def test_uri_precedence(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri(None) == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://x")
    assert resolve_uri(None) == "http://x" and resolve_uri("sqlite:///a.db") == "sqlite:///a.db"


def test_reconcile_logs_only_missing_steps(tracking_db):
    tracker = start_tracker(tracking_db, "reconcile")
    tracker.log_metrics({"loss": 1.0, "acc": 0.1}, step=0)
    tracker.log_metrics({"loss": 0.5}, step=1)  # killed before "acc" of step 1 was logged
    history = [(0, {"loss": 1.0, "acc": 0.1}), (1, {"loss": 0.5, "acc": 0.2}), (2, {"loss": 0.2})]
    tracker.reconcile(history)
    tracker.reconcile(history)
    client = tracker.client
    assert [m.step for m in client.get_metric_history(tracker.run_id, "loss")] == [0, 1, 2]
    acc = client.get_metric_history(tracker.run_id, "acc")
    assert [(m.step, m.value) for m in acc] == [(0, 0.1), (1, 0.2)]
    many = {f"p{i}": i for i in range(250)}
    tracker.log_params(many)
    assert len(client.get_run(tracker.run_id).data.params) == 250
    tracker.finish()


def test_bad_store_is_a_tracking_error(tmp_path):
    with pytest.raises(TrackingError):
        start_tracker("http://127.0.0.1:1", "x")
    with pytest.raises(TrackingError):
        start_tracker("notascheme://nowhere", "x")


def test_concurrent_first_use_of_a_new_sqlite_store(tmp_path):
    """Jobs started together on a new store must not race creating MLflow's tables."""
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'new.db'}"
    code = (
        "from symkit.runner.tracking import start_tracker\n"
        f"start_tracker({uri!r}, 'race').finish()\n"
        "print('started')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-2000:]
        assert "started" in out


def test_a_value_mlflow_refuses_does_not_blame_the_store(tracking_db):
    from symkit.errors import TrackingError
    from symkit.runner.tracking import start_tracker

    tracker = start_tracker(tracking_db, "refused-values")
    try:
        with pytest.raises(TrackingError, match=r"refused a value: .*rename the config") as info:
            tracker.set_tags({"bad@key": "x"})  # what check_names stops before a run starts
        assert "tracking.uri" not in str(info.value)
    finally:
        tracker.finish("FAILED")


def test_check_names_follows_mlflow_rules():
    from mlflow.utils import validation

    from symkit.errors import ConfigError
    from symkit.runner.tracking import MAX_KEY_LENGTH, MAX_TAG_LENGTH, check_names

    assert MAX_KEY_LENGTH == validation.MAX_ENTITY_KEY_LENGTH
    assert MAX_TAG_LENGTH == validation.MAX_TAG_VAL_LENGTH
    for key in ("a b", "x/y", "m.n-o_p", "t:1"):
        check_names({key: "1"}, {key: "v"}, "exp")
        validation._validate_tag_name(key)
    for key in ("a@b", "a/../b", "/abs", "", "a//b"):
        with pytest.raises(ConfigError):
            check_names({}, {key: "v"}, "exp")
        with pytest.raises(validation.MlflowException):  # MLflow agrees
            validation._validate_tag_name(key)
    with pytest.raises(ConfigError, match="keys have at most 250"):
        check_names({"k" * 251: "1"}, {}, "exp")
    with pytest.raises(ConfigError, match=r"^experiment: name of 501 characters"):
        check_names({}, {}, "e" * 501)
