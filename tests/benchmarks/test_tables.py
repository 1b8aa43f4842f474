"""The results-table generators (``benchmarks/runs.py``, ``glance.py``, ``tables.py``) on small
fixture files: grouping over seeds, mean ± sd, "not recorded" where a file is silent, the
issue-18 verdict, and the README's generated blocks. No training."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from symkit.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
EQ = {"rotation": 1e-7, "reflection": 2e-7, "translation": 3e-7, "all": 3e-7}


@pytest.fixture()
def gen(monkeypatch):
    """The generator modules, imported from ``benchmarks/`` as the scripts import them."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return tuple(importlib.import_module(m) for m in ("runs", "glance", "tables"))


def _summary(test, valid, eq):
    return {"metrics": {"test_metric": test, "best_valid_metric": valid, "epochs": 60.0},
            "equivariance": eq}


def _write(folder: Path, name: str, data) -> None:
    (folder / name).write_text(json.dumps(data))


@pytest.fixture()
def results(tmp_path):
    """One file of each n-body shape and two forces files (one superseded)."""
    folder = tmp_path / "results"
    folder.mkdir()
    _write(folder, "nbody.json", {
        "published": {"EGNN": 0.0071},
        "machines": {"box": "the 2-core box", "host": "a 16-core host"},
        "rows": [
            {"method": "gnn", "config": "configs/nbody/gnn.yaml train.epochs=60", "epochs": 60,
             "test_mse": 0.0142, "valid_mse": 0.0151, "wall_s": 200.0, "where": "box",
             "equivariance": 0.04, "load": [7.0, 5.0]},
            {"method": "egnn host", "config": "configs/nbody/fa_gnn.yaml model.symmetrizer=null "
             "model.backbone.type=graph::egnn train.epochs=300", "epochs": 300,
             "test_mse": 0.0076, "valid_mse": None, "wall_s": None, "where": "host",
             "equivariance": None}],
        "reduced_runs": {"gnn": {
            "command": "nice -n 5 /x/.venv/bin/symkit train /repo/configs/nbody/gnn.yaml "
                       "train.epochs=60 train.seed=4 train.threads=1 "
                       "train.checkpoint_dir=/tmp/r train.progress=false --json",
            "wall_s": 200.0, "load_start": [7.01, 4.0, 3.0], "load_end": [4.97, 4.0, 4.0],
            "summary": _summary(0.0142, 0.0151, {"rotation": 0.045, "reflection": 0.046,
                                                 "translation": 0.024, "all": 0.044})}}})
    _write(folder, "nbody_seeds.json", {
        "command": "OMP_NUM_THREADS=1 taskset -c CORE symkit train configs/nbody/ga_gnn.yaml "
                   "train.epochs=150 train.threads=1 train.seed=SEED --json",
        "machine": "the 2-core box, one run per core",
        "wall_minutes": {"seed0": 8.0, "seed1": 9.0, "seed2": 10.0},
        "runs": {f"seed{s}": _summary(t, t + 1e-3, {"rotation": r, "reflection": 0.009,
                                                     "all": 0.01})
                 for s, t, r in ((0, 0.003, 0.008), (1, 0.004, 0.011), (2, 0.005, 0.009))}})
    _write(folder, "nbody_variants.json", {"machine": "a device host", "rows": [
        {"variant": f"lf_s{s}", "command": f"symkit train configs/nbody/lf_gnn.yaml "
         f"train.epochs=100 train.seed={s} train.threads=2 ...", "test_mse": t,
         "best_valid_mse": 2 * t, "equivariance": EQ, "wall_s_approx": 297}
        for s, t in ((0, 0.0040), (1, 0.0050), (2, 0.0060))]})
    _write(folder, "nbody_pilot.json", {"lwfa_e15": {
        "command": "nice -n 5 symkit train configs/nbody/lwfa_gnn.yaml train.epochs=15 "
                   "train.seed=0 train.threads=1 --json",
        "wall_s": 354.6, "load_start": [10.19], "load_end": [10.28],
        "summary": _summary(0.0662, 0.0672, EQ)}})
    _write(folder, "forces_new.json", [
        {"config": "canon_gnn", "seed": s, "epochs": 20, "overrides": [], "wall_s": w,
         "load_at_start": 1.0 + s, "machine": "gpu box (16 cores), device cuda",
         "energy_mae_per_atom": e, "force_mae": f, "equivariance": EQ}
        for s, w, e, f in ((0, 100.0, 0.002, 0.05), (1, 110.0, 0.003, 0.06),
                           (2, 120.0, 0.004, 0.07))] + [
        {"config": "gnn", "seed": 0, "epochs": 20, "overrides": ["train.val_every=3"],
         "energy_mae_per_atom": 0.004, "force_mae": 0.08, "equivariance": {}}])
    _write(folder, "forces_5ep.json", [
        {"config": "egnn", "seed": 0, "epochs": 5, "overrides": [], "wall_s": 65.5,
         "load_at_start": 4.83, "energy_mae_per_atom": 0.028, "force_mae": 0.386,
         "equivariance": EQ}])
    return folder


