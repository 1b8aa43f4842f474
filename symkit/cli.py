"""The ``symkit`` command line: ``plugins``, ``list``, ``config show`` and commands from
:data:`COMMAND_MODULES`.

A command module provides ``add_commands(subparsers)``; each command it adds sets
``func(args) -> int | None`` with ``set_defaults``. Command modules should import heavy
libraries (torch, mlflow) inside their handlers so ``symkit --help`` stays fast. Any
:class:`~symkit.errors.SymkitError` is printed as ``symkit: error: ...`` with exit code 2
(the traceback only with ``--debug``); any other exception is one line too, with exit code 1
(a bug: ``--debug`` shows where), and Ctrl-C exits with 130. A wrong option value (an unknown
``--split``, a ``--seed`` that is not a seed, a ``--resume`` that is neither a path nor a run
id) is one line naming the option and what it expects, ``symkit: error: --split: invalid
choice: 'tset' (choose from 'train', 'valid', 'test')``, exit code 2: every parser, command
modules' included, is a :class:`CommandParser`, and option values are checked by their
argparse ``type`` or ``choices``, raising :class:`argparse.ArgumentTypeError`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from symkit import __version__
from symkit.errors import SymkitError

__all__ = ["COMMAND_MODULES", "CommandParser", "build_parser", "main"]

#: Modules that may add subcommands; a missing one is skipped silently.
COMMAND_MODULES: tuple[str, ...] = ("symkit.runner.commands", "symkit.scaffold")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 for a symkit error or a usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not hasattr(args, "func"):
            parser.print_help()
            return 0
        from symkit.plugins import ensure_loaded, load_local_plugins

        ensure_loaded()  # symkit's one discovery step: core parts and entry-point plugins
        if args.plugin:
            from symkit.errors import PluginError

            try:
                load_local_plugins(args.plugin)
            except PluginError as exc:  # the user named it on the command line: say where
                raise PluginError(f"--plugin: {exc} (a module in the working directory "
                                  f"{os.getcwd()}, or importable)") from exc
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except argparse.ArgumentError as exc:  # a wrong option value: named by the option
        if debug:
            raise
        print(f"symkit: error: {exc.argument_name}: {_one_line(exc.message)}"
              if exc.argument_name else f"symkit: error: {_one_line(exc.message)}",
              file=sys.stderr)
        return 2
    except SymkitError as exc:
        if debug:
            raise
        print(f"symkit: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print("symkit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - never a raw traceback; --debug shows it
        if debug:
            raise
        print(f"symkit: error: unexpected {type(exc).__name__}: {_one_line(exc)} (run again "
              "with --debug for the traceback, and please report it)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException | str) -> str:
    """The message on one line (a multi-line message keeps its lines, joined by ' | ')."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return " | ".join(lines) or type(exc).__name__


