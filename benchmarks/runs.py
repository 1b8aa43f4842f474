"""Benchmark runs read from the raw JSON files in ``benchmarks/results/``, grouped over seeds.

A *run* is one training run of one configuration on one seed; a *group* is the runs of one
configuration (same config file and overrides apart from the seed, same epochs, same machine,
same results file), summarized by the mean and the sample standard deviation over its seeds.
Nothing is typed in here: every number comes from a results file, and a field a file does not
record stays ``None`` (the tables print "not recorded").

n-body files (``nbody*.json``) come in the shapes their scripts wrote over time:

- ``rows`` of table rows (``method``, ``config`` = config path and overrides, ``test_mse``,
  ``valid_mse``, ``wall_s``, ``where``, ``equivariance`` = the "all" error, ``load``), with a
  file-level ``machines`` map from ``where`` to a description, next to the raw ``symkit train
  --json`` summaries of some rows (``reduced_runs`` and other sweep entries): a row takes its
  per-kind equivariance error, seed and load from the summary whose test metric is identical;
- ``runs`` per seed (``seed0`` ...) with one ``command`` template, ``wall_minutes`` and a
  file-level ``machine``;
- ``rows`` of ``variant`` runs with their own ``command`` and a file-level ``machine``;
- the output of ``benchmarks/nbody/sweep.py``: name -> {command, wall_s, load_start, load_end,
  summary}.

Forces files (``forces_*.json``) are lists of the rows ``benchmarks/forces/table.py`` writes.
"""

from __future__ import annotations

import json
import shlex
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from symkit.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("rotation", "reflection", "translation")
#: forces files whose configs were replaced (commit 96b3984: raw d^2 edges, z as a node
#: feature); their rows are kept apart from the current ones
SUPERSEDED = {"forces_5ep.json": "first configs (commit 96b3984), superseded",
              "forces_25ep.json": "first configs (commit 96b3984), superseded"}
_NOISE = ("train.checkpoint_dir=", "train.progress=", "tracking.")


@dataclass(frozen=True)
class Run:
    """One training run as recorded; ``None`` wherever the results file does not say."""

    benchmark: str  #: ``nbody`` or ``forces``
    source: str  #: results file name
    config: str  #: config path relative to the repository (``configs/nbody/sfa_gnn.yaml``)
    overrides: tuple[str, ...]  #: dotlist overrides apart from seed, threads and bookkeeping
    seed: int | None
    epochs: int | None
    metrics: dict[str, float | None]  #: ``test_mse``/``valid_mse`` or the forces MAEs
    wall_s: float | None
    machine: str | None
    threads: int | None = None
    load: tuple[float | None, float | None] = (None, None)  #: 1-min load at start, at end
    equivariance: dict[str, float] = field(default_factory=dict)  #: kind -> relative error
    wall_approx: bool = False
    seed_from_config: bool = False  #: the seed is the config's ``train.seed``, not an override


@dataclass
class Group:
    """The runs of one configuration over seeds."""

    runs: list[Run]

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def seeds(self) -> list[int | None]:
        return sorted(r.seed for r in self.runs if r.seed is not None) or [None]

    def stat(self, metric: str) -> tuple[float | None, float | None, int]:
        """(mean, sample sd or None for one value, count) of a metric over the recorded seeds."""
        values = [r.metrics.get(metric) for r in self.runs]
        values = [v for v in values if v is not None]
        if not values:
            return None, None, 0
        sd = statistics.stdev(values) if len(values) > 1 else None
        return statistics.fmean(values), sd, len(values)

    def equivariance(self) -> dict[str, float]:
        """The largest error over seeds, per kind (and ``all``), among the recorded ones."""
        out: dict[str, float] = {}
        for run in self.runs:
            for kind, value in run.equivariance.items():
                out[kind] = max(out.get(kind, value), value)
        return out


def parse_command(command: str) -> tuple[str, list[str], int | None, int | None]:
    """Config path, overrides, seed and threads of a ``symkit train`` command line.

    Accepts a whole command (``nice -n 5 .venv/bin/symkit train CONFIG k=v ... --json``) or
    ``CONFIG k=v ...``. Bookkeeping overrides (checkpoint directory, progress bar, tracking)
    are dropped; ``train.seed`` and ``train.threads`` are returned apart (``None`` when absent
    or a placeholder such as ``SEED``).

    Raises:
        DataError: no ``.yaml`` config in the command.
    """
    tokens = shlex.split(command)
    config = next((t for t in tokens if t.endswith(".yaml")), None)
    if config is None:
        raise DataError(f"no config (.yaml) in the command {command!r}")
    rest = tokens[tokens.index(config) + 1:]
    if "configs/" in config:
        config = config[config.index("configs/"):]
    seed = threads = None
    overrides = []
    for token in rest:
        if "=" not in token or token.startswith("-") or token.startswith(_NOISE):
            continue
        key, value = token.split("=", 1)
        if key in ("train.seed", "train.threads"):
            number = int(value) if value.isdigit() else None
            seed, threads = (number, threads) if key == "train.seed" else (seed, number)
        else:
            overrides.append(token)
    return config, overrides, seed, threads


