"""Griffe extensions for symkit's API reference: grouped parameters, Sphinx roles, lazy exports.

Used from ``mkdocs.yml`` (``plugins: mkdocstrings: handlers: python: options: extensions``).
They change only what the rendered docs see, never the code.

**Grouped parameters** (:class:`GroupedParams`). symkit's docstrings document parameters that
share one meaning on one line (``in_spec, out_spec: representations of the input and output
fields.``), the NumPy-docstring convention. Griffe's Google parser reads such a line as one
parameter named ``"in_spec, out_spec"`` and warns that it is not in the signature, which fails
``mkdocs build --strict``. This extension rewrites the docstring text before it is parsed,
giving every name its own entry with the shared description, so real mismatches (a documented
parameter that does not exist) still fail the build.

**Sphinx roles** (:class:`SphinxRoles`). Docstrings name objects with Sphinx roles
(``:class:`Spec` ``) and end a paragraph with ``::`` before a code block; Markdown shows both
literally, so roles become inline code and ``::`` a colon.

**Lazy exports** (:class:`LazyExports`). Packages that keep ``import symkit`` fast export names
through a module ``__getattr__`` (PEP 562) and a ``_LAZY`` table, which static analysis cannot
follow. For every module that defines ``__getattr__``, this extension imports it, takes its
runtime ``__all__``, and adds an alias for each exported name to the object it resolves to, so
every name in ``__all__`` gets a rendered entry (checked by ``tests/docs/test_api.py``).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from typing import Any

import griffe

_SECTION = re.compile(
    r"^(\s*)(Args|Arguments|Parameters|Params|Keyword Args|Other Parameters):\s*$"
)
_GROUPED = re.compile(r"^(\s+)(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)+)(\s*(?:\([^)]*\))?\s*:.*)$")


def split_grouped_params(text: str) -> str:
    """``text`` with every grouped ``a, b: ...`` item of an argument section written once per name.

    An item's continuation lines (indented deeper than the item) are repeated with each name.
    """
    lines = text.split("\n")
    out: list[str] = []
    section_indent: int | None = None
    item_indent: int | None = None  # the indent of the section's items, set by its first one
    i = 0
    while i < len(lines):
        line = lines[i]
        header = _SECTION.match(line)
        if header:
            section_indent, item_indent = len(header.group(1)), None
            out.append(line)
            i += 1
            continue
        if section_indent is not None and line.strip() and \
                len(line) - len(line.lstrip()) <= section_indent:
            section_indent = None  # dedented: the section is over
        if section_indent is not None and line.strip() and item_indent is None:
            item_indent = len(line) - len(line.lstrip())
        grouped = None
        if section_indent is not None and len(line) - len(line.lstrip()) == item_indent:
            grouped = _GROUPED.match(line)
        if grouped is None:
            out.append(line)
            i += 1
            continue
        indent, names, rest = grouped.groups()
        block_end = i + 1
        while block_end < len(lines) and (
            not lines[block_end].strip()
            or len(lines[block_end]) - len(lines[block_end].lstrip()) > len(indent)
        ):
            block_end += 1
        while block_end > i + 1 and not lines[block_end - 1].strip():
            block_end -= 1  # trailing blank lines end the item, not the section
        continuation = lines[i + 1:block_end]
        for name in (n.strip() for n in names.split(",")):
            out += [f"{indent}{name}{rest}", *continuation]
        i = block_end
    return "\n".join(out)


_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|data|attr|exc|obj|const):`~?([^`]+)`")
_LITERAL = re.compile(r"(\S)::$", re.MULTILINE)


def markdown_roles(text: str) -> str:
    """``text`` with ``:class:`X` `` as inline code ``X`` and a trailing ``::`` as ``:``."""
    return _LITERAL.sub(r"\1:", _ROLE.sub(r"`\1`", text))


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles and ``::`` in the docstring of every loaded object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = markdown_roles(obj.docstring.value)


class GroupedParams(griffe.Extension):
    """Split grouped parameter names in the docstring of every loaded object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is not None and "," in obj.docstring.value:
            obj.docstring.value = split_grouped_params(obj.docstring.value)


def _modules(module: griffe.Module) -> Iterator[griffe.Module]:
    yield module
    for sub in module.modules.values():
        if not sub.is_alias:
            yield from _modules(sub)


def _target_path(value: object) -> str | None:
    """The import path of the object a lazy name resolves to (``None``: not an importable one)."""
    if inspect.ismodule(value):
        return value.__name__
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if module and qualname and "<" not in qualname:
        return f"{module}.{qualname}"
    return None


class LazyExports(griffe.Extension):
    """Add an alias for every lazily exported name of a module that defines ``__getattr__``."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:  # noqa: D102
        for module in _modules(pkg):
            if "__getattr__" not in module.members:
                continue
            runtime = importlib.import_module(module.path)
            exports = list(getattr(runtime, "__all__", ()))
            module.exports = exports
            for name in exports:
                if name in module.members:
                    continue
                target = _target_path(getattr(runtime, name))
                lazy = getattr(runtime, "_LAZY", {})
                if target is None and name in lazy:  # a constant: where the lazy table says
                    target = f"{lazy[name]}.{name}"
                if target is not None:
                    module.set_member(name, griffe.Alias(name, target, parent=module))
