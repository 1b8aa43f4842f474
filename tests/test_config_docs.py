"""The YAML reference is generated from the code: every section and every option of every core
part has a one-line description (``symkit/_config_docs.py``, ``scripts/gen_reference.py``)."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from symkit._config_docs import part_options, run_sections
from symkit.registry import CATEGORIES, CORE_SCOPE, registry
from symkit.runner.schema import TOP_LEVEL_KEYS, TrackingConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def _fields(cls, prefix):
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.default_factory):
            yield from _fields(f.default_factory, f"{prefix}.{f.name}")
        else:
            yield f"{prefix}.{f.name}"


def test_every_run_section_and_option_is_described():
    from symkit.model import MODEL_KEYS

    sections = dict(run_sections())
    assert [r.name for r in sections["top level"]] == list(TOP_LEVEL_KEYS)
    assert [r.name for r in sections["model"]] == [f"model.{k}" for k in MODEL_KEYS]
    assert [r.name for r in sections["train"]] == list(_fields(TrainConfig, "train"))
    assert [r.name for r in sections["tracking"]] == list(_fields(TrackingConfig, "tracking"))
    for section, rows in sections.items():
        for row in rows:
            assert row.doc and "\n" not in row.doc, (section, row.name)
    train = {r.name: r for r in sections["train"]}
    assert train["train.find_unused_parameters"].default == "False"
    assert "DDP" in train["train.find_unused_parameters"].doc


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_option_of_every_core_part_is_described(category):
    missing = [f"{e.qualname}.{r.name}" for e in registry(category).entries(f"{CORE_SCOPE}::*")
               for r in part_options(e.load()) if not r.doc]
    assert missing == []


def test_descriptions_come_from_args_sections_and_comments():
    import symkit._config_docs as docs

    def factory(a: int, b: float = 1.0, c: str = "x", **kwargs):
        """A fake part.

        Args:
            a: the first
                option, on two lines.
            b, c: shared by two options; see :class:`~symkit.groups.Group`.
        """

    rows = {r.name: r for r in part_options(factory)}
    assert rows["a"].doc == "the first option, on two lines." and rows["a"].default == "(required)"
    assert rows["b"].doc == rows["c"].doc == "shared by two options; see `Group`."
    assert rows["c"].default == "'x'"

    @dataclasses.dataclass
    class Params:
        #: on the line before
        rate: float = 0.1
        mode: str = "a"  #: after the field

    assert docs._comment_docs(Params) == {"rate": "on the line before", "mode": "after the field"}


def test_reference_page_has_every_section_and_part():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "scripts" /
                                                  "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = module.reference_markdown()
    for heading in ("### top level", "### model", "### train", "### tracking",
                    *(f"## {c}" for c in CATEGORIES)):
        assert f"\n{heading}\n" in page, heading
    assert "| `train.find_unused_parameters` | `False` | bool | DDP: allow parameters" in page
    for category in CATEGORIES:
        for name in registry(category).names(f"{CORE_SCOPE}::*"):
            assert f"### `{name}`" in page
