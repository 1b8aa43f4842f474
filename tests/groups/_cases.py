"""Groups under test: every registered group, built with its defaults (or an example)."""

from __future__ import annotations

import inspect

import pytest

from symkit.registry import registry

#: arguments for registered factories that have required parameters
EXAMPLE_ARGS = {"product": (["symmetric", "e3"],)}


def registered_group_cases() -> list:
    cases = []
    for entry in registry("groups").entries():
        factory = entry.load()
        params = inspect.signature(factory).parameters.values()
        required = [p for p in params if p.default is inspect.Parameter.empty]
        args = EXAMPLE_ARGS.get(entry.name, ()) if required else ()
        marks = [] if (not required or entry.name in EXAMPLE_ARGS) else [
            pytest.mark.skip(reason=f"{entry.qualname} has required parameters and no example")
        ]
        cases.append(pytest.param(entry.qualname, args, id=entry.qualname, marks=marks))
    return cases


def build(qualname: str, args: tuple):
    return registry("groups").build(qualname, *args)
