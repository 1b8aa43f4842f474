"""Reproducible random draws shared by the built-in groups.

Every draw happens in float64 on the generator's device (CPU when there is no generator), so a
seeded :class:`torch.Generator` gives the same elements whatever ``dtype``/``device`` the caller
asks for; the result is cast and moved afterwards.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gaussian", "uniform_int", "haar_orthogonal", "reflection_matrix", "finish"]


def _device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def gaussian(shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    """Standard normal draws, float64."""
    return torch.randn(shape, generator=generator, dtype=torch.float64, device=_device(generator))


def uniform_int(high: int, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    """Uniform integers in ``[0, high)``, long."""
    return torch.randint(0, high, shape, generator=generator, device=_device(generator))


def finish(x: Tensor, dtype: torch.dtype | None, device) -> Tensor:
    """Cast a float64 draw to ``dtype`` (kept for integer tensors) and move it to ``device``."""
    if x.is_floating_point() and dtype is not None:
        x = x.to(dtype)
    return x.to(device) if device is not None else x


def reflection_matrix(d: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """``diag(-1, 1, ..., 1)``: the reflection that flips the first axis. Shape ``(d, d)``."""
    f = torch.eye(d, dtype=dtype, device=device)
    f[0, 0] = -1.0
    return f


def haar_orthogonal(
    n: int, d: int, generator: torch.Generator | None, *, det: int | None = None
) -> Tensor:
    """Haar-distributed orthogonal matrices, float64, via QR of a Gaussian matrix.

    ``Q R = Z`` with ``Z`` i.i.d. normal; multiplying the columns of ``Q`` by ``sign(diag R)``
    makes the factorization unique and ``Q`` Haar on O(d) (Mezzadri, 2007). With ``det=+1``
    (``-1``) the first column of the matrices on the other coset is negated: right
    multiplication by a fixed reflection maps Haar measure on one coset to Haar on the other.

    Shapes:
        returns ``(n, d, d)``.
    """
    z = gaussian((n, d, d), generator)
    q, r = torch.linalg.qr(z)
    sign = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    q = q * sign.unsqueeze(-2)
    if det is not None:
        wrong = torch.linalg.det(q) * det < 0
        q[wrong, :, 0] = -q[wrong, :, 0]
    return q
