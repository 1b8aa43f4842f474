"""Fuzzing the boundary: whatever config, override or sample goes in, the only exceptions that
come out of ``load_config`` / ``validate`` / ``build_model`` / the spec and data checks / the CLI
are symkit's own (:class:`~symkit.errors.SymkitError`) with a non-empty message.

Hypothesis runs with a fixed budget and ``derandomize=True``: the same examples every run.
"""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symkit.errors import SymkitError

ROOT = Path(__file__).parents[2]
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def _toy_data():
    import runner_fakes  # on sys.path through conftest.py

    runner_fakes.install()
    yield
    runner_fakes.uninstall()


def _base_configs() -> list[dict]:
    import runner_fakes

    toy = runner_fakes.toy_config(Path("/nonexistent"))
    toy["tracking"] = {"enabled": False}
    nbody = yaml.safe_load((ROOT / "configs/nbody/fa_gnn.yaml").read_text())
    return [toy, nbody]


BASES = _base_configs()
values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["???", "${model}", "${nope}", "e3", "mlp", "os:system"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=3),
    max_leaves=6,
)


def _paths(node, prefix=()):
    """Every key path of a config tree (mappings and lists)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
        node, list) else ()
    for k, v in items:
        yield (*prefix, k)
        yield from _paths(v, (*prefix, k))


@st.composite
def mutated_configs(draw):
    cfg = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(cfg))
        path = draw(st.sampled_from(paths))
        parent = cfg
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["delete", "value", "unknown_key", "type"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "value":
            parent[path[-1]] = draw(values)
        elif action == "unknown_key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(values)
        elif action == "type" and isinstance(parent, dict):
            parent["type"] = draw(st.text(max_size=12) | st.sampled_from(
                ["mlp", "graph::gnn", "cyclic", "builtins.eval", "os:system", "::", "a::b::c"]))
    return cfg


keys = st.sampled_from(["model.backbone.hidden", "train.epochs", "model.group", "model.group.n",
                        "optimizer.lr", "model.in_spec.x", "data.n", "model", "train", "x.y.z"])
override = st.builds(lambda k, v: f"{k}={v}", keys, st.text(max_size=12) | st.sampled_from(
    ["-1", "0", "[1, 2", "[-1]", "{type: cyclic, n: 0}", "!!python/object/apply:os.system [ls]",
     "${oc.env:HOME}", "null", "'???'", "1e309", "nan", "so3", "{}"]))
overrides = st.just([]) | st.lists(override | st.text(max_size=20), max_size=2)


def _build_everything(cfg, overs):
    from symkit.runner.parts import (
        build_loss,
        build_metric,
        build_model,
        build_optimizer,
        build_scheduler,
        read_config,
    )

    run = read_config(cfg, overs)
    model = build_model(run)
    build_scheduler(run, build_optimizer(run, model.parameters()))
    build_loss(run), build_metric(run)


def _only_symkit_errors(fn, *args):
    try:
        fn(*args)
    except SymkitError as exc:
        assert str(exc).strip(), f"empty message from {type(exc).__name__}"


@FUZZ
@given(mutated_configs(), overrides)
def test_config_mutations_raise_only_symkit_errors(cfg, overs):
    _only_symkit_errors(_build_everything, cfg, overs)


@settings(FUZZ, max_examples=40)
@given(overrides, st.sampled_from(["config show", "compose"]))
def test_cli_with_random_overrides_exits_cleanly(overs, command):
    from symkit.cli import main

    path = str(ROOT / "configs/nbody/fa_gnn.yaml")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main([*command.split(), path, *overs])
    assert code in (0, 2)


# -- samples --------------------------------------------------------------------------------------
DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool, torch.complex64]


@st.composite
def samples(draw):
    """A sample for ``{pos: point per node, charge: scalar per node}`` over E(3), often wrong."""
    sample = {}
    for name in ("pos", "charge"):
        kind = draw(st.sampled_from(["tensor", "tensor", "tensor", "missing", "list"]))
        if kind == "list":
            sample[name] = [1.0, 2.0]
        if kind != "tensor":
            continue
        shape = draw(st.lists(st.integers(0, 4), max_size=4))
        x = torch.randn(shape).to(draw(st.sampled_from(DTYPES)))
        if x.is_floating_point() and x.numel() and draw(st.booleans()):
            x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(
                st.sampled_from([float("nan"), float("inf"), -float("inf")]))
        sample[name] = x
    return sample


class _OneBatch(torch.utils.data.Dataset):
    """The rows of one batch as a data set (what the runner's data checks see)."""

    def __init__(self, batch):
        self.batch = batch

    def __len__(self):
        return min((v.shape[0] for v in self.batch.values() if isinstance(v, torch.Tensor)
                    and v.ndim), default=0)

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.batch.items() if isinstance(v, torch.Tensor) and v.ndim}


def fa_model():
    """A fresh model (its lazy MLP fixes the node count at the first call)."""
    from symkit.model import build_model

    return build_model({
        "group": "e3",
        "in_spec": {"pos": {"rep": "point", "nodes": True},
                    "charge": {"rep": "scalar", "nodes": True}},
        "out_spec": {"e": "scalar"},
        "backbone": {"type": "mlp", "writes": {"e": [1]}, "hidden": [8]},
        "symmetrizer": {"type": "frame_averaging", "field": "pos"},
    }).eval()


@FUZZ
@given(sample=samples())
def test_random_samples_raise_only_spec_or_data_errors(sample):
    from symkit.runner.data import check_inputs, find_nonfinite

    model = fa_model()
    try:
        model.in_spec.check(model.group, sample)
    except SymkitError as exc:
        assert str(exc).strip()
        return
    dataset = _OneBatch(sample)
    _only_symkit_errors(check_inputs, model, dataset, "train")
    problem = find_nonfinite(sample, model.in_spec, dataset, "train")
    nonfinite = any(not v.isfinite().all() for v in sample.values() if v.is_floating_point())
    assert (problem is not None) == nonfinite
    if problem is None and sample["pos"].shape[0] and sample["pos"].shape[1]:
        with torch.no_grad():
            out = model({k: v.float() for k, v in sample.items()})["e"]
        assert torch.isfinite(out).all()
