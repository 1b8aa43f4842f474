"""The hooks a symkit plugin may implement (pluggy project name ``symkit``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["hookspec", "hookimpl", "SymkitHookSpecs", "Register"]

hookspec = pluggy.HookspecMarker("symkit")
hookimpl = pluggy.HookimplMarker("symkit")

#: ``register(category, name, target)``: target is a factory or a lazy ``"module:attr"`` string.
Register = Callable[[str, str, Any], None]


class SymkitHookSpecs:
    @hookspec
    def symkit_register(self, register: Register) -> None:
        """Register this plugin's parts: ``register("groups", "lorentz", factory)``."""
