import os
import pickle

import pytest
import torch

from symkit.errors import CheckpointError
from symkit.runner.checkpoint import load_checkpoint, rng_state, save_atomic, set_rng_state


def test_atomic_save_round_trip_leaves_no_temp_files(tmp_path):
    path = save_atomic({"w": torch.arange(3), "epoch": 2, "history": [(0, {"a": 1.0})]},
                       tmp_path / "last.pt")
    save_atomic({"w": torch.arange(4), "epoch": 3, "history": []}, path)
    state = load_checkpoint(path)
    assert state["epoch"] == 3 and state["w"].tolist() == [0, 1, 2, 3]
    assert os.listdir(tmp_path) == ["last.pt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = save_atomic({"epoch": 1}, tmp_path / "last.pt")
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_atomic({"bad": lambda: 0}, path)  # not picklable
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]


def test_load_is_weights_only(tmp_path):
    torch.save({"obj": object()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_round_trip(tmp_path):
    state = load_checkpoint(save_atomic({"rng": rng_state()}, tmp_path / "r.pt"))["rng"]
    a = torch.rand(3)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), a)

