"""The canonicalizer interface: one equivariant element per input.

A canonicalizer is a map ``h`` from samples to group elements with ``h(g x) = g h(x)`` (exactly,
or in distribution when the input has a non-trivial stabilizer), so that ``h(x)^-1 x`` is a
canonical, invariant form of ``x``. Deterministic canonicalizers live here; learned ones (an
equivariant network predicting ``h``) implement the same interface and may add
:meth:`Canonicalizer.extra_losses` (e.g. a prior pulling ``h`` toward the identity).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from symkit.groups import Element, Group
from symkit.groups._base import element_size
from symkit.spec import Spec

__all__ = ["Canonicalizer"]


class Canonicalizer(nn.Module):
    """``h(x)``: one element per sample, equivariant: ``h(g x) = g h(x)``.

    Args:
        group: the group the elements belong to.
        in_spec: the input spec (to find the fields ``h`` reads).

    Shapes:
        forward: sample with batch ``B`` -> element batch of size ``B``.
    """

    def __init__(self, group: Group, in_spec: Spec):
        super().__init__()
        if not self.supports(group):
            raise ValueError(f"{type(self).__name__} does not support the group {group!r}")
        self.group, self.in_spec = group, in_spec
        self._metrics: dict[str, float | Callable[[], float]] = {}
        #: per-sample flags of the last call, ``(B,)`` bool or ``None``: ``True`` where ``h`` is
        #: equivariant in distribution only (degenerate input); see ``Symmetrizer.flagged``.
        self.flagged: Tensor | None = None

    @classmethod
    def supports(cls, group: Group) -> bool:
        """Whether ``h`` is equivariant for ``group``."""
        raise NotImplementedError

    def forward(self, sample: Mapping[str, Tensor]) -> Element:
        raise NotImplementedError

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Element, Tensor]:
        """The elements the ``canonicalization`` symmetrizer averages over, with weights.

        By default the one canonical element per sample (``K = 1``, weight 1). A canonicalizer
        that cannot decide between a few elements at some inputs (e.g. the sign of an axis
        across a mirror plane) may return all of them: an equivariant *set*, averaged exactly
        like a frame, instead of one drawn at random.

        Shapes:
            returns ``B * K`` elements (sample-major) and weights ``(B, K)`` summing to 1.
        """
        g = self(sample)
        return g, torch.ones((element_size(g), 1), dtype=torch.float64)

    def extra_losses(self) -> dict[str, Tensor]:
        """Losses to add to the task loss (learned canonicalizers); none by default."""
        return {}

    def metrics(self) -> dict[str, float]:
        """Diagnostics of the last batch (e.g. ``degenerate_fraction``).

        Values may be stored as zero-argument callables, evaluated here: the forward pass then
        never waits on a reduction that nobody reads.
        """
        return {k: float(v() if callable(v) else v) for k, v in self._metrics.items()}
