"""The ``arrays`` data set: layouts, splits, batching, and errors naming file, array, field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symkit.config import build
from symkit.data import Arrays, arrays
from symkit.errors import ConfigError, DataError


def molecules(path, n=12, seed=0):
    """Variable-size molecules: concatenated node arrays plus a per-sample count array."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(2, 7, size=n)
    total = int(counts.sum())
    np.savez(path, R=rng.normal(size=(total, 3)), Z=rng.integers(1, 9, size=total),
             F=rng.normal(size=(total, 3)), E=rng.normal(size=n), N=counts)
    return counts


def test_fixed_size_prefix_split_found_automatically(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, train_x=np.zeros((5, 4, 3)), test_x=np.ones((2, 4, 3)), train_q=np.ones((5, 4)),
             test_q=np.ones((2, 4)))
    train = arrays(str(path), {"x": "x", "q": {"array": "q", "shape": [-1, 1]}}, split="train")
    test = arrays(str(path), {"x": "x", "q": {"array": "q", "shape": [-1, 1]}}, split="test")
    assert (len(train), len(test)) == (5, 2)
    item = test[1]
    assert item["x"].dtype == torch.float32 and item["x"].shape == (4, 3)
    assert item["q"].shape == (4, 1) and torch.all(item["x"] == 1)


def test_fraction_splits_partition_the_file(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(100.0)[:, None])
    parts = {s: arrays(str(path), {"x": "x"}, split=s, splits={"valid": 0.1, "test": 0.2,
                                                                  "seed": 1})
             for s in ("train", "valid", "test")}
    seen = [float(parts[s][i]["x"]) for s in parts for i in range(len(parts[s]))]
    assert [len(parts[s]) for s in ("train", "valid", "test")] == [70, 10, 20]
    assert sorted(seen) == list(np.arange(100.0))


def test_one_path_per_split(tmp_path):
    for name, n in (("a", 3), ("b", 2)):
        np.save(tmp_path / f"{name}.npy", np.zeros((n, 2)))
        np.savez(tmp_path / f"{name}.npz", x=np.zeros((n, 2)))
    paths = {"train": str(tmp_path / "a.npz"), "valid": str(tmp_path / "b.npz"),
             "test": str(tmp_path / "b.npz")}
    assert len(arrays(paths, {"x": "x"}, split="valid")) == 2
    with pytest.raises(ConfigError, match="path.test"):
        arrays({"train": paths["train"]}, {"x": "x"}, split="test")


def test_variable_size_ragged_and_padded_batches(tmp_path):
    counts = molecules(tmp_path / "m.npz")
    fields = {"pos": "R", "charge": {"array": "Z", "shape": [-1, 1]}, "force": "F",
              "energy": "E"}
    data = arrays(str(tmp_path / "m.npz"), fields, counts="N")
    assert data.node_fields == {"pos", "charge", "force"}
    assert data[3]["pos"].shape == (counts[3], 3) and data[3]["charge"].dtype == torch.int64
    batch = data.collate([data[i] for i in range(4)])
    assert batch["pos"].shape == (counts[:4].sum(), 3) and batch["energy"].shape == (4,)
    assert batch["num_graphs"] == 4
    assert torch.equal(torch.bincount(batch["batch"]), torch.as_tensor(counts[:4]))
    padded = arrays(str(tmp_path / "m.npz"), fields, counts="N", batching="padded")
    pb = padded.collate([padded[i] for i in range(4)])
    assert pb["pos"].shape == (4, counts[:4].max(), 3)
    assert torch.equal(pb["mask"].sum(1), torch.as_tensor(counts[:4]))
    assert torch.equal(pb["pos"][pb["mask"]], batch["pos"])


def test_errors_name_file_array_and_field(tmp_path):
    molecules(tmp_path / "m.npz")
    with pytest.raises(DataError, match=r"no array 'Q' \(field 'charge'\).*'R'"):
        arrays(str(tmp_path / "m.npz"), {"pos": "R", "charge": "Q"}, counts="N")
    with pytest.raises(DataError, match="field 'pos'.*array 'R'.*m.npz.*rows"):
        arrays(str(tmp_path / "m.npz"), {"energy": "E", "pos": "R"})
    with pytest.raises(DataError, match="unknown format '.csv'"):
        (tmp_path / "m.csv").write_text("1,2")
        arrays(str(tmp_path / "m.csv"), {"x": "x"})


def test_built_from_config_with_split_context(tmp_path):
    molecules(tmp_path / "m.npz")
    node = {"type": "arrays", "path": str(tmp_path / "m.npz"), "fields": {"pos": "R"},
            "counts": "N", "splits": {"test": 0.25}}
    data = build(node, "datasets", key="data", context={"split": "test"})
    assert isinstance(data, Arrays) and len(data) == 3
    with pytest.raises(ConfigError, match="data.fields"):
        build({**node, "fields": "R"}, "datasets", key="data", context={"split": "test"})


