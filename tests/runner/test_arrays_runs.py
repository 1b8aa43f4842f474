"""Runs on the user's own files: train with ``data.type=arrays``, evaluate and check on another
file from the command line, variable-size molecules with ragged and padded batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from symkit.cli import main
from symkit.errors import SpecError

NBODY = Path(__file__).resolve().parents[2] / "plugins/symkit-graph/symkit_graph/data/charged5.npz"


def nbody_config(tmp_path, **data):
    return {
        "data": {"type": "arrays", "path": str(NBODY), "max_samples": 60,
                 "fields": {"pos": "loc_t30", "vel": "vel_t30", "target": "loc_t40",
                            "charge": {"array": "charges", "shape": [-1, 1]}}, **data},
        "model": {"group": "e3",
                  "in_spec": {"pos": {"rep": "point", "nodes": True},
                              "vel": {"rep": "vector", "nodes": True},
                              "charge": {"rep": "scalar", "nodes": True}},
                  "out_spec": {"target": {"rep": "point", "nodes": True}},
                  "backbone": {"type": "deepsets", "writes": {"target": [-1, 3]},
                               "hidden": 16},
                  "symmetrizer": {"type": "frame_averaging", "field": "pos"}},
        "loss": {"type": "mse", "output": "target"},
        "train": {"epochs": 2, "batch_size": 20, "progress": False,
                  "checkpoint_dir": str(tmp_path / "runs"),
                  "equivariance": {"n_elements": 2, "max_samples": 4}},
        "tracking": {"enabled": False},
    }


def quick_run(tmp_path) -> dict:
    """The ``train`` and ``tracking`` sections of a two-epoch run without MLflow."""
    return {"train": {"epochs": 2, "batch_size": 8, "progress": False,
                      "checkpoint_dir": str(tmp_path / "runs"),
                      "equivariance": {"n_elements": 2, "max_samples": 8}},
            "tracking": {"enabled": False}}


def force_config(tmp_path, splits, backbone) -> dict:
    """Per-atom forces of ``mol.npz`` (arrays R, Z, F, N) under O(3) frame averaging."""
    return {
        "data": {"type": "arrays", "path": str(tmp_path / "mol.npz"), "counts": "N",
                 "splits": splits,
                 "fields": {"pos": "R", "charge": {"array": "Z", "shape": [-1, 1]},
                            "force": "F"}},
        "model": {"group": "o3",
                  "in_spec": {"pos": {"rep": "vector", "nodes": True},
                              "charge": {"rep": "scalar", "nodes": True}},
                  "out_spec": {"force": {"rep": "vector", "nodes": True}},
                  "backbone": backbone,
                  "symmetrizer": {"type": "frame_averaging", "field": "pos"}},
        "loss": {"type": "mse", "output": "force", "target": "force"},
        **quick_run(tmp_path),
    }


def run_json(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


def write(tmp_path, cfg, name="run.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_train_on_arrays_then_eval_and_check_on_another_file(tmp_path, capsys):
    if not NBODY.is_file():
        pytest.fail(f"the shipped n-body arrays are missing: {NBODY}")
    summary = run_json(capsys, ["train", write(tmp_path, nbody_config(tmp_path)), "--json"])
    run_dir = summary["run_dir"]
    with np.load(NBODY) as z:  # a second file: 30 test systems, no split prefix
        other = {k: z[f"test_{k}"][100:130] for k in ("loc_t30", "vel_t30", "loc_t40",
                                                     "charges")}
    np.savez(tmp_path / "other.npz", **other)
    result = run_json(capsys, ["eval", run_dir, f"data.path={tmp_path / 'other.npz'}",
                               "--json"])
    assert result["samples"] == 30 and result["overrides"] == [f"data.path={tmp_path}/other.npz"]
    assert 0 < result["loss"] < 10  # the test MSE on the other file
    same = run_json(capsys, ["eval", run_dir, "--json"])
    assert same["samples"] == 60 and same["loss"] != result["loss"]
    check = run_json(capsys, ["check", run_dir, f"data.path={tmp_path / 'other.npz'}",
                              "train.equivariance.max_samples=3", "--json", "--seed", "5"])
    # A trained float32 GNN: the error is float32 rounding of g.x (positions ~3, translations
    # ~1) times the backbone's sensitivity, measured against the output's own spread (1.0e-5 for
    # translations, 6.6e-6 for rotations); frame averaging's exactness itself is proven in
    # float64 by tests/symmetrizers/test_hard_inputs.py.
    assert check["seed"] == 5 and check["equivariance"]["all"] < 1e-4


def test_monte_carlo_eval_is_reproducible_with_seed(tmp_path, capsys):
    cfg = nbody_config(tmp_path)
    cfg["model"]["symmetrizer"] = {"type": "group_averaging", "train_samples": 2,
                                     "eval_samples": 2}
    cfg["model"]["group"] = "o3"
    cfg["model"]["in_spec"]["pos"]["rep"] = "vector"
    cfg["model"]["out_spec"]["target"]["rep"] = "vector"
    cfg["train"]["epochs"] = 1
    run_dir = run_json(capsys, ["train", write(tmp_path, cfg), "--json"])["run_dir"]
    a, b, c = (run_json(capsys, ["eval", run_dir, "--seed", s, "--json"])["loss"]
               for s in ("1", "1", "2"))
    assert a == b != c


def molecules(path, n, seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(3, 8, size=n)
    pos = rng.normal(size=(int(counts.sum()), 3))
    np.savez(path, R=pos, Z=rng.integers(1, 4, size=len(pos)).astype(np.float64),
             F=-0.5 * pos, N=counts)


@pytest.mark.parametrize("batching", ["ragged", "padded"])
def test_variable_size_molecules_train_under_frame_averaging(tmp_path, capsys, batching):
    molecules(tmp_path / "mol.npz", 40, 0)
    backbone = ({"type": "mlp", "reads": ["pos", "charge"], "writes": {"force": [3]},
                 "hidden": [16]} if batching == "ragged" else
                {"type": "deepsets", "reads": ["pos", "charge"], "writes": {"force": [-1, 3]},
                 "hidden": 16})
    cfg = force_config(tmp_path, {"valid": 0.2, "test": 0.2}, backbone)
    cfg["data"]["batching"] = batching
    summary = run_json(capsys, ["train", write(tmp_path, cfg), "--json"])
    assert summary["metrics"]["test_loss"] < 1.0
    assert summary["equivariance"]["all"] < 1e-5


def test_wrong_shapes_are_named_before_training(tmp_path, capsys):
    cfg = nbody_config(tmp_path)
    cfg["data"]["fields"]["vel"] = {"array": "vel_t30", "shape": [3, 5]}  # (B, 3, N)
    code = main(["train", write(tmp_path, cfg)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "vel: expected shape (B, N, ..., 3), got (2, 3, 5) in the train split" in err
    assert "array 'train_vel_t30' of" in err and "charged5.npz" in err
    cfg["data"]["fields"]["vel"] = {"array": "vel_t30", "dtype": "float64"}
    with pytest.raises(SpecError, match="vel: has dtype torch.float64 but field '\\w+' has "
                       "torch.float32.*array 'train_vel_t30'"):
        main(["--debug", "train", write(tmp_path, cfg)])


def test_overrides_that_change_the_architecture_are_named(tmp_path, capsys):
    cfg = nbody_config(tmp_path)
    cfg["train"]["epochs"] = 1
    run_dir = run_json(capsys, ["train", write(tmp_path, cfg), "--json"])["run_dir"]
    assert main(["eval", run_dir, "model.backbone.hidden=8"]) == 2
    err = capsys.readouterr().err
    assert "do not fit the model built from its config with overrides " \
           "['model.backbone.hidden=8']" in err


@pytest.mark.parametrize("array, field", [("loc_t40", "target"), ("charges", "charge")])
def test_nan_anywhere_in_the_file_stops_train_and_eval_before_anything_is_written(
        tmp_path, capsys, array, field):
    with np.load(NBODY) as z:
        d = {k: z[f"train_{k}"][:40] for k in ("loc_t30", "vel_t30", "loc_t40", "charges")}
    d[array][37, 2] = np.nan  # a late sample, never in the first batch; a target or an input
    np.savez(tmp_path / "bad.npz", **d)
    cfg = nbody_config(tmp_path, path=str(tmp_path / "bad.npz"))
    cfg["tracking"] = {"enabled": True, "uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    assert main(["train", write(tmp_path, cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"symkit: error: data: sample 37 of {tmp_path / 'bad.npz'} (item 37 of the "
                   f"train split) has NaN or Inf in field '{field}' (array '{array}', row 37); "
                   "inputs and targets must be finite: clean or drop that sample"]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()
    d[array][37, 2] = 0.0
    np.savez(tmp_path / "good.npz", **d)
    cfg["data"]["path"] = str(tmp_path / "good.npz")
    cfg["tracking"] = {"enabled": False}
    run_dir = run_json(capsys, ["train", write(tmp_path, cfg), "--json"])["run_dir"]
    assert main(["eval", run_dir, f"data.path={tmp_path / 'bad.npz'}"]) == 2
    assert "sample 37 of" in capsys.readouterr().err


@pytest.mark.parametrize("backbone", ["deepsets", "set_transformer", "graph::gnn"])
def test_a_dense_node_backbone_on_ragged_molecules_says_to_pad(tmp_path, capsys, backbone):
    rng = np.random.default_rng(0)
    counts = rng.integers(2, 6, size=12)
    total = int(counts.sum())
    np.savez(tmp_path / "m.npz", R=rng.normal(size=(total, 3)), Z=rng.integers(1, 4, total),
             F=rng.normal(size=(total, 3)), N=counts)
    cfg = nbody_config(tmp_path, path=str(tmp_path / "m.npz"), counts="N",
                       fields={"pos": "R", "charge": {"array": "Z", "shape": [-1, 1],
                                                      "dtype": "float32"},
                               "target": "F"})
    del cfg["data"]["max_samples"]
    cfg["model"]["in_spec"].pop("vel")
    cfg["model"]["out_spec"]["target"]["rep"] = "vector"
    cfg["model"]["backbone"] = {"type": backbone, "writes": {"target": [-1, 3]}}
    cfg["train"]["batch_size"] = 4
    assert main(["train", write(tmp_path, cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("symkit: error: batch: this backbone reads dense "
                                               "node fields"), err
    assert "data.batching: padded" in err[0] and not (tmp_path / "runs").exists()
    cfg["data"]["batching"] = "padded"  # the fix the message names trains
    cfg["train"]["epochs"] = 1
    assert run_json(capsys, ["train", write(tmp_path, cfg), "--json"])["metrics"]


def test_energies_and_forces_of_an_extxyz_file_train_under_canonicalization(tmp_path, capsys):
    """A user's ase file (molecules of different sizes, energies and forces from a calculator)
    trains from YAML with forces = -dE/dpos through a PCA canonicalization: no conversion."""
    aseio = pytest.importorskip("ase.io", reason="the optional extra symkit[ase]")
    from ase.build import molecule
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.collections import g2

    rng = np.random.default_rng(0)
    frames = []
    for name in g2.names[:40]:
        atoms = molecule(name)
        atoms.rotate(rng.uniform(0, 360), rng.normal(size=3), center="COM")
        d = atoms.positions - atoms.positions.mean(0)  # a harmonic well: E = |d|^2 / 2
        atoms.calc = SinglePointCalculator(atoms, energy=0.5 * float((d * d).sum()), forces=-d)
        frames.append(atoms)
    aseio.write(str(tmp_path / "mols.extxyz"), frames)
    cfg = {
        "data": {"type": "arrays", "path": str(tmp_path / "mols.extxyz"), "batching": "padded",
                 "splits": {"valid": 0.2, "test": 0.2},
                 "fields": {"pos": "positions", "energy": "energy", "forces": "forces",
                            "z": {"array": "numbers", "shape": [-1, 1], "dtype": "float32"}}},
        "model": {"group": "e3",
                  "in_spec": {"pos": {"rep": "point", "nodes": True},
                              "z": {"rep": "scalar", "nodes": True}},
                  "out_spec": {"energy": {"rep": "scalar", "nodes": True}},
                  "backbone": {"type": "graph::gnn", "hidden": 16, "layers": 2,
                               "reads": ["pos"], "edge_product": [], "residual": None,
                               "writes": {"energy": [-1, 1]}},
                  "symmetrizer": {"type": "canonicalization"},
                  "forces": {"energy": "energy", "pos": "pos", "output": "forces"}},
        "loss": {"type": "mse", "output": "forces", "target": "forces"},
        **quick_run(tmp_path),
    }
    summary = run_json(capsys, ["train", write(tmp_path, cfg), "--json"])
    assert np.isfinite(summary["metrics"]["test_loss"])
    assert summary["equivariance"]["all"] < 1e-4


def test_check_counts_the_flagged_molecules_it_leaves_out(tmp_path, capsys):
    """`symkit check` on a file with linear molecules (frame averaging flags them: equivariant
    in distribution only) measures the others, ragged or padded alike, and says how many it
    left out instead of reporting every sample as measured."""
    rng = np.random.default_rng(0)
    counts = np.array([3, 4, 3, 5, 3, 4, 5, 3])
    pos = [rng.normal(size=(n, 3)) for n in counts]
    for b in (1, 4):  # CO2- and HCN-like: atoms on one line
        pos[b] = np.outer(np.arange(counts[b]) * 1.2, rng.normal(size=3))
    pos = np.concatenate(pos)
    np.savez(tmp_path / "mol.npz", R=pos, Z=rng.integers(1, 4, size=len(pos)).astype(float),
             F=-0.5 * pos, N=counts)
    cfg = force_config(tmp_path, {"valid": 0.25, "test": 0.25, "seed": 0},
                       {"type": "mlp", "reads": ["pos", "charge"], "writes": {"force": [3]},
                        "hidden": [16]})
    cfg["train"].update(epochs=1, batch_size=4)
    run_dir = run_json(capsys, ["train", write(tmp_path, cfg), "--json"])["run_dir"]
    check = run_json(capsys, ["check", run_dir, "data.splits=null", "--json"])
    assert check["equivariance"]["all"] < 1e-5 and check["flagged"] == 2
    assert main(["check", run_dir, "data.splits=null"]) == 0
    out = capsys.readouterr().out
    assert "2 of the 8 test samples are flagged (degenerate: equivariant in distribution only) " \
           "and left out of the errors below" in out, out
    lines = [np.outer(np.arange(n) * 1.2, rng.normal(size=3)) for n in (3, 4)]  # all linear
    np.savez(tmp_path / "lines.npz", R=np.concatenate(lines), Z=np.ones(7), F=np.zeros((7, 3)),
             N=np.array([3, 4]))
    assert main(["check", run_dir, "data.splits=null", f"data.path={tmp_path / 'lines.npz'}"]) == 0
    out = capsys.readouterr().out
    assert "all 2 test samples are flagged (equivariant in distribution only): the errors below " \
           "are measured on them" in out, out


def train_per_atom_mlp(tmp_path, capsys, splits) -> str:
    """One epoch of a per-atom MLP (ragged batches) on 20 molecules of ``mol.npz`` cut by
    ``splits``; returns the run folder."""
    molecules(tmp_path / "mol.npz", 20, 0)
    cfg = nbody_config(tmp_path, path=str(tmp_path / "mol.npz"), counts="N", splits=splits,
                       fields={"pos": "R", "charge": {"array": "Z", "shape": [-1, 1]},
                               "target": "F"})
    del cfg["data"]["max_samples"]
    cfg["model"]["in_spec"].pop("vel")
    cfg["model"]["out_spec"]["target"]["rep"] = "vector"
    cfg["model"]["backbone"] = {"type": "mlp", "writes": {"target": [3]}, "hidden": [8]}
    cfg["train"]["epochs"] = 1
    return run_json(capsys, ["train", write(tmp_path, cfg), "--json"])["run_dir"]


def test_eval_on_another_file_says_how_many_samples_the_split_fractions_kept(tmp_path, capsys):
    """A run trained with data.splits evaluates only the test fraction of another file: the
    text output says so and how to evaluate the whole file, instead of a bare number."""
    molecules(tmp_path / "other.npz", 30, 1)
    run_dir = train_per_atom_mlp(tmp_path, capsys, {"valid": 0.1, "test": 0.1})
    other = f"data.path={tmp_path / 'other.npz'}"
    assert main(["eval", run_dir, other]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == ("on 3 of the 30 samples of the file: the test fraction 0.1 of "
                       "data.splits; add data.splits=null to evaluate the whole file"), out
    assert main(["eval", run_dir, other, "data.splits=null"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "on all 30 samples of the file"


def test_a_forward_pass_failing_in_check_is_not_said_to_be_before_training(tmp_path, capsys):
    """A per-atom MLP trained on ragged batches, checked with data.batching=padded (a plausible
    override): the one-line error says where it failed, not 'before training'."""
    run_dir = train_per_atom_mlp(tmp_path, capsys, {"valid": 0.2, "test": 0.2})
    assert main(["check", run_dir, "data.batching=padded"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training" not in err[0], err
    assert err[0].startswith("symkit: error: model: the model's forward pass failed on the first "
                             "test samples measured for equivariance: "), err
    assert main(["eval", run_dir, "data.batching=padded"]) == 2  # was 'unexpected ...'
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "symkit: error: model: the model's forward pass failed on a batch of the test split: "
        "AssertionError: "), err


def test_model_dtype_float64_trains_evaluates_and_checks_from_yaml(tmp_path, capsys):
    """``model.dtype: float64``: the parameters and the data (arrays' ``dtype`` follows it
    unless ``data.dtype`` is set) are float64 through train, eval and check; float64 data for a
    float32 model says which key to set."""
    import torch

    cfg = nbody_config(tmp_path)
    cfg["model"]["dtype"] = "float64"
    summary = run_json(capsys, ["train", write(tmp_path, cfg), "--json"])
    assert summary["equivariance"]["all"] < 1e-12  # float64 rounding, not float32's 1e-7
    state = torch.load(Path(summary["run_dir"]) / "best.pt", weights_only=False)
    weights = state.get("model", state)
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float64}
    out = run_json(capsys, ["eval", summary["run_dir"], "--json"])
    assert np.isfinite(out["loss"])
    assert main(["check", summary["run_dir"]]) == 0
    import re  # errors of float64 rounding (1e-16), not float32's (1e-7): it ran in float64

    assert re.search(r"all +relative error \d\.\d+e-1[3-9]", capsys.readouterr().out)
    cfg = nbody_config(tmp_path / "f32")
    cfg["data"]["dtype"] = "float64"
    assert main(["train", write(tmp_path, cfg)]) == 2
    err = capsys.readouterr().err
    assert "but the model computes in torch.float32" in err and "model.dtype: float64" in err
    cfg["model"]["dtype"] = "float16"
    assert main(["train", write(tmp_path, cfg)]) == 2
    assert "model.dtype: expected one of ['float32', 'float64'], got 'float16'" in \
        capsys.readouterr().err