def config_value(config: str, overrides: list[str] | tuple[str, ...], key: str):
    """A value of ``config`` with ``overrides`` applied (OmegaConf), or ``None`` where absent."""
    from omegaconf import OmegaConf

    path = ROOT / config
    if not path.exists():
        return None
    cfg = OmegaConf.merge(OmegaConf.load(path), OmegaConf.from_dotlist(list(overrides)))
    value = OmegaConf.select(cfg, key, default=None)
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def _epochs(overrides: list[str], recorded) -> int | None:
    for token in overrides:
        if token.startswith("train.epochs="):
            return int(token.split("=", 1)[1])
    return None if recorded is None else int(recorded)


def _seed(config: str, overrides: list[str], seed: int | None) -> tuple[int | None, bool]:
    if seed is not None:
        return seed, False
    value = config_value(config, overrides, "train.seed")
    return (int(value), True) if value is not None else (None, False)


def _summary_run(source: str, entry: dict, machine: str | None) -> Run:
    """A run from a ``sweep.py`` entry (command, wall_s, load_start/end, summary)."""
    config, overrides, seed, threads = parse_command(entry["command"])
    metrics = entry["summary"]["metrics"]
    seed, from_config = _seed(config, overrides, seed)
    return Run("nbody", source, config, tuple(overrides), seed,
               _epochs(overrides, metrics.get("epochs")),
               {"test_mse": metrics.get("test_metric"),
                "valid_mse": metrics.get("best_valid_metric")},
               entry.get("wall_s"), machine, threads,
               ((entry.get("load_start") or [None])[0], (entry.get("load_end") or [None])[0]),
               dict(entry["summary"].get("equivariance") or {}),
               seed_from_config=from_config)


def _is_sweep_entry(value) -> bool:
    return isinstance(value, dict) and "command" in value and "summary" in value


def _nbody_rows(source: str, data: dict) -> list[Run]:
    """The ``rows`` table shape, completed from the raw summaries of the same file."""
    summaries = [v for v in data.values() if _is_sweep_entry(v)]
    summaries += [e for v in data.values() if isinstance(v, dict) and not _is_sweep_entry(v)
                  for e in v.values() if _is_sweep_entry(e)]
    runs = []
    for row in data["rows"]:
        config, overrides, seed, threads = parse_command(row["config"])
        match = next((s for s in summaries
                      if s["summary"]["metrics"].get("test_metric") == row.get("test_mse")), None)
        equivariance = dict((row.get("run") or {}).get("equivariance") or {})
        load = tuple(row.get("load") or (None, None))
        if match is not None:
            _, _, seed, threads = parse_command(match["command"])
            equivariance = equivariance or dict(match["summary"].get("equivariance") or {})
            load = (match["load_start"][0], match["load_end"][0])
        if not equivariance and row.get("equivariance") is not None:
            equivariance = {"all": row["equivariance"]}
        seed, from_config = _seed(config, overrides, seed)
        where = row.get("where")
        runs.append(Run("nbody", source, config, tuple(overrides), seed,
                        _epochs(overrides, row.get("epochs")),
                        {"test_mse": row.get("test_mse"), "valid_mse": row.get("valid_mse")},
                        row.get("wall_s"), data.get("machines", {}).get(where, where), threads,
                        load, equivariance, seed_from_config=from_config))
    return runs


def _nbody_seed_runs(source: str, data: dict) -> list[Run]:
    """The ``runs`` per seed shape (one command template, ``wall_minutes``)."""
    config, overrides, _, threads = parse_command(data["command"])
    runs = []
    for name, summary in data["runs"].items():
        seed = int(name.removeprefix("seed"))
        minutes = (data.get("wall_minutes") or {}).get(name)
        metrics = summary["metrics"]
        runs.append(Run("nbody", source, config, tuple(overrides), seed,
                        _epochs(overrides, metrics.get("epochs")),
                        {"test_mse": metrics.get("test_metric"),
                         "valid_mse": metrics.get("best_valid_metric")},
                        None if minutes is None else 60.0 * minutes, data.get("machine"),
                        threads, equivariance=dict(summary.get("equivariance") or {})))
    return runs


def _nbody_variants(source: str, data: dict) -> list[Run]:
    """The ``rows`` of ``variant`` runs shape (file-level machine, approximate wall time)."""
    runs = []
    for row in data["rows"]:
        config, overrides, seed, threads = parse_command(row["command"])
        seed, from_config = _seed(config, overrides, seed)
        wall, approx = row.get("wall_s"), False
        if wall is None and row.get("wall_s_approx") is not None:
            wall, approx = row["wall_s_approx"], True
        runs.append(Run("nbody", source, config, tuple(overrides), seed,
                        _epochs(overrides, row.get("epochs")),
                        {"test_mse": row.get("test_mse"),
                         "valid_mse": row.get("best_valid_mse", row.get("valid_mse"))},
                        wall, data.get("machine"), threads,
                        equivariance=dict(row.get("equivariance") or {}), wall_approx=approx,
                        seed_from_config=from_config))
    return runs