def _row(table: str, *needles: str) -> list[str]:
    """The cells of the one table row that contains every needle."""
    rows = [line for line in table.splitlines()
            if line.startswith("|") and all(n in line for n in needles)]
    assert len(rows) == 1, (needles, rows)
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_parse_command_keeps_what_changes_the_model(gen):
    runs, _, _ = gen
    config, overrides, seed, threads = runs.parse_command(
        "nice -n 5 /a/symkit train /repo/configs/nbody/sfa_gnn.yaml model.backbone.hidden=128 "
        "train.seed=2 train.threads=1 train.checkpoint_dir=/tmp/x train.progress=false "
        "tracking.enabled=false --json")
    assert (config, overrides, seed, threads) == (
        "configs/nbody/sfa_gnn.yaml", ["model.backbone.hidden=128"], 2, 1)
    assert runs.parse_command("symkit train configs/x.yaml train.seed=SEED")[2] is None
    with pytest.raises(DataError, match="no config"):
        runs.parse_command("symkit train --json")


def test_nbody_table_numbers_and_not_recorded(gen, results):
    runs, glance, _ = gen
    table = glance.nbody_table(runs.load_runs(results, "nbody"))
    body = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(body) == 2 + 5  # header, separator, one row per configuration

    ga = _row(table, "ga_gnn.yaml")
    assert ga[:5] == ["Monte-Carlo group averaging, O(3)", "no (in expectation)", "0, 1, 2",
                      "150", "0.00400 ± 0.00100"]
    assert ga[5] == "0.00500 ± 0.00100"  # validation = test + 1e-3 on every seed
    assert ga[6] == "540 s (mean; 480-600)"  # from wall_minutes
    assert "load not recorded" in ga[7]
    assert ga[8] == "1.1e-02 / 9.0e-03 / not recorded"  # largest over seeds; no translation
    assert "train.seed=S" in ga[9] and "SEED" not in ga[9]

    # a table row completed from its raw summary: per-kind error, seed and load from there
    gnn = _row(table, "gnn.yaml train.epochs=60")
    assert gnn[:5] == ["none (plain network)", "no", "4", "60", "0.01420"]
    assert gnn[7] == "the 2-core box; 1 thread; load 7.01 → 4.97"
    assert gnn[8] == "4.5e-02 / 4.6e-02 / 2.4e-02"

    # a row whose file records neither validation, wall time, load nor equivariance
    egnn = _row(table, "graph::egnn")
    assert egnn[:3] == ["none: EGNN (equivariant architecture)", "yes (architecture)",
                        "0 (config default)"]
    assert egnn[5] == egnn[6] == egnn[8] == "not recorded"
    assert egnn[7] == "a 16-core host; load not recorded"

    lf = _row(table, "lf_gnn.yaml")
    assert lf[4] == "0.00500 ± 0.00100" and lf[6] == "~297 s each"
    pilot = _row(table, "lwfa_gnn.yaml")
    assert pilot[7] == "machine not recorded; 1 thread; load 10.19 → 10.28"
    assert pilot[8] == "1.0e-07 / 2.0e-07 / 3.0e-07"


