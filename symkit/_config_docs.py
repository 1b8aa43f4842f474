"""One-line descriptions of every YAML option, read from the code (the YAML reference and
``symkit list CATEGORY NAME``).

A registered part's options are its factory's keywords (:func:`symkit._config_types.options_of`);
each is described by the ``Args:`` entry of the first docstring that has one: the factory's,
then its class's (and ``__init__``), then the class its factory returns and that class's bases,
or by a ``#:`` comment on a ``Params`` dataclass field. The run's own sections (``train:``,
``tracking:``) are dataclasses whose fields carry ``#:`` comments.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any

__all__ = ["OptionDoc", "part_options", "section_options", "run_sections", "CONTEXT_DOCS",
           "COMMON_DOCS", "MODEL_DOCS", "TOP_LEVEL_DOCS", "options_text"]

#: Options a builder injects; YAML may override them but rarely should.
CONTEXT_DOCS = {
    "group": "the model's group (filled in from model.group)",
    "in_spec": "the model's input spec (filled in from model.in_spec)",
    "out_spec": "the model's output spec (filled in from model.out_spec)",
    "backbone": "the wrapped backbone (filled in from model.backbone)",
    "split": "the data split being built: train, valid or test (filled in by the runner)",
    "params": "the parameters to optimize (filled in by the runner)",
    "optimizer": "the optimizer to schedule (filled in by the runner)",
    "epochs": "the run's train.epochs (filled in by the runner)",
}
#: Descriptions of option names that mean the same thing in every part that has them (used when
#: a part's docstrings say nothing about the option).
COMMON_DOCS = {
    "field": "the input field it reads",
    "hidden": "hidden width (features per layer)",
    "layers": "number of layers",
    "activation": "the nonlinearity between layers",
    "in_channels": "channels of the input image field",
    "kernel_size": "convolution kernel size",
    "train_samples": "group elements sampled per input while training",
    "eval_samples": "group elements sampled per input at evaluation (None: as many as training)",
    "chunk_size": "most copies per backbone call (auto: calls sized from the backbone's "
                  "measured activation bytes; None: all copies in one call)",
    "seed": "seed of its own random draws",
    "in_features": "features per node (None: inferred from the first batch)",
    "train_size": "samples in the train split",
    "valid_size": "samples in the valid split",
    "test_size": "samples in the test split",
}
#: The keys of ``model:`` (see :func:`symkit.model.build_model`).
MODEL_DOCS = {
    "group": "the symmetry group: a groups name or {type: NAME, ...options}",
    "in_spec": "input fields and how the group acts on each: {field: rep} or {field: {rep, nodes}}",
    "out_spec": "output fields and their reps; the model's outputs must have these fields",
    "backbone": "the network: a backbones name or {type: NAME, ...options}",
    "symmetrizer": "how the backbone is made equivariant (absent or null: the bare backbone)",
    "forces": "optional {energy, pos, output}: writes output = -d(energy)/d(pos) (conservative "
              "forces of an invariant energy)",
    "dtype": "float32 or float64: the precision the model computes in (its parameters); a data "
             "set with a dtype option reads its floating arrays at it unless data.dtype is set",
}
#: The top-level keys of a run config.
TOP_LEVEL_DOCS = {
    "experiment": "MLflow experiment name (default: symkit)",
    "data": "the data set: a datasets name or {type: NAME, ...options}, built once per split",
    "model": "the symmetrized model: group, in_spec, out_spec, backbone, symmetrizer",
    "loss": "the training loss: a losses name or {type: NAME, output, target, ...}",
    "metric": "the task metric (default: the loss); mode: min or max says which way is better",
    "optimizer": "the optimizer (default: adam)",
    "scheduler": "the learning-rate schedule, stepped once per epoch (default: constant)",
    "train": "the training loop: epochs, batch size, device, checkpoints, ...",
    "tracking": "MLflow tracking: store, experiment, run name, tags",
}
_ARGS = re.compile(r"^(\s*)(Args|Arguments|Parameters|Keyword Args|Keyword Arguments):\s*$")
_ENTRY = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(\([^)]*\))?\s*:\s*(.*)$")
_COMMENT = re.compile(r"^\s*(\w+)\s*:[^=]*(=.*?)?\s*#:\s*(.+)$")


@dataclass(frozen=True)
class OptionDoc:
    """One option: its name, default (``None`` when required), type and description."""

    name: str
    default: str
    type: str
    doc: str


def part_options(factory: Any, context: frozenset[str] = frozenset(CONTEXT_DOCS)
                 ) -> list[OptionDoc]:
    """The options of a registered part's factory, with defaults, types and descriptions."""
    from symkit._config_types import options_of, type_name

    docs = _factory_docs(factory)
    rows = []
    for option in options_of(factory).by_name.values():
        if option.name in context:
            default = "(context)"
        elif option.required:
            default = "(required)"
        else:
            default = repr(option.default)
        doc = (docs.get(option.name) or CONTEXT_DOCS.get(option.name)
               or COMMON_DOCS.get(option.name, ""))
        rows.append(OptionDoc(option.name, default, type_name(option.annotation), doc))
    return rows