def read_nbody(path: Path) -> list[Run]:
    """The runs of one n-body results file, whichever of the shapes above it has.

    Raises:
        DataError: the file has none of the known shapes (named with its top-level keys).
    """
    data = json.loads(path.read_text())
    rows = data.get("rows") if isinstance(data, dict) else None
    if rows and "method" in rows[0]:
        return _nbody_rows(path.name, data)
    if rows and "variant" in rows[0]:
        return _nbody_variants(path.name, data)
    if isinstance(data, dict) and "runs" in data and "command" in data:
        return _nbody_seed_runs(path.name, data)
    if isinstance(data, dict) and data and all(_is_sweep_entry(v) for v in data.values()):
        return [_summary_run(path.name, v, None) for v in data.values()]
    keys = list(data) if isinstance(data, dict) else type(data).__name__
    raise DataError(f"{path.name}: not an n-body results shape this reader knows (keys {keys})")


def read_forces(path: Path) -> list[Run]:
    """The runs of one ``benchmarks/forces/table.py`` results file (a list of rows).

    Raises:
        DataError: the file is not a list of rows with ``config`` and ``seed``.
    """
    data = json.loads(path.read_text())
    if not isinstance(data, list) or not all("config" in r and "seed" in r for r in data):
        raise DataError(f"{path.name}: expected a list of table.py rows with 'config' and 'seed'")
    return [Run("forces", path.name, f"configs/forces/{r['config']}.yaml",
                tuple(r.get("overrides") or ()), r["seed"], r.get("epochs"),
                {"energy_mae_per_atom": r.get("energy_mae_per_atom"),
                 "force_mae": r.get("force_mae")},
                r.get("wall_s"), r.get("machine"), None, (r.get("load_at_start"), None),
                dict(r.get("equivariance") or {})) for r in data]


def load_runs(results: Path, benchmark: str) -> list[Run]:
    """Every run of ``benchmark`` (``nbody`` or ``forces``) in the results folder."""
    if benchmark == "nbody":
        return [r for p in sorted(results.glob("nbody*.json")) for r in read_nbody(p)]
    if benchmark == "forces":
        return [r for p in sorted(results.glob("forces_*.json")) for r in read_forces(p)]
    raise DataError(f"unknown benchmark {benchmark!r}; expected 'nbody' or 'forces'")


def group_runs(runs: list[Run]) -> list[Group]:
    """Runs of one configuration (all but the seed equal), in first-seen order."""
    groups: dict[tuple, Group] = {}
    for run in runs:
        key = (run.benchmark, run.source, run.config, tuple(sorted(run.overrides)), run.epochs,
               run.machine, run.threads)
        groups.setdefault(key, Group([])).runs.append(run)
    return list(groups.values())


_GROUPS = {"e3": "E(3)", "o3": "O(3)", "se3": "SE(3)", "so3": "SO(3)"}
#: symmetrizer type -> (family, exact by construction)
_FAMILIES = {
    "frame_averaging": ("frame averaging", "yes"),
    "layerwise_frame_averaging": ("layer-wise frame averaging", "yes"),
    "graph::local_frames": ("local frames", "yes"),
    "canonicalization": ("canonicalization", "yes"),
    "learned_canonicalization": ("learned canonicalization", "yes"),
    "group_averaging": ("Monte-Carlo group averaging", "no (in expectation)"),
    "probabilistic": ("probabilistic symmetrization", "no (in expectation)"),
}


def describe(config: str, overrides: tuple[str, ...] | list[str]) -> tuple[str, str]:
    """(symmetrizer family, exact by construction) of a config with its overrides.

    Read from the config as it is now (``model.symmetrizer``, ``model.backbone.type``,
    ``model.group``); a config file that no longer exists gives ``("not recorded", "not
    recorded")``, a symmetrizer type this table does not know gives its name and "unknown".
    """
    if not (ROOT / config).exists():
        return "not recorded", "not recorded"
    sym = config_value(config, overrides, "model.symmetrizer")
    backbone = str(config_value(config, overrides, "model.backbone.type") or "")
    group = config_value(config, overrides, "model.group")
    group = _GROUPS.get(group, str(group)) if isinstance(group, str) else None
    if not sym:
        if backbone.endswith("egnn"):
            return "none: EGNN (equivariant architecture)", "yes (architecture)"
        return "none (plain network)", "no"
    family, exact = _FAMILIES.get(sym.get("type"), (str(sym.get("type")), "unknown"))
    if sym.get("stochastic"):
        family = f"stochastic {family}"
    if group:
        family = f"{family}, {group}"
    if backbone and not backbone.endswith("::gnn"):
        family = f"{family} ({backbone})"
    return family, exact
