"""symkit-lie: non-compact matrix groups through their polar decomposition, as a symkit plugin.

Registers (scope ``lie``): groups ``glp`` (GL+(n), invertible matrices with ``det > 0``), ``sl``
(SL(n), ``det = 1``) and ``affine`` (Aff+(n), ``x -> A x + t`` with ``det A > 0``), sampled as
``A = R exp(S)``: ``R`` Haar on SO(n) and ``exp(S)`` a random positive-definite factor (the
global decomposition ``GL+(n) = SO(n) x PD(n)`` of Mironenco and Forré 2024, "Lie Group
Decompositions for Equivariant Neural Networks", ICLR 2024); canonicalizer ``whitening``
(centre, whiten by the inverse square root of the covariance, fix the remaining rotation by
fourth-moment axes and third-moment signs); data set ``affine_shapes`` (point sets that are
random affine images of a few templates, labelled by template). The core ``point`` and
``vector`` reps act through :meth:`matrix` and :meth:`translation` (``A x + t``, ``A v``).
"""

from __future__ import annotations

from symkit.hookspecs import hookimpl

__version__ = "0.1.0"
SYMKIT_API_VERSION = 1

__all__ = ["SYMKIT_API_VERSION", "__version__", "symkit_register"]


@hookimpl
def symkit_register(register) -> None:
    """Register lazily (``"module:attr"``), so ``import symkit_lie`` imports no torch."""
    register("groups", "glp", "symkit_lie._groups:glp")
    register("groups", "sl", "symkit_lie._groups:sl")
    register("groups", "affine", "symkit_lie._groups:affine")
    register("canonicalizers", "whitening", "symkit_lie._whitening:whitening")
    register("datasets", "affine_shapes", "symkit_lie._shapes:affine_shapes")
