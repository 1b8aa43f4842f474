"""Every ```yaml block of the method pages (docs/methods/) builds: a ``model:`` node is built
through the registry (group, specs, backbone, symmetrizer), so an example cannot drift from the
registry. A block is exempt only when the line before its fence is
``<!-- skip-yaml: REASON -->`` (a fragment, e.g. a single option)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

METHODS = Path(__file__).resolve().parents[2] / "docs" / "methods"
FENCE = re.compile(r"(?P<before>[^\n]*)\n```yaml\n(?P<code>.*?)\n```", re.DOTALL)
SKIP = re.compile(r"<!-- skip-yaml: (?P<reason>\S.*?) -->")


def yaml_blocks() -> list[tuple[str, int, str]]:
    blocks = []
    for page in sorted(METHODS.glob("*.md")):
        text = "\n" + page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if SKIP.search(m.group("before")):
                continue
            blocks.append((page.name, text.count("\n", 0, m.start("code")), m.group("code")))
    return blocks


BLOCKS = yaml_blocks()


def test_the_family_pages_have_yaml_examples():
    pages = {name for name, _, _ in BLOCKS}
    assert pages >= {"group-averaging.md", "frame-averaging.md", "canonicalization.md",
                     "probabilistic.md", "learned-augmentation.md", "soft-equivariance.md",
                     "invariant-inputs.md", "equivariant-transformer.md"}, pages


@pytest.mark.parametrize(("page", "line", "code"), BLOCKS,
                         ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_yaml_example_builds(page, line, code):
    from symkit.model import build_model

    node = yaml.safe_load(code)
    assert isinstance(node, dict) and "model" in node, f"{page}:{line}: no model: node"
    model = build_model(node["model"])
    assert hasattr(model, "extra_losses")