def test_target_table_says_how_far_each_family_got(gen, results):
    runs, glance, _ = gen
    text = glance.target_table(runs.load_runs(results, "nbody"))
    lf = _row(text, "local frames")
    assert lf[1] == "yes" and lf[4] == f"{0.005 / 0.0035:.2f}"
    assert lf[3].startswith("0.00500 ± 0.00100 (3 seeds, 100 epochs")
    assert _row(text, "EGNN")[6] == "test (validation not recorded)"
    assert "**Target not met**" in text
    assert "Closest exact: local frames, E(3), 0.00500 ± 0.00100 (3 seeds" in text
    assert "Lowest overall: Monte-Carlo group averaging, O(3)" in text


def test_target_met_needs_an_exact_three_seed_mean(gen, results):
    runs, glance, _ = gen
    path = results / "nbody_variants.json"
    data = json.loads(path.read_text())
    for row, test in zip(data["rows"], (0.0030, 0.0034, 0.0038)):
        row["test_mse"] = test  # mean 0.0034 <= 0.0035 over 3 seeds, exact: met
    path.write_text(json.dumps(data))
    verdict = glance.target_verdict(runs.load_runs(results, "nbody"))
    assert verdict.startswith("**Target met** by: local frames, E(3), 0.00340 ± 0.00040 (3 seeds")
    data["rows"] = data["rows"][:2]  # two seeds are not enough, whatever their mean
    path.write_text(json.dumps(data))
    assert "**Target not met**" in glance.target_verdict(runs.load_runs(results, "nbody"))


def test_forces_table_groups_seeds_and_keeps_superseded_apart(gen, results):
    runs, glance, _ = gen
    loaded = runs.load_runs(results, "forces")
    table = glance.forces_table(loaded)
    assert "forces_5ep.json" not in table
    canon = _row(table, "canon_gnn")
    assert canon[1:9] == ["canonicalization, E(3)", "yes", "20", "0, 1, 2", "0.00300 ± 0.00100",
                          "0.0600 ± 0.0100", "110 s (mean; 100-120)",
                          "gpu box (16 cores), device cuda; load at start 1.00, 2.00, 3.00"]
    assert canon[10] == ("`python benchmarks/forces/table.py --configs canon_gnn --seeds 0 1 2 "
                         "--epochs 20 --out forces_new.json`")
    gnn = _row(table, "configs/forces/gnn.yaml")
    assert gnn[5:10] == ["0.00400", "0.0800", "not recorded",
                         "machine not recorded; load not recorded", "not recorded"]
    assert gnn[10].endswith("train.val_every=3`")
    old = glance.forces_table(loaded, superseded=True)
    assert "forces_new.json" not in old and "superseded" in _row(old, "egnn")[11]


def test_unknown_shapes_are_named(gen, tmp_path):
    runs, _, _ = gen
    (tmp_path / "nbody_odd.json").write_text(json.dumps({"something": 1}))
    with pytest.raises(DataError, match=r"nbody_odd.json.*something"):
        runs.load_runs(tmp_path, "nbody")
    (tmp_path / "forces_odd.json").write_text(json.dumps({"config": "gnn"}))
    with pytest.raises(DataError, match="forces_odd.json"):
        runs.load_runs(tmp_path, "forces")


def test_readme_blocks_are_rewritten_in_place(gen, results, tmp_path):
    _, glance, tables = gen
    blocks = "".join(f"before {n}\n<!-- generated:{n} -->\nold\n<!-- /generated:{n} -->\n"
                     for n in tables.BLOCKS)
    readme = tmp_path / "README.md"
    readme.write_text(blocks + "after\n")
    tables.write_readme(readme, results)
    first = readme.read_text()
    assert "old" not in first and first.endswith("after\n")
    assert first.count("before ") == len(tables.BLOCKS)
    assert "0.00400 ± 0.00100" in first and "**Target not met**" in first
    tables.write_readme(readme, results)
    assert readme.read_text() == first  # idempotent
    readme.write_text("<!-- generated:nbody -->\nno end marker\n")
    with pytest.raises(DataError, match="generated:nbody"):
        tables.write_readme(readme, results)


def test_plots_from_the_fixture(gen, results, tmp_path):
    pytest.importorskip("matplotlib")
    plots = importlib.import_module("plots")
    plots.main(["--results", str(results), "--out", str(tmp_path / "plots")])
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "forces_mae_vs_time.png", "nbody_mse_vs_time.png"]
