"""``symkit train | eval | check | compose``: the runner's command-line commands.

``--json`` prints one JSON object as the last line of stdout. Heavy imports happen inside the
handlers so ``symkit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from symkit.runner.schema import SPLITS

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Add the runner's commands to the ``symkit`` subparsers."""
    p = sub.add_parser("train", help="train a model from a YAML config (or resume a run)")
    p.add_argument("config", nargs="?", help="YAML file (optional with --resume)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--resume", metavar="RUN_ID_OR_DIR", type=_run_reference,
                   help="continue a run from last.pt")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="evaluate a trained run on a data split (or other data)")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT", help="run id, run directory or .pt file")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="applied to the run's config, e.g. data.path=other.npz")
    p.add_argument("--split", default="test", choices=SPLITS)
    _add_seed(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("check", help="measure the equivariance error of a config or a run")
    p.add_argument("target", metavar="CONFIG_OR_RUN")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--split", default=None, choices=SPLITS,
                   help="data split (default: train.equivariance.split)")
    _add_seed(p)
    p.add_argument("--worst-case", action="store_true",
                   help="also search the element with the largest error (symkit.testing."
                        "worst_case_error)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("compose", help="print the built model with parameter counts")
    p.add_argument("config", help="YAML file")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_compose)


def _add_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=_seed, default=None,
                   help="seed of random group elements and Monte-Carlo symmetrizers "
                        "(default: the run's train.seed)")


#: ``--seed`` values: what ``torch.manual_seed`` and the runner's derived seeds accept
_SEED_RANGE = (0, 2**63 - 1)


def _seed(text: str) -> int:
    """A ``--seed`` value: an integer in :data:`_SEED_RANGE`."""
    low, high = _SEED_RANGE
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected an integer from {low} to 2**63 - 1, got "
                                         f"{text!r}")
    return value


