"""The representation interface: how a group element acts on one field of a sample."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor

from symkit.groups._base import Element, Group

__all__ = ["Rep", "space_dim"]


def space_dim(group: Group) -> int | None:
    """The dimension ``d`` that ``group`` (or the first factor with a matrix) acts on, else None."""
    for factor in group.factors():
        if factor.dim is not None:
            return factor.dim
    return None


class Rep(ABC):
    """A representation ``rho``: ``act(G, g, x) = rho(g) x`` for a batch of elements.

    ``x`` has the batch dimension first (one element per row, ``x.shape[0] == len(g)``); the rep
    acts on the trailing feature dimensions (``feature_ndim`` of them) and broadcasts over any
    dimensions in between (nodes, channels). Node permutations are applied by
    :class:`symkit.spec.Field`, not by the rep.

    For a direct product the factors act one after the other; reps implement only
    :meth:`act_factor` for a single (non-product) group.
    """

    #: number of trailing dimensions the rep acts on (vector: 1, rank-2 tensor: 2, image: 3)
    feature_ndim: int = 0

    def act(self, group: Group, g: Element, x: Tensor) -> Tensor:
        """``rho(g) x`` for every row; ``x: (n, ..., *feature_shape)``."""
        for factor, sub in zip(group.factors(), group.split(g)):
            x = self.act_factor(factor, sub, x)
        return x

    @abstractmethod
    def act_factor(self, group: Group, g: Element, x: Tensor) -> Tensor:
        """Action of a single (non-product) group."""

    def feature_shape(self, group: Group) -> tuple[int | None, ...]:
        """Expected trailing shape (``None`` = any size), used to check samples."""
        return (None,) * self.feature_ndim

    def is_invariant(self, group: Group) -> bool:
        """Whether every element acts as the identity (e.g. a scalar)."""
        return False

    def supports(self, group: Group) -> bool:
        """Whether this rep is defined for ``group`` (e.g. an image needs a planar group)."""
        return True

    def is_exact(self, group: Group) -> bool:
        """Whether :meth:`act` is an exact homomorphism on ``group`` (False when it resamples)."""
        return True

    def __repr__(self) -> str:
        return type(self).__name__