def test_find_nonfinite_names_the_sample_field_array_and_row(tmp_path):
    counts = molecules(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        d = dict(z)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    d["F"][offsets[7] + 1, 2] = np.nan  # a node row of sample 7 (a target)
    d["E"][9] = np.inf  # a per-sample row of sample 9
    np.savez(tmp_path / "bad.npz", **d)
    fields = {"pos": "R", "force": "F", "energy": "E"}
    data = arrays(str(tmp_path / "bad.npz"), fields, counts="N")
    assert data.find_nonfinite(split="train") == (
        f"data: sample 7 of {tmp_path / 'bad.npz'} (item 7 of the train split) has NaN or Inf "
        f"in field 'force' (array 'F', row {offsets[7] + 1}); inputs and targets must be "
        "finite: clean or drop that sample")
    assert data.find_nonfinite(range(7)) is None  # max_samples=7 keeps it out
    assert "sample 9 " in data.find_nonfinite(range(8, 12))
    assert "field 'energy' (array 'E', row 9)" in data.find_nonfinite(range(8, 12))
    clean = arrays(str(tmp_path / "m.npz"), fields, counts="N")
    assert clean.find_nonfinite() is None
    fixed = tmp_path / "fixed.npz"
    np.savez(fixed, test_x=np.ones((4, 2)), test_y=np.array([0.0, 1.0, np.nan, 2.0]),
             train_x=np.ones((2, 2)), train_y=np.ones(2))
    test = arrays(str(fixed), {"x": "x", "y": "y"}, split="test")
    assert "sample 2 " in test.find_nonfinite() and "array 'test_y', row 2" in \
        test.find_nonfinite()
    assert arrays(str(fixed), {"x": "x", "y": "y"}, split="train").find_nonfinite() is None


def test_find_nonfinite_after_empty_samples_and_fraction_splits(tmp_path):
    rows = np.zeros((5, 3))
    rows[4] = np.nan  # the only node of sample 3; samples 1 and 2 are empty
    np.savez(tmp_path / "m.npz", R=rows, N=np.array([4, 0, 0, 1]))
    data = arrays(str(tmp_path / "m.npz"), {"pos": "R"}, counts="N")
    assert "sample 3 " in data.find_nonfinite() and "row 4" in data.find_nonfinite()
    parts = {s: arrays(str(tmp_path / "m.npz"), {"pos": "R"}, counts="N", split=s,
                       splits={"test": 0.25, "seed": 0}) for s in ("train", "test")}
    bad = [s for s, d in parts.items() if 3 in d.indices]
    assert [s for s, d in parts.items() if d.find_nonfinite() is not None] == bad


def test_node_counts_that_are_not_whole_numbers_are_refused(tmp_path):
    np.savez(tmp_path / "m.npz", R=np.zeros((7, 3)), N=np.array([3.0, 3.5, 0.5]))
    with pytest.raises(DataError, match=r"array 'N' of .*m\.npz holds 3\.5 for sample 1; node "
                                        r"counts must be whole numbers"):
        arrays(str(tmp_path / "m.npz"), {"pos": "R"}, counts="N")
    np.savez(tmp_path / "ok.npz", R=np.zeros((7, 3)), N=np.array([3.0, 4.0]))  # float, whole
    assert len(arrays(str(tmp_path / "ok.npz"), {"pos": "R"}, counts="N")) == 2


def test_a_split_fraction_that_rounds_to_no_sample_names_the_key(tmp_path):
    np.savez(tmp_path / "one.npz", x=np.zeros((1, 3)))
    node = {"type": "arrays", "path": str(tmp_path / "one.npz"), "fields": {"x": "x"},
            "splits": {"valid": 0.1, "test": 0.1}}
    with pytest.raises(ConfigError, match=r"^data\.splits\.valid: a fraction 0\.1 of 1 samples "
                                          r"is no sample; a file this small cannot be cut"):
        build(node, "datasets", key="data", context={"split": "train"})
    np.savez(tmp_path / "five.npz", x=np.zeros((5, 3)))
    node["path"] = str(tmp_path / "five.npz")
    with pytest.raises(ConfigError, match=r"^data\.splits\.valid: .* raise it to at least 0\.2"):
        build(node, "datasets", key="data", context={"split": "train"})
    node["splits"] = {"valid": 0.2, "test": 0.2}  # the fix the message names
    assert len(build(node, "datasets", key="data", context={"split": "train"})) == 3