def _run_reference(text: str) -> str:
    """A ``--resume`` value: an existing path, or shaped like an MLflow run id (whether the
    run is in the store is checked with the store that the overrides name)."""
    from symkit.errors import CheckpointError
    from symkit.runner.load import _check_exists

    try:
        _check_exists(text)
    except CheckpointError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _seed_all(seed: int) -> None:
    """Seed torch's global generator, which Monte-Carlo symmetrizers draw from in eval."""
    import torch

    torch.manual_seed(seed)


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _emit(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> int:
    if not _is_main():
        return 0
    print("\n".join(lines))
    if args.json:
        print(json.dumps(data, default=str))
    return 0


def _metric_name(run: Any) -> str:
    node = run.cfg.get("metric") or run.cfg.get("loss")
    return str(node.get("type") if hasattr(node, "get") else node).split("::")[-1]


def _format_errors(errors: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in errors.items()) or "(not measured)"


# -- train --------------------------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace) -> int:
    from symkit.errors import ConfigError
    from symkit.runner.trainer import train

    if args.config is None and args.resume is None:
        raise ConfigError(None, "symkit train needs a CONFIG file (or --resume RUN_ID_OR_DIR)")
    overrides = list(args.overrides)
    if args.resume is not None and args.config is not None and "=" in args.config:
        overrides.insert(0, args.config)  # `train --resume RUN key=value`: no config file
    result = train(args.config, overrides, resume=args.resume)
    m = result.metrics
    from symkit.runner.parts import read_config

    name = _metric_name(read_config(result.run_dir / "config.yaml"))
    lines = [
        f"test {name}: {m['test_metric']:.6g}   (test loss {m['test_loss']:.6g}, "
        f"best valid {name} {m['best_valid_metric']:.6g})",
        f"equivariance error (relative): {_format_errors(result.equivariance)}",
        f"checkpoint: {result.checkpoint}",
        f"plots: {result.plots}/ ({', '.join(sorted(p.name for p in result.plots.glob('*.png')))})",
        f"MLflow run id: {result.run_id or '(tracking disabled)'}"
        + (f"   tracking uri: {result.tracking_uri}" if result.tracking_uri else ""),
    ]
    if result.tracking_uri:
        lines.append(f"open the MLflow UI: {_ui_hint(result.tracking_uri)}")
    return _emit(args, result.summary(), lines)


def _ui_hint(uri: str) -> str:
    """How to look at the run in the MLflow UI."""
    if uri.startswith(("http://", "https://")):
        return f"{uri} in a browser"
    return f"mlflow ui --backend-store-uri {uri}   (then http://127.0.0.1:5000)"


# -- eval ---------------------------------------------------------------------------------------
def _cmd_eval(args: argparse.Namespace) -> int:
    from symkit.runner.data import build_split, eval_loader
    from symkit.runner.distributed import DistInfo
    from symkit.runner.evaluation import evaluate
    from symkit.runner.load import load_run
    from symkit.runner.parts import build_loss, build_metric

    loaded = load_run(args.run, overrides=args.overrides)
    run = loaded.run
    seed = run.train.seed if args.seed is None else args.seed
    _seed_all(seed)
    dataset = build_split(run.cfg.data, args.split, run.train.max_samples, run.model_dtype)
    result = evaluate(loaded.model, eval_loader(dataset, run.train, DistInfo()),
                      build_loss(run), build_metric(run), DistInfo(), split=args.split)
    name = _metric_name(run)
    data = {"run": str(args.run), "split": args.split, "metric": name, "seed": seed,
            "overrides": list(args.overrides), "samples": len(dataset), **result}
    lines = [f"{args.split} {name}: {result['metric']:.6g}   ({args.split} loss "
             f"{result['loss']:.6g})"]
    coverage = _coverage(dataset, run.cfg.data, args.split)
    if coverage:
        lines.append(coverage)
    return _emit(args, data, lines)


def _coverage(dataset: Any, data_cfg: Any, split: str) -> str | None:
    """Which samples of the file an evaluation used (data sets that know their file's sample
    count, like ``arrays``): all of them, or the part ``data.splits`` cut out."""
    from symkit.runner.data import _innermost

    total = getattr(_innermost(dataset), "file_samples", None)
    if not isinstance(total, int):
        return None
    n = len(dataset)
    if n == total:
        return f"on all {n} samples of the file"
    line = f"on {n} of the {total} samples of the file"
    splits = data_cfg.get("splits") if isinstance(data_cfg, Mapping) else None
    if isinstance(splits, Mapping):
        part = (f"the {split} fraction {splits[split]}" if split in splits else
                f"the {split} part")
        line += f": {part} of data.splits; add data.splits=null to evaluate the whole file"
    return line


# -- check --------------------------------------------------------------------------------------
def _cmd_check(args: argparse.Namespace) -> int:
    import torch

    from symkit.runner.data import build_split
    from symkit.runner.evaluation import measure_equivariance
    from symkit.runner.load import load_run
    from symkit.runner.parts import build_model, read_config

    if Path(args.target).suffix in (".yaml", ".yml") and Path(args.target).is_file():
        run = read_config(args.target, args.overrides)
        torch.manual_seed(run.train.seed)
        model, what = build_model(run), "untrained model"
    else:
        loaded = load_run(args.target, overrides=args.overrides)
        run, model, what = loaded.run, loaded.model, "trained model"
    from symkit.runner.preflight import check_device

    device = check_device(run.train.device)  # cuda:1 on a machine without it fails here
    seed = run.train.seed if args.seed is None else args.seed
    _seed_all(seed)
    split = args.split or run.train.equivariance.split
    eq = dataclasses.replace(run.train.equivariance, split=split)
    dataset = build_split(run.cfg.data, split, eq.max_samples, run.model_dtype)
    errors = measure_equivariance(model.to(device), dataset, eq, seed=seed, device=device)
    data = {"target": args.target, "model": what, "split": split, "seed": seed,
            "overrides": list(args.overrides),
            "group": repr(model.group), "equivariance": errors}
    lines = [f"{what}, group {model.group!r}, {eq.n_elements} elements per kind, "
             f"{min(eq.max_samples, len(dataset))} {split} samples"]
    # after the measurements, so that its forward pass draws no random numbers before them
    data["flagged"] = _flagged(model, dataset, eq.max_samples, device)
    measured = min(eq.max_samples, len(dataset))
    if data["flagged"] == measured:  # nothing left to leave out: measured on them all
        lines.append(f"  all {measured} {split} samples are flagged (equivariant in "
                     "distribution only): the errors below are measured on them")
    elif data["flagged"]:
        lines.append(f"  {data['flagged']} of the {measured} {split} samples are flagged "
                     "(degenerate: equivariant in distribution only) and left out of the errors "
                     "below")
    lines += [f"  {kind:<12} relative error {value:.3g}" for kind, value in errors.items()]
    data["exact"] = bool(getattr(model, "is_exact", False))
    # an exact symmetrizer is exact only where the group acts exactly on its fields (images on
    # SO(2) or scalings are resampled): say so instead of a bare "yes"
    inexact = [n for n, f in [*model.in_spec.items(), *model.out_spec.items()]
               if not f.rep.is_exact(model.group)]
    data["exact_actions"] = not inexact
    claim = ("no (measured above)" if not data["exact"] else "yes" if not inexact else
             f"up to resampling ({', '.join(inexact)} resampled on {model.group!r}; measured "
             "above)")
    lines.append(f"  claims exact equivariance: {claim}")
    if args.worst_case:
        from symkit.runner.data import first_batch
        from symkit.testing import worst_case_error

        sample = first_batch(dataset, eq.max_samples)
        worst = worst_case_error(model.eval(), model.group, model.in_spec, model.out_spec, sample,
                                 generator=torch.Generator().manual_seed(seed))
        data["worst_case"] = {"relative": worst.error, "random": worst.random_error,
                              "method": worst.method, "evaluations": worst.evaluations}
        lines.append(f"  {'worst case':<12} relative error {worst.error:.3g} ({worst.method}, "
                     f"{worst.evaluations} evaluations; random {worst.random_error:.3g})")
    # last, so that its forward pass draws no random numbers before the measurements
    data["outputs_all_zero"] = _outputs_all_zero(model, dataset, eq.max_samples, device)
    if data["outputs_all_zero"]:
        lines.append("  note: every output is exactly 0 on these samples (a readout initialized "
                     "to zero?): an error of 0 says nothing about the model; check a trained run")
    return _emit(args, data, lines)


def _flagged(model: Any, dataset: Any, n: int, device: Any) -> int:
    """How many of the first ``n`` samples the model flags (left out of the measurement)."""
    from symkit.runner.data import first_batch, to_device
    from symkit.runner.evaluation import flagged_samples

    return flagged_samples(model.eval(), to_device(first_batch(dataset, n), device))


def _outputs_all_zero(model: Any, dataset: Any, n: int, device: Any) -> bool:
    """Whether every output field of ``model.out_spec`` is exactly zero on the first ``n``
    samples: the equivariance error of a constant zero function is 0 whatever the model."""
    import torch

    from symkit.runner.data import first_batch, to_device

    with torch.no_grad():
        out = model.eval()(to_device(first_batch(dataset, n), device))
    values = [v for k, v in out.items() if k in model.out_spec and isinstance(v, torch.Tensor)]
    return bool(values) and all(v.numel() == 0 or not bool(v.any()) for v in values)


# -- compose ------------------------------------------------------------------------------------
def _cmd_compose(args: argparse.Namespace) -> int:
    import torch

    from symkit.runner.data import build_split
    from symkit.runner.parts import build_model, materialize, read_config

    run = read_config(args.config, args.overrides, require=("model",))
    torch.manual_seed(run.train.seed)
    model = build_model(run)
    if run.cfg.get("data") is not None:
        materialize(model, build_split(run.cfg.data, "train", 2, run.model_dtype))
    rows = list(_module_rows(model, "model", 0))
    width = max(len("  " * d + n) for n, _, _, d in rows)
    lines = [f"{'  ' * d + n:<{width}}  {cls:<28} {count:>12,}" for n, cls, count, d in rows]
    total = sum(p.numel() for p in model.parameters())
    lines.append(f"total parameters: {total:,} "
                 f"({sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable)")
    data = {"modules": [{"name": n, "class": c, "parameters": k, "depth": d}
                        for n, c, k, d in rows], "total_parameters": total}
    return _emit(args, data, lines)


def _module_rows(module: Any, name: str, depth: int):
    """(name, class, parameter count including children, depth) for the module tree."""
    yield name, type(module).__name__, sum(p.numel() for p in module.parameters()), depth
    for child_name, child in module.named_children():
        yield from _module_rows(child, child_name, depth + 1)
