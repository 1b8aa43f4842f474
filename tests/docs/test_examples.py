"""Every ```python block in docs/ runs: each page's blocks in order, in one namespace, in a
temporary working directory. A block is skipped only when the line before its fence is
``<!-- skip-example: REASON -->``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)
SKIP = re.compile(r"<!-- skip-example: (?P<reason>\S.*?) -->")


def python_blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` for each python fence of a page."""
    text = "\n" + page.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        skip = SKIP.search(m.group("before"))
        line = text.count("\n", 0, m.start("code"))
        blocks.append((line, m.group("code"), skip.group("reason") if skip else None))
    return blocks


PAGES = sorted(p for p in DOCS.rglob("*.md") if python_blocks(p))


def test_pages_have_examples():
    assert len(PAGES) >= 5, PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_examples_run(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for line, code, skip in python_blocks(page):
        if skip is not None:
            continue
        name = f"{page.relative_to(DOCS)}:{line}"
        exec(compile("\n" * (line - 1) + code, name, "exec"), namespace)  # noqa: S102


def test_skip_markers_give_a_reason():
    for page in DOCS.rglob("*.md"):
        for marker in re.findall(r"<!-- skip-example[^>]*-->", page.read_text()):
            assert SKIP.fullmatch(marker), f"{page}: {marker} needs ': REASON'"
