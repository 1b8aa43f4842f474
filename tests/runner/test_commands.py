"""``symkit check``: what the report says beside the measured errors."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from symkit.cli import main
from symkit.registry import registry


class ZeroReadout(torch.nn.Module):
    """A per-sample readout initialized to zero, as ``zero_readout: true`` backbones start."""

    def __init__(self):
        super().__init__()
        self.body, self.head = torch.nn.Linear(3, 8), torch.nn.Linear(8, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, sample):
        return {"target": self.head(torch.tanh(self.body(sample["x"])))}


@pytest.fixture
def zero_readout():
    registry("backbones").add("zero_readout", lambda: ZeroReadout(), scope="commandstest")
    yield "commandstest::zero_readout"
    registry("backbones").remove("commandstest::zero_readout")


@pytest.mark.parametrize("zero", [True, False])
def test_check_says_when_every_output_is_zero(fakes, tmp_path, capsys, zero_readout, zero):
    cfg = fakes.toy_config(tmp_path)
    cfg["tracking"] = {"enabled": False}
    cfg["model"]["symmetrizer"] = {"type": "group_averaging", "eval_samples": 2}
    if zero:  # the error of the zero function is 0 whatever the model: say so
        cfg["model"]["backbone"] = {"type": zero_readout}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["check", str(path), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["outputs_all_zero"] is zero
    note = [line for line in out if line.strip().startswith("note: every output is exactly 0")]
    assert len(note) == int(zero)
