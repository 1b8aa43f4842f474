"""Every YAML under configs/ trains for three tiny epochs: the training loss falls, and the
trained model's measured equivariance error is what its symmetrizer claims (exact ones exact).

No skips: a config that names a part nobody registered, or a runner that cannot build it, is a
failure of this test. A config whose backbone starts from pretrained weights (``init: ???``)
names the config that makes them in a ``# init from:`` comment; that one trains first.
"""

import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from symkit.runner import checkpoint as ckpt
from symkit.symmetrizers import Symmetrizer
from symkit.testing import symmetrizer_is_exact

CONFIGS = sorted((Path(__file__).parents[2] / "configs").rglob("*.yaml"))
TINY = [
    "train.epochs=3", "train.max_samples=8", "train.batch_size=4", "train.eval_batch_size=8",
    "train.val_every=1", "train.progress=false", "train.threads=1",
    "train.equivariance.n_elements=2", "train.equivariance.max_samples=2",
    "tracking.enabled=false",
]
#: the exact outcome's tolerance (relative to the output's spread) by the model's dtype
EXACT_RTOL = {torch.float64: 1e-9, torch.float32: 1e-5}


def test_there_are_example_configs():
    assert {p.parent.name for p in CONFIGS} >= {"nbody", "digits", "pointcloud"}
    assert any(p.name == "fa_gnn.yaml" for p in CONFIGS)


def _claims_exact(model) -> bool:
    """A symmetrizer in an exact mode, on a group where its input and output actions are exact
    (images on C8 are resampled: nothing is exact there); a bare backbone claims nothing."""
    if not isinstance(model, Symmetrizer) or not symmetrizer_is_exact(model):
        return False
    fields = [*model.in_spec.values(), *model.out_spec.values()]
    return all(f.rep.is_exact(model.group) for f in fields)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_trains_and_keeps_its_claim(path, tmp_path, monkeypatch):
    monkeypatch.chdir(path.parents[2])  # data paths in configs are relative to the repository
    from symkit.runner.trainer import train

    extra = []
    source = re.search(r"^# init from: (\S+)$", path.read_text(), re.MULTILINE)
    if source is not None:
        base = train(path.parents[2] / source.group(1), [*TINY, f"train.checkpoint_dir={tmp_path}"])
        extra = [f"model.backbone.init={base.run_dir}"]
    torch.manual_seed(0)
    result = train(path, [*TINY, f"train.checkpoint_dir={tmp_path}", *extra])
    assert result.metrics["test_metric"] == result.metrics["test_metric"]  # not NaN
    assert result.equivariance and (result.run_dir / "best.pt").is_file()
    state = torch.load(result.run_dir / ckpt.LAST, map_location="cpu", weights_only=False)
    losses = [row["train_loss"] for _, row in state["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0], f"the training loss did not fall: {losses}"
    errors = result.equivariance
    assert all(e == e and e < float("inf") for e in errors.values()), errors
    if _claims_exact(result.model):
        dtype = next(result.model.parameters()).dtype
        rtol = EXACT_RTOL.get(dtype, 1e-5)
        assert max(errors.values()) <= rtol, (
            f"{type(result.model).__name__} claims to be exact but its measured error is "
            f"{errors} (rtol {rtol:g})")


def test_swap_the_method_with_one_override(tmp_path, capsys):
    """README: `symkit train configs/nbody/fa_gnn.yaml "model.symmetrizer={type:
    canonicalization}"` replaces the node (the old `field: pos` goes with it) and trains."""
    path = next(p for p in CONFIGS if p.name == "fa_gnn.yaml")
    from symkit.cli import main

    code = main(["train", str(path), "model.symmetrizer={type: canonicalization}", *TINY,
                 f"train.checkpoint_dir={tmp_path}", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    saved = yaml.safe_load((Path(summary["run_dir"]) / "config.yaml").read_text())
    assert saved["model"]["symmetrizer"] == {"type": "canonicalization"}
    assert summary["equivariance"]["all"] < 1e-4  # PCA canonicalization is exact