class CommandParser(argparse.ArgumentParser):
    """The parser of ``symkit`` and of each of its (sub)commands: a wrong option value raises
    :class:`argparse.ArgumentError` (``argument_name``: the option) for :func:`main` to report
    as one line, instead of argparse's usage text; subparsers are ``CommandParser`` too."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with core commands and those of :data:`COMMAND_MODULES`."""
    parser = CommandParser(
        prog="symkit", description="Make any PyTorch network respect a symmetry, from YAML."
    )
    parser.add_argument("--version", action="version", version=f"symkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("-p", "--plugin", action="append", default=[], metavar="MODULE",
                        help="load MODULE from the working directory as a plugin (repeatable; "
                             "env SYMKIT_PLUGINS=a,b does the same)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("plugins", help="list installed plugins and what they registered")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_plugins)

    p = sub.add_parser("list", help="list registered parts of a category, or one part's options")
    p.add_argument("category", nargs="?", help="groups, reps, backbones, ... (default: all)")
    p.add_argument("pattern", nargs="?", default="*",
                   help="wildcard, e.g. '*gnn*'; a part's name shows its options and defaults")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("config", help="inspect configs")
    config_sub = p.add_subparsers(title="config commands", metavar="ACTION", required=True)
    show = config_sub.add_parser(
        "show", help="print the resolved, validated config (the model is built to check it)",
        description="Overrides: key=value sets a value; key={...} replaces a whole node "
        "(\"model.symmetrizer={type: canonicalization}\"); ~key deletes a key.")
    show.add_argument("config", help="YAML file")
    show.add_argument("overrides", nargs="*", metavar="key=value | key={...} | ~key")
    show.add_argument("--defaults", action="store_true",
                      help="write out every default (what MLflow records for a run)")
    show.set_defaults(func=_cmd_config_show)

    for module in COMMAND_MODULES:
        _add_module_commands(sub, module)
    return parser


def _add_module_commands(sub: Any, module: str) -> None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module + ".").startswith(exc.name + "."):
            return  # the module (or its package) is not there: nothing to add
        raise SymkitError(f"cannot load commands from {module}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a broken command module is reported, not hidden
        raise SymkitError(f"cannot load commands from {module}: {exc!r}") from exc
    mod.add_commands(sub)


def _cmd_plugins(args: argparse.Namespace) -> int:
    from symkit.plugins import plugin_report
    from symkit.registry import CATEGORIES, CORE_SCOPE, registry

    infos = plugin_report()
    core = sum(1 for c in CATEGORIES for e in registry(c).entries() if e.scope == CORE_SCOPE)
    if args.json:
        data = {"core_parts": core, "plugins": [i.to_dict() for i in infos]}
        print(json.dumps(data, indent=2))
        return 0
    print(f"core: {core} parts (symkit {__version__})")
    if not infos:
        print("no plugins installed")
    for info in infos:
        head = f"{info.name} {info.version}".strip()
        print(f"{head}  [{info.status}]  {info.source}")
        if info.error:
            print(f"    error: {info.error}")
        for category, qualname in info.registered:
            print(f"    {category}: {qualname}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from symkit.registry import CATEGORIES, registry

    if args.category and not any(c in args.pattern for c in "*?["):
        return _show_part(args)
    categories = [args.category] if args.category else list(CATEGORIES)
    rows = [
        {"category": c, "name": e.qualname, "origin": e.origin, "doc": e.doc}
        for c in categories
        for e in registry(c).entries(args.pattern)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no {args.category or 'parts'} match '{args.pattern}'")
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        prefix = "" if args.category else f"{r['category']}: "
        print(f"{prefix}{r['name']:<{width}}  {r['doc']}  [{r['origin']}]")
    return 0


def _show_part(args: argparse.Namespace) -> int:
    """``symkit list CATEGORY NAME``: one part's options, defaults and descriptions."""
    from symkit._config_docs import part_options
    from symkit.registry import registry

    entry = registry(args.category).get(args.pattern, key=f"{args.category} {args.pattern}")
    factory = entry.load()
    rows = part_options(factory)
    if args.json:
        print(json.dumps({"category": args.category, "name": entry.qualname,
                          "origin": entry.origin, "doc": entry.doc,
                          "options": [dataclasses.asdict(r) for r in rows]}, indent=2))
        return 0
    from symkit._config_docs import options_text

    print(f"{args.category}: {entry.qualname}  [{entry.origin}]")
    if entry.doc:
        print(f"  {entry.doc}")
    print("options (name, default, description):")
    print("\n".join(options_text(rows)))
    return 0


def _cmd_config_show(args: argparse.Namespace) -> int:
    from symkit.config import load_config, to_yaml, validate

    cfg = load_config(args.config, args.overrides)
    if _is_run_config(cfg):  # validated as `symkit train` would, with the run's own sections
        from symkit.runner.parts import build_model, full_config, read_config

        run = read_config(cfg, require=())
        if _is_whole_model(run.cfg.get("model")):
            build_model(run)  # parts that reject each other (frame averaging on C4) fail here
        if args.defaults:
            cfg = full_config(run)
    else:
        validate(cfg)
        if _is_whole_model(cfg.get("model")):
            from symkit.model import build_model

            build_model(cfg.model)
    print(to_yaml(cfg), end="")
    return 0


def _is_whole_model(node: Any) -> bool:
    """Whether ``model:`` has every key a model needs (a fragment is only validated)."""
    return hasattr(node, "get") and all(
        node.get(k) is not None for k in ("group", "in_spec", "out_spec", "backbone"))


def _is_run_config(cfg: Any) -> bool:
    """Whether a config has the top-level sections of a training run."""
    return any(key in cfg for key in ("data", "loss", "train", "tracking"))


if __name__ == "__main__":
    sys.exit(main())
