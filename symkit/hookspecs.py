"""The hooks a symkit plugin may implement (pluggy project name ``symkit``).

A plugin module declares ``SYMKIT_API_VERSION = 1`` and implements hooks either decorated with
:data:`hookimpl` or as plain functions of the same name. A ``symkit_*`` function that matches no
hook here makes the plugin fail to load (it is most likely a typo or written for another
version).
"""

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
