"""The benchmark scripts run: ``--help`` of each, and the digits benchmark's ``--smoke`` mode."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["benchmarks/digits.py", "benchmarks/plots.py", "benchmarks/nbody/sweep.py",
           "benchmarks/symmetrizer_overhead.py"]


def _load(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    assert (ROOT / script).exists(), f"{script} is listed but missing"
    out = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout


def test_digits_smoke(tmp_path):
    """Two methods, 64 training digits, one epoch: the table's fields are all there."""
    digits = _load("benchmarks/digits.py")
    out = tmp_path / "digits.json"
    digits.main(["--smoke", "--methods", "plain CNN", "learned canonicalization",
                 "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["plain CNN", "learned canonicalization"]
    for row in rows:
        for key in ("test_c4", "test_so2", "c4_error", "c4_flagged", "epoch_s_median",
                    "parameters", "identity_rate_upright"):
            assert key in row
    assert rows[0]["identity_rate_upright"] is None
    assert 0 <= rows[1]["identity_rate_upright"] <= 1
    # exactly C4-invariant on the digits it does not flag (tied canonicalization scores)
    assert rows[1]["c4_error"] < 1e-5, rows[1]
    assert rows[1]["c4_flagged"] < 0.5, rows[1]


def test_digits_speed_smoke(tmp_path):
    digits = _load("benchmarks/digits.py")
    out = tmp_path / "speed.json"
    digits.main(["--smoke", "--speed", "--channels", "8", "16", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 3 and rows[0]["ratio_median"] == 1.0


def test_digits_frozen_smoke(tmp_path):
    """Train upright, freeze, train the canonicalizer only: only its parameters train."""
    digits = _load("benchmarks/digits.py")
    out = tmp_path / "frozen.json"
    digits.main(["--smoke", "--frozen", "--epochs", "1", "--frozen-epochs", "1",
                 "--out", str(out)])
    base, adapted = json.loads(out.read_text())["rows"]
    assert base["trainable_parameters"] == 16698  # the whole [16, 32] CNN
    assert adapted["trainable_parameters"] == 4817  # the default learned_group_cnn alone
    assert adapted["c4_error"] < 1e-5 and base["identity_rate_upright"] is None


def test_plots(tmp_path):
    pytest.importorskip("matplotlib")
    plots = _load("benchmarks/plots.py")
    results = tmp_path / "results"
    results.mkdir()
    (results / "digits.json").write_text(json.dumps({"rows": [
        {"method": "a", "epochs": 1, "train_s": 1.0, "test_c4": 0.5, "test_so2": 0.4}]}))
    plots.main(["--results", str(results), "--out", str(tmp_path / "plots")])
    # the n-body and forces plots: tests/benchmarks/test_tables.py
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "digits_accuracy_vs_time.png"]


def test_overhead_floor_computes_what_canonicalization_computes():
    """``--floor``'s lower bound is the same model: on a batch of decided signs its output is
    symkit's canonicalization's (so its time is a fair floor), and the table runs."""
    import torch

    from symkit.groups import e3
    from symkit.symmetrizers import Canonicalization

    so = _load("benchmarks/symmetrizer_overhead.py")
    _, x, net, in_spec, out_spec = so.nbody()
    model = Canonicalization(net, e3(), in_spec, out_spec).eval()
    with torch.no_grad():
        _, w = model.elements(x)
        decided = torch.nonzero(w[:, 1:].sum(1) == 0).flatten() if w.shape[1] > 1 else None
        x = x if decided is None else {k: v[decided] for k, v in x.items()}
        ours = so.minimal_canonicalization(net, x)["target"]
        theirs = model(x)["target"]
    assert ours.shape == theirs.shape == x["pos"].shape
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    rows = so.floor_rows(1)
    assert sum(r.startswith("| symkit canonicalization") or r.startswith("| eager floor")
               for r in rows) == 2


def test_lint_passes_after_the_main_job_has_written_its_folders(tmp_path):
    """The README runs the main job, then the tests (lint first): the job's ``runs/`` folder
    must not turn the benchmarks' sibling module ``runs`` into a first-party import."""
    import shutil

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks",
                    ignore=shutil.ignore_patterns("results", "__pycache__"))
    shutil.copytree(ROOT / "symkit", tmp_path / "symkit",  # first-party, as in the repository
                    ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("runs", "mlruns"):  # what the main job writes
        (tmp_path / folder).mkdir()
    out = subprocess.run([ruff, "check", "--no-cache", "benchmarks"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
