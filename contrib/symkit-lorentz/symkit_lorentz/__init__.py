"""symkit-lorentz: the Lorentz group for particle physics, as a third-party symkit plugin.

Registers (scope ``lorentz``): group ``lorentz`` (SO+(1,3), O+(1,3) or O(1,3) acting on
four-vectors through its 4 x 4 matrices, so the core ``vector`` rep is the four-vector rep),
canonicalizer ``rest_frame`` (boost to the rest frame of the total four-momentum, then a
principal-axes rotation) and data set ``jets`` (sets of particle four-momenta, target their
invariant mass).
"""

from __future__ import annotations

from symkit.hookspecs import hookimpl

__version__ = "0.1.0"
SYMKIT_API_VERSION = 1

__all__ = ["SYMKIT_API_VERSION", "__version__", "symkit_register"]


@hookimpl
def symkit_register(register) -> None:
    """Register lazily (``"module:attr"``), so ``import symkit_lorentz`` imports no torch."""
    register("groups", "lorentz", "symkit_lorentz._group:lorentz")
    register("canonicalizers", "rest_frame", "symkit_lorentz._rest_frame:rest_frame")
    register("datasets", "jets", "symkit_lorentz._jets:jets")
