"""Every YAML under configs/ trains for one tiny epoch (skipped while a part it names is not
registered, or while ``symkit.model`` has not landed). A config whose backbone starts from
pretrained weights (``init: ???``) names the config that makes them in a ``# init from:``
comment; that one trains first."""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from symkit.config import KEY_CATEGORIES
from symkit.registry import registry

CONFIGS = sorted((Path(__file__).parents[2] / "configs").rglob("*.yaml"))
TINY = [
    "train.epochs=1", "train.max_samples=8", "train.batch_size=4", "train.eval_batch_size=8",
    "train.val_every=1", "train.progress=false", "train.threads=1",
    "train.equivariance.n_elements=1", "train.equivariance.max_samples=2",
    "tracking.enabled=false",
]


def _names(node, key=None):
    """(category, name) of every typed node in a config tree."""
    if isinstance(node, dict):
        if key in KEY_CATEGORIES and "type" in node:
            yield KEY_CATEGORIES[key], node["type"]
        for k, v in node.items():
            yield from _names(v, k)
    elif isinstance(node, str) and key in KEY_CATEGORIES:
        yield KEY_CATEGORIES[key], node
    elif isinstance(node, list):
        for v in node:
            yield from _names(v, key)


def test_there_are_example_configs():
    assert {p.parent.name for p in CONFIGS} >= {"nbody", "digits", "pointcloud"}
    assert any(p.name == "fa_gnn.yaml" for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_trains_one_tiny_epoch(path, tmp_path, monkeypatch):
    monkeypatch.chdir(path.parents[2])  # data paths in configs are relative to the repository
    if importlib.util.find_spec("symkit.model") is None:
        pytest.skip("symkit.model has not landed yet")
    missing = [f"{c}:{n}" for c, n in _names(yaml.safe_load(path.read_text()))
               if n not in registry(c)]
    if missing:
        pytest.skip(f"not registered yet: {missing}")
    from symkit.runner.trainer import train

    extra = []
    source = re.search(r"^# init from: (\S+)$", path.read_text(), re.MULTILINE)
    if source is not None:
        base = train(path.parents[2] / source.group(1), [*TINY, f"train.checkpoint_dir={tmp_path}"])
        extra = [f"model.backbone.init={base.run_dir}"]
    result = train(path, [*TINY, f"train.checkpoint_dir={tmp_path}", *extra])
    assert result.metrics["test_metric"] == result.metrics["test_metric"]  # not NaN
    assert result.equivariance and (result.run_dir / "best.pt").is_file()


def test_swap_the_method_with_one_override(tmp_path, capsys):
    """README: `symkit train configs/nbody/fa_gnn.yaml "model.symmetrizer={type:
    canonicalization}"` replaces the node (the old `field: pos` goes with it) and trains."""
    path = next(p for p in CONFIGS if p.name == "fa_gnn.yaml")
    if "graph::nbody" not in registry("datasets"):
        pytest.skip("the graph plugin is not installed")
    from symkit.cli import main

    code = main(["train", str(path), "model.symmetrizer={type: canonicalization}", *TINY,
                 f"train.checkpoint_dir={tmp_path}", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    import json

    summary = json.loads(out.strip().splitlines()[-1])
    saved = yaml.safe_load((Path(summary["run_dir"]) / "config.yaml").read_text())
    assert saved["model"]["symmetrizer"] == {"type": "canonicalization"}
    assert summary["equivariance"]["all"] < 1e-4  # PCA canonicalization is exact
