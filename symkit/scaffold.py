"""``symkit new-plugin NAME``: render the plugin template into a new, installable package.

The template (``symkit/templates/plugin``, package data shipped in the wheel, or
``--template DIR``) is a folder of files whose names end in ``.tmpl``; ``{{name}}``,
``{{dist}}`` and ``{{package}}`` are replaced in file contents and in paths, and the ``.tmpl``
suffix is dropped. No template engine needed.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from symkit.errors import SymkitError

__all__ = ["add_commands", "render_plugin", "plugin_names", "default_template"]

_NAME = re.compile(r"[a-z][a-z0-9_]*")
SUFFIX = ".tmpl"


def default_template() -> Path:
    """``templates/plugin`` inside the installed ``symkit`` package (package data)."""
    return Path(__file__).resolve().parent / "templates" / "plugin"


def plugin_names(name: str) -> dict[str, str]:
    """The substitutions for a plugin ``name``: scope, distribution and package names.

    ``plugin_names("lorentz_extra")`` gives ``name`` ``lorentz_extra`` (entry point and
    registry scope), ``dist`` ``symkit-lorentz-extra``, ``package`` ``symkit_lorentz_extra``.
    """
    if not _NAME.fullmatch(name):
        raise SymkitError(
            f"invalid plugin name {name!r}: use lower-case letters, digits and '_', "
            "starting with a letter (it becomes the entry-point name and the registry scope)"
        )
    return {"name": name, "dist": "symkit-" + name.replace("_", "-"), "package": "symkit_" + name}


def render_plugin(name: str, dest: str | Path | None = None, *,
                  template: str | Path | None = None) -> Path:
    """Render the template for plugin ``name`` into ``dest`` (default ``./symkit-NAME``).

    Returns the new plugin's folder.

    Raises:
        SymkitError: an invalid name, no template, or a ``dest`` that is a file, a non-empty
            folder or cannot be created (naming ``--dir``).
    """
    values = plugin_names(name)
    template = Path(template) if template is not None else default_template()
    if not template.is_dir():
        raise SymkitError(f"plugin template not found at {template}; pass --template DIR "
                          "(symkit/templates/plugin of a symkit checkout)")
    dest = Path(dest) if dest is not None else Path.cwd() / values["dist"]
    if dest.exists() and not dest.is_dir():
        raise SymkitError(f"{dest} exists and is not a folder; choose another --dir")
    if dest.exists() and any(dest.iterdir()):
        raise SymkitError(f"{dest} exists and is not empty; choose another --dir")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file on the way, no permission, a read-only file system
        raise SymkitError(f"cannot create {dest} ({exc.strerror or exc}); choose another "
                          "--dir") from exc

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        return text

    for source in sorted(template.rglob("*" + SUFFIX)):
        rel = fill(source.relative_to(template).as_posix())[: -len(SUFFIX)]
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fill(source.read_text(encoding="utf-8")), encoding="utf-8")
    return dest


def add_commands(sub: Any) -> None:
    """Add ``new-plugin`` to the ``symkit`` subparsers."""
    p = sub.add_parser("new-plugin", help="create a new plugin package from the template")
    p.add_argument("name", help="plugin name: entry point and registry scope, e.g. 'lorentz'")
    p.add_argument("--dir", help="where to create it (default: ./symkit-NAME)")
    p.add_argument("--template", help="template folder (default: the one installed with symkit)")
    p.set_defaults(func=_cmd_new_plugin)


def _cmd_new_plugin(args: argparse.Namespace) -> int:
    dest = render_plugin(args.name, args.dir, template=args.template)
    names = plugin_names(args.name)
    print(f"created {names['dist']} in {dest}")
    print(f"  pip install -e {dest} --no-deps --no-build-isolation")
    print(f"  pytest {dest / 'tests'}")
    print(f"  symkit plugins      # lists '{names['name']}'")
    return 0
