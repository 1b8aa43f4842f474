"""Learned canonicalization: ``f(x) = h(x) . backbone(h(x)^-1 x)`` with a trained ``h``.

At evaluation this is plain canonicalization with one element per input, exactly equivariant
when the canonicalization network is (and its scores have no ties). While training, the choice
of ``h`` must pass gradients to the network:

* matrix groups (O(d), SO(d), E(d), SE(d)): ``h`` is a differentiable matrix; nothing changes.
* finite groups: every element ``g`` is used, with straight-through weights
  ``w = onehot(argmax) + softmax - stop_grad(softmax)``; the forward value is exactly the
  canonicalized output, and the gradient compares all ``|G|`` candidates.
* S_N: the backbone sees ``P x`` with the straight-through soft-sort matrix ``P`` (exact
  permutation forward, SoftSort gradient); node outputs are mapped back by ``P^T``.

The prior toward the identity (``prior_weight`` of the canonicalizer) and the identity rate come
from the canonicalizer through :meth:`extra_losses` and :meth:`metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from symkit.groups._base import Element, Group
from symkit.groups._symmetric import Symmetric
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import tile_elements
from symkit.symmetrizers._canonicalization import Canonicalization
from symkit.symmetrizers.learned._canonicalizer import LearnedCanonicalizer
from symkit.symmetrizers.learned._canonicalizers import default_learned_canonicalizer
from symkit.symmetrizers.learned._relax import (
    soft_permutation_forward,
    soft_sort,
    straight_through_onehot,
)

__all__ = ["LearnedCanonicalization", "learned_canonicalization"]


class LearnedCanonicalization(Canonicalization):
    """Canonicalization by a :class:`LearnedCanonicalizer`, trainable end to end.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        canonicalizer: a learned canonicalizer (module, name or ``{type: ...}`` node); default:
            :func:`default_learned_canonicalizer` for the group and input spec.
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        canonicalizer: LearnedCanonicalizer | str | Mapping[str, Any] | None = None,
        chunk_size: int | None = None,
    ):
        if canonicalizer is None:
            canonicalizer = default_learned_canonicalizer(group, in_spec)
        super().__init__(backbone, group, in_spec, out_spec, canonicalizer=canonicalizer,
                         chunk_size=chunk_size)
        if not isinstance(self.canonicalizer, LearnedCanonicalizer):
            raise ValueError("learned_canonicalization needs a learned canonicalizer, got "
                             f"{type(self.canonicalizer).__name__}")

    @classmethod
    def supports(cls, group: Group) -> bool:
        from symkit.registry import registry

        entries = registry("canonicalizers").entries("learned_*")
        return any(e.load().supports(group) for e in entries)

    def num_elements(self) -> int | None:
        if self.training and self.group.is_finite and not isinstance(self.group, Symmetric):
            return int(self.group.order)
        return 1

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Element, Tensor]:
        if not (self.training and self.group.is_finite):
            return super().elements(sample)
        proposal = self.canonicalizer.propose(sample)
        self.canonicalizer.last = proposal
        weights = straight_through_onehot(proposal.logits, self.canonicalizer.tau)
        g = tile_elements(self.group.elements(device=weights.device), weights.shape[0])
        return g, weights

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if not (self.training and isinstance(self.group, Symmetric)):
            return super().forward(sample)
        proposal = self.canonicalizer.propose(sample)
        self.canonicalizer.last = proposal
        perm = soft_sort(proposal.scores, self.canonicalizer.tau)
        return soft_permutation_forward(self.backbone, self.in_spec, self.out_spec, sample, perm)


@register("symmetrizers", "learned_canonicalization")
def learned_canonicalization(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    canonicalizer: LearnedCanonicalizer | None = None, chunk_size: int | None = None,
) -> LearnedCanonicalization:
    """Canonicalization by an equivariant network, trained through straight-through choices."""
    return LearnedCanonicalization(backbone, group, in_spec, out_spec,
                                   canonicalizer=canonicalizer, chunk_size=chunk_size)


learned_canonicalization.supports = LearnedCanonicalization.supports
