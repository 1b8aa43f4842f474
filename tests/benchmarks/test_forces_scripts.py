"""The forces benchmark's scripts run: ``--help`` of each, and one probe step prints its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["table.py", "probe.py"])
def test_help(script):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "forces" / script), "--help"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout


def test_probe_one_step():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "forces" / "probe.py"), "gnn",
                          "--steps", "1", "model.backbone.hidden=8", "model.backbone.layers=1"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert "step 0:" in out.stdout and "valid force MAE" in out.stdout
