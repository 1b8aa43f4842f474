"""The group interface: batched elements, composition, inverse, sampling, representations.

An *element batch* is a tensor whose first dimension indexes elements (for a direct product,
a tuple of such tensors, one per factor). Composition follows function composition:
``compose(a, b)`` acts by ``b`` first, then ``a``, so ``matrix(compose(a, b)) = matrix(a) @
matrix(b)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Union

import torch
from torch import Tensor

__all__ = ["Element", "Group", "map_element", "element_size", "KINDS"]

Element = Union[Tensor, tuple["Element", ...]]  # noqa: UP007 - recursive alias

#: Kinds of element that the equivariance report separates (``boost``: Lorentz boosts).
KINDS = ("rotation", "reflection", "translation", "permutation", "scaling", "boost")


def map_element(fn: Callable[[Tensor], Tensor], g: Element) -> Element:
    """Apply ``fn`` to every tensor of an element batch (recursing into product tuples)."""
    if isinstance(g, tuple):
        return tuple(map_element(fn, x) for x in g)
    return fn(g)


def element_size(g: Element) -> int:
    """Number of elements in a batch."""
    return element_size(g[0]) if isinstance(g, tuple) else g.shape[0]


class Group(ABC):
    """A group acting on data through :meth:`matrix`, :meth:`translation` and :meth:`permutation`.

    Attributes:
        dim: dimension ``d`` of the space it acts on linearly (``None`` if it has no matrix).
        is_finite: whether :meth:`elements` enumerates the group.
        kinds: the element kinds it contains (subset of :data:`KINDS`), used to sample
            rotations, reflections, translations and permutations separately.
        orthogonal: whether every :meth:`matrix` is orthogonal (``R^T R = I``); then elements
            of kind ``rotation`` have ``det R = +1`` and those of kind ``reflection`` ``-1``.
    """

    dim: int | None = None
    is_finite: bool = False
    kinds: tuple[str, ...] = ()
    orthogonal: bool = False

    # -- structure ----------------------------------------------------------------------------
    @abstractmethod
    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Element:
        """``n`` copies of the identity."""

    @abstractmethod
    def compose(self, a: Element, b: Element) -> Element:
        """Elementwise product ``a b`` (act by ``b``, then ``a``)."""

    @abstractmethod
    def inverse(self, a: Element) -> Element:
        """Elementwise inverse."""

    @abstractmethod
    def sample(
        self, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Element:
        """``n`` independent samples (Haar measure for compact groups)."""

    def sample_kind(
        self, kind: str, n: int, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device=None,
    ) -> Element:
        """``n`` random elements of one kind (e.g. only reflections); see :data:`KINDS`."""
        raise ValueError(f"{self!r} has no elements of kind '{kind}' (it has {self.kinds})")

    def elements(self, *, dtype: torch.dtype = torch.float64, device=None) -> Element:
        """All elements, for finite groups: a batch of size :attr:`order`."""
        raise TypeError(f"{self!r} is not finite; use sample()")

    @property
    def order(self) -> int | None:
        """Number of elements of a finite group, else ``None``."""
        return None

    def element_index(self, g: Element) -> Tensor:
        """Position of each element within :meth:`elements` (finite groups): ``(n,)`` long."""
        raise TypeError(f"{self!r} is not finite")

    def allclose(self, a: Element, b: Element, atol: float = 1e-12) -> bool:
        """Whether two element batches are equal (to ``atol`` for continuous groups)."""
        if isinstance(a, tuple):
            return all(self._leaf_close(x, y, atol) for x, y in zip(a, b))
        return self._leaf_close(a, b, atol)

    @staticmethod
    def _leaf_close(a: Tensor, b: Tensor, atol: float) -> bool:
        if a.shape != b.shape:
            return False
        if a.is_floating_point():
            return bool(torch.allclose(a, b, atol=atol, rtol=0))
        return bool(torch.equal(a, b))

    # -- how it acts --------------------------------------------------------------------------
    def matrix(self, g: Element) -> Tensor | None:
        """Defining linear representation ``(n, d, d)``; ``None`` if the group acts trivially."""
        return None

    def translation(self, g: Element) -> Tensor | None:
        """Translation part ``(n, d)`` of an affine element; ``None`` if it has none."""
        return None

    def permutation(self, g: Element) -> Tensor | None:
        """Node permutation ``(n, N)`` long, ``p[i]`` = where node ``i`` goes; else ``None``."""
        return None

    def factors(self) -> tuple[Group, ...]:
        """The factors of a direct product (a plain group is its own single factor)."""
        return (self,)

    def split(self, g: Element) -> tuple[Element, ...]:
        """An element split into its factors' elements (see :meth:`factors`)."""
        return (g,)

    # -- batching helpers ---------------------------------------------------------------------
    def index(self, g: Element, idx: Tensor | slice) -> Element:
        """Select or gather elements along the batch dimension."""
        return map_element(lambda t: t[idx], g)

    def repeat_interleave(self, g: Element, k: int) -> Element:
        """Repeat each element ``k`` times consecutively: size ``n`` -> ``n * k``."""
        return map_element(lambda t: t.repeat_interleave(k, dim=0), g)

    def cat(self, gs: list[Element]) -> Element:
        """Concatenate element batches."""
        if isinstance(gs[0], tuple):
            return tuple(self.cat_leaves([g[i] for g in gs]) for i in range(len(gs[0])))
        return torch.cat(gs, dim=0)

    @staticmethod
    def cat_leaves(parts: list[Element]) -> Element:
        if isinstance(parts[0], tuple):
            return tuple(Group.cat_leaves([p[i] for p in parts]) for i in range(len(parts[0])))
        return torch.cat(parts, dim=0)

    def __repr__(self) -> str:
        return type(self).__name__
