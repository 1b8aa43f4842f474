"""symkit: make any PyTorch network respect a symmetry, configured from YAML.

Heavy parts (tracking, plotting, optional extensions) are imported only where used, so
``import symkit`` stays fast. The registries live in :mod:`symkit.registry`
(``from symkit.registry import registry``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "register", "Spec", "Field", "load", "symmetrize", "build_model",
           "register_sample_adapter"]

_LAZY = {
    "register": "symkit.registry:register",
    "Spec": "symkit.spec:Spec",
    "Field": "symkit.spec:Field",
    "load": "symkit.runner.load:load",
    "symmetrize": "symkit._symmetrize:symmetrize",
    "build_model": "symkit.model:build_model",
    "register_sample_adapter": "symkit._sample_check:register_sample_adapter",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'symkit' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