def section_options(cls: type, prefix: str) -> list[OptionDoc]:
    """The fields of a config-section dataclass, nested ones flattened (``train.equivariance.
    split``), described by their ``#:`` comments."""
    from symkit._config_types import type_name

    docs = _comment_docs(cls)
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        factory = f.default_factory
        if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
            rows += section_options(factory, f"{prefix}.{f.name}")
            continue
        default = f.default if factory is dataclasses.MISSING else factory()
        rows.append(OptionDoc(f"{prefix}.{f.name}", repr(default), type_name(hints[f.name]),
                              docs.get(f.name, "")))
    return rows


def run_sections() -> list[tuple[str, list[OptionDoc]]]:
    """``(section, options)`` for the top level, ``model:``, ``train:`` and ``tracking:``."""
    from symkit.runner.schema import TrackingConfig, TrainConfig

    defaults = {"experiment": "'symkit'", "data": "(required)", "model": "(required)",
                "loss": "(required)", "metric": "(the loss)", "optimizer": "'adam'",
                "scheduler": "'constant'", "train": "", "tracking": ""}
    top = [OptionDoc(k, defaults[k], "", v) for k, v in TOP_LEVEL_DOCS.items()]
    optional = {"symmetrizer": "None", "forces": "None", "dtype": "'float32'"}
    model = [OptionDoc(f"model.{k}", optional.get(k, "(required)"), "", v)
             for k, v in MODEL_DOCS.items()]
    return [("top level", top), ("model", model), ("train", section_options(TrainConfig, "train")),
            ("tracking", section_options(TrackingConfig, "tracking"))]


def options_text(rows: list[OptionDoc]) -> list[str]:
    """Aligned plain-text lines ``name  default  description`` (for the terminal)."""
    if not rows:
        return ["  (no options)"]
    width = max(len(r.name) for r in rows)
    dwidth = min(max(len(r.default) for r in rows), 24)
    return [f"  {r.name:<{width}}  {r.default:<{dwidth}}  {r.doc}".rstrip() for r in rows]


# -- reading the code -------------------------------------------------------------------------
def _factory_docs(factory: Any) -> dict[str, str]:
    """Option descriptions from the docstrings of the factory and the classes behind it."""
    docs: dict[str, str] = {}
    params = getattr(factory, "Params", None)
    if dataclasses.is_dataclass(params) and isinstance(params, type):
        docs.update(_comment_docs(params))
        docs.update({k: v for k, v in _args_docs(inspect.getdoc(params)).items() if k not in docs})
    for source in _doc_sources(factory):
        for name, text in _args_docs(inspect.getdoc(source)).items():
            if not re.match(r"(?i)see\b", text):  # "see Symmetrizer": read the base class's
                docs.setdefault(name, text)
    return docs


def _doc_sources(factory: Any) -> list[Any]:
    sources = [factory]
    if inspect.isclass(factory):
        sources += [factory.__init__, *factory.__mro__[1:]]
    else:
        returned = typing.get_type_hints(factory).get("return") if _hints_ok(factory) else None
        if inspect.isclass(returned):
            sources += [returned, returned.__init__, *returned.__mro__[1:]]
    return [s for s in sources if s is not object]


def _hints_ok(obj: Any) -> bool:
    try:
        typing.get_type_hints(obj)
    except Exception:  # noqa: BLE001 - names imported only for type checking
        return False
    return True


def _args_docs(doc: str | None) -> dict[str, str]:
    """``{name: one-line description}`` from the ``Args:`` sections of a Google docstring."""
    out: dict[str, str] = {}
    lines = (doc or "").splitlines()
    i = 0
    while i < len(lines):
        head = _ARGS.match(lines[i])
        i += 1
        if head is None:
            continue
        base, name, entry_indent = len(head.group(1)), None, 0
        while i < len(lines):
            line = lines[i]
            indent = len(line) - len(line.lstrip())
            if line.strip() and indent <= base:
                break
            entry = _ENTRY.match(line.strip()) if line.strip() else None
            if entry is not None and (name is None or indent <= entry_indent):
                names = [n.strip().lstrip("*") for n in entry.group(1).split(",")]
                name, entry_indent = names, indent
                for n in names:
                    out.setdefault(n, entry.group(3).strip())
            elif name is not None and line.strip():
                for n in name:
                    out[n] = f"{out[n]} {line.strip()}".strip()
            i += 1
    return {k: _one_line(v) for k, v in out.items()}


def _comment_docs(cls: type) -> dict[str, str]:
    """``{field: text}`` from ``#:`` comments after a field or on the lines before it."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = _COMMENT.match(line)
        field_match = re.match(r"^\s*(\w+)\s*:", line)
        if match is not None:
            out[match.group(1)] = match.group(3).strip()
        elif field_match is not None and pending:
            out[field_match.group(1)] = " ".join(pending)
        pending = []
    return {k: _one_line(v) for k, v in out.items()}


def _one_line(text: str) -> str:
    """Whitespace folded, Sphinx roles (``:class:`~a.B```) shown as their name (`B`)."""
    text = re.sub(r":\w+:`~?([^`]*?)`", lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    return " ".join(text.replace("``", "`").split())
