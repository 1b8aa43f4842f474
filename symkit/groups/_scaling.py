"""The scaling group (R_{>0}, x) acting on R^d by ``x -> s x``."""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.groups._base import Group
from symkit.groups._sampling import finish, gaussian
from symkit.groups._validate import positive_float, positive_int
from symkit.registry import register

__all__ = ["Scaling", "scaling"]


class Scaling(Group):
    """Positive scalings ``x -> s x`` of R^d, ``s > 0``; :meth:`matrix` is ``s I_d``.

    :meth:`sample` is log-normal: ``log s ~ N(0, log_std^2)``.

    Args:
        d: dimension of the space (``d >= 1``).
        log_std: standard deviation of ``log s`` when sampling (``> 0``).

    Shapes:
        element batch: ``(B,)`` float ``s``; ``matrix``: ``(B, d, d)``.
    """

    kinds = ("scaling",)

    def __init__(self, d: int = 3, log_std: float = 0.5):
        self.dim = positive_int("scaling", "d", d)
        self.log_std = positive_float("scaling", "log_std", log_std)

    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.ones(n, dtype=dtype, device=device)

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return a * b

    def inverse(self, a: Tensor) -> Tensor:
        return 1.0 / a

    def sample(
        self, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        return finish(torch.exp(gaussian((n,), generator) * self.log_std), dtype, device)

    def sample_kind(
        self, kind: str, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Tensor:
        if kind != "scaling":
            return super().sample_kind(kind, n)
        return self.sample(n, generator=generator, dtype=dtype, device=device)

    def matrix(self, g: Tensor) -> Tensor:
        eye = torch.eye(self.dim, dtype=g.dtype, device=g.device)
        return g[:, None, None] * eye

    def __repr__(self) -> str:
        return f"Scaling({self.dim})"


@register("groups", "scaling")
def scaling(d: int = 3, log_std: float = 0.5) -> Scaling:
    """Positive scalings x -> s x of R^d, log-normally sampled."""
    return Scaling(d, log_std)
