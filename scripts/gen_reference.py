"""Generate the YAML reference from the registry: an mkdocs hook, also a script.

As an mkdocs hook (``hooks: [scripts/gen_reference.py]`` in ``mkdocs.yml``) it adds the page
``reference/yaml.md`` at build time, so the built docs always match the installed code, and it
replaces ``<!-- include: PATH -->`` in any page with the file at ``PATH`` (relative to the
repository root; e.g. ``benchmarks/RESULTS.md``).

    python scripts/gen_reference.py            # print the reference to stdout
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = "reference/yaml.md"
_INCLUDE = re.compile(r"<!-- include: (\S+) -->")

INTRO = """# YAML reference

Every part registered in this installation (core and plugins), generated from the registry
when the docs are built. In YAML, a node's `type` names a part (the bare name works when it is
unambiguous; `scope::name` always works); its other keys are the parameters below. Parameters
marked *(context)* are filled in by symkit (the model's `group`, `in_spec`, `out_spec`,
`backbone`, the data `split`, the optimizer's `params`) unless the YAML sets them.
`symkit list CATEGORY NAME` prints one part's options the same way.

## Overrides on the command line

Every command that reads a config takes overrides after it:

| override | effect |
|---|---|
| `train.epochs=5` | sets one value (parsed as YAML) |
| `"model.symmetrizer={type: canonicalization}"` | replaces the whole node (the old `field` goes) |
| `~model.symmetrizer.field` | deletes a key (a missing one is an error listing the node's keys) |

So `symkit train configs/nbody/fa_gnn.yaml "model.symmetrizer={type: canonicalization}"` swaps
the method with one line; `symkit config show CONFIG ... --defaults` prints the result with
every default written out, which is what MLflow records as the run's parameters.
"""

#: A note under a category's heading.
NOTES = {
    "backbones": "Every backbone also takes `init` (a run id, run directory, checkpoint or "
                 "`state_dict` file to load its weights from), `freeze` (no gradients, eval "
                 "mode) and `strict` (every key must match; default `true`); see "
                 "[Make a pretrained model equivariant](../tutorials/pretrained.md).",
}


def _first_paragraph(obj: object) -> str:
    text = inspect.getdoc(obj) or "(no docstring)"
    return " ".join(text.split("\n\n")[0].split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows, first: str = "option") -> list[str]:
    if not rows:
        return ["No options."]
    out = [f"| {first} | default | type | description |", "|---|---|---|---|"]
    for r in rows:
        default = f"`{r.default}`" if r.default and not r.default.startswith("(") else r.default
        out.append(f"| `{r.name}` | {_cell(default)} | {_cell(r.type)} | {_cell(r.doc)} |")
    return out


def reference_markdown() -> str:
    """The whole reference page: the run config's own sections, then one section per
    category with one entry per registered part; every option has a one-line description."""
    from symkit._config_docs import CONTEXT_DOCS, part_options, run_sections
    from symkit.plugins import ensure_loaded
    from symkit.registry import CATEGORIES, registry

    ensure_loaded()  # every core and plugin part, as the CLI sees them

    context = frozenset(CONTEXT_DOCS)
    lines = [INTRO, "## Run config", "",
             "A run config (`symkit train CONFIG`) has these top-level keys; `data`, `model` and "
             "`loss` are required. `symkit config show CONFIG --defaults` prints a config with "
             "every default written out.", ""]
    for section, rows in run_sections():
        lines += [f"### {section}", "", *_table(rows, "key"), ""]
    for category in CATEGORIES:
        entries = registry(category).entries()
        lines += [f"## {category}", "", f"{len(entries)} registered.", ""]
        if category in NOTES:
            lines += [NOTES[category], ""]
        for entry in entries:
            lines += [f"### `{entry.qualname}`", ""]
            try:
                factory = entry.load()
            except Exception as exc:  # noqa: BLE001 - a broken lazy target is shown, not fatal
                lines += [f"Cannot be loaded: {exc}", ""]
                continue
            lines += [_first_paragraph(factory), "", *_table(part_options(factory, context)),
                      "", f"Defined in `{entry.origin}`.", ""]
    return "\n".join(lines)


def include_files(markdown: str) -> str:
    """Replace ``<!-- include: PATH -->`` with the file's text (or a note that it is missing)."""

    def repl(match: re.Match) -> str:
        path = ROOT / match.group(1)
        if not path.is_file():
            return f"*`{match.group(1)}` has not been recorded yet.*"
        return path.read_text(encoding="utf-8")

    return _INCLUDE.sub(repl, markdown)


# -- mkdocs hooks -----------------------------------------------------------------------------
def on_files(files, config):
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=reference_markdown()))
    return files


def on_page_markdown(markdown, page, config, files):
    return include_files(markdown)


if __name__ == "__main__":
    print(reference_markdown())
