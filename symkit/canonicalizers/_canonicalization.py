"""Canonicalization: ``f(x) = h(x) . backbone(h(x)^-1 x)`` with one element ``h(x)`` per input.

With an equivariant canonicalizer (``h(g x) = g h(x)``), ``h(x)^-1 x`` is invariant and ``f``
is exactly equivariant; it is the ``K = 1`` case of the shared symmetrizer forward. A
canonicalizer may instead return a small equivariant set for inputs where it cannot decide
(:meth:`~symkit.canonicalizers.Canonicalizer.elements`; ``pca``'s undecided signs), averaged
uniformly like a frame.

**Outcomes per sample.** :attr:`Canonicalization.flagged` is the canonicalizer's: samples where
``h`` made a random choice (a degenerate eigenspace, an undecidable sign, a tie, no points) are
equivariant in distribution only; the others are exact. NaN/Inf inputs raise
:class:`~symkit.errors.SampleError` naming the sample.

**Gradient.** ``h(x)`` carries the gradient of the inputs where the canonicalizer is
differentiable (``pca``: centroid and eigenbasis at distinct eigenvalues; ``centroid``,
``scale``: always; ``sort``: piecewise constant), so the gradient of an invariant output is
that of ``backbone(h(x)^-1 x)`` including ``dh/dx``: exact forces away from sign or order
switches, finite everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from symkit.canonicalizers._base import Canonicalizer
from symkit.groups import Group
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import batch_layout, data_dtype

__all__ = ["Canonicalization", "canonicalization", "default_canonicalizer"]

#: canonicalizer used for a group when none is named
_DEFAULTS = ("pca", "centroid", "scale", "sort", "pca_sort")


def default_canonicalizer(group: Group) -> str:
    """The first built-in canonicalizer that supports ``group``."""
    from symkit.registry import registry

    for name in _DEFAULTS:
        if registry("canonicalizers").get(name).supports(group):
            return name
    able = []
    for entry in registry("canonicalizers").entries():
        try:
            if entry.supports(group):
                able.append(entry.qualname)
        except Exception:  # noqa: BLE001 - a part that cannot tell is not listed
            continue
    which = (f"canonicalizers that do: {', '.join(able)}; set canonicalizer: {{type: NAME}}"
             if able else "no registered canonicalizer does either; pick another symmetrizer")
    raise ValueError(f"no built-in canonicalizer ({', '.join(_DEFAULTS)}) supports {group!r}; "
                     f"{which}")


class Canonicalization(Symmetrizer):
    """``h(x) . backbone(h(x)^-1 x)`` for a canonicalizer ``h``.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer` (default
            ``"auto"``: calls sized from the backbone's activations; ``None``: one call).
        canonicalizer: a :class:`~symkit.canonicalizers.Canonicalizer` module, or a registered
            canonicalizer name / ``{type: name, ...}`` node (built with ``group``, ``in_spec``).
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        canonicalizer: Canonicalizer | str | Mapping[str, Any] | None = None,
        chunk_size: int | str | None = "auto",
    ):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if canonicalizer is None:
            canonicalizer = default_canonicalizer(group)
        if not isinstance(canonicalizer, nn.Module):
            from symkit.config import build

            canonicalizer = build(
                canonicalizer, "canonicalizers", key="canonicalizer",
                context={"group": group, "in_spec": in_spec},
            )
        self.canonicalizer = canonicalizer

    @classmethod
    def supports(cls, group: Group) -> bool:
        """Whether a built-in canonicalizer supports ``group`` (learned ones may add more)."""
        try:
            default_canonicalizer(group)
        except ValueError:
            return False
        return True

    def num_elements(self) -> int | None:
        """1, or ``None`` when the canonicalizer may return a set (pca's undecided signs)."""
        return None if getattr(self.canonicalizer, "ambiguous", None) == "average" else 1

    @property
    def is_exact(self) -> bool:
        """Exact unless the canonicalizer says otherwise (``is_exact = False``, e.g. an STN)."""
        return bool(getattr(self.canonicalizer, "is_exact", True))

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[object, Tensor]:
        b = batch_layout(sample, self.in_spec).size
        dtype = data_dtype(sample, self.in_spec)
        device = next(v.device for v in sample.values() if isinstance(v, Tensor))
        many = getattr(self.canonicalizer, "elements", None)
        if many is not None:
            g, weights = many(sample)
        else:  # a plain module mapping samples to one element each
            g, weights = self.canonicalizer(sample), torch.ones((b, 1))
        self.flagged = getattr(self.canonicalizer, "flagged", None)
        return g, weights.to(dtype=dtype, device=device)

    def extra_losses(self) -> dict[str, Tensor]:
        return self.canonicalizer.extra_losses()

    def metrics(self) -> dict[str, float]:
        return self.canonicalizer.metrics()


@register("symmetrizers", "canonicalization")
def canonicalization(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    canonicalizer: Canonicalizer | None = None, chunk_size: int | str | None = "auto",
) -> Canonicalization:
    """One canonical element per input from a canonicalizer (default: the group's built-in)."""
    return Canonicalization(
        backbone, group, in_spec, out_spec, canonicalizer=canonicalizer, chunk_size=chunk_size
    )
