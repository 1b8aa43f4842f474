"""Learned canonicalization: ``f(x) = h(x) . backbone(h(x)^-1 x)`` with a trained ``h``.

At evaluation this is plain canonicalization with one element per input, exactly equivariant
when the canonicalization network is (and its scores have no ties). While training, the choice
of ``h`` must pass gradients to the network:

* matrix groups (O(d), SO(d), E(d), SE(d)): ``h`` is a differentiable matrix; nothing changes.
* finite groups: straight-through weights ``w = onehot(argmax) + softmax - stop_grad(softmax)``
  over all ``|G|`` elements. ``train_mode: all`` (default) runs the backbone on every element,
  ``sum_k w_k g_k . backbone(g_k^-1 x)`` (``|G|`` backbone copies); ``train_mode: mix`` runs it
  once, on the mixed input ``sum_k w_k g_k^-1 x``, and maps the output back by
  ``sum_k w_k g_k . y`` (Kaba et al., 2023): ``|G|`` cheap group actions and one backbone call.
  ``train_mode: one`` runs it once on ``h^-1 x`` and scales the output by the chosen
  element's straight-through weight (value 1): no input gradient, so the cheapest, but the
  task loss only tells the scores whether to trust the choice more or less (a weak signal;
  the prior toward the identity then does most of the teaching). All three give exactly the
  canonicalized output in the forward pass; they differ in the gradient that reaches the scores.
* S_N: the backbone sees ``P x`` with the straight-through soft-sort matrix ``P`` (exact
  permutation forward, SoftSort gradient); node outputs are mapped back by ``P^T``.

The prior toward the identity (``prior_weight`` of the canonicalizer) and the identity rate come
from the canonicalizer through :meth:`extra_losses` and :meth:`metrics`, as do the per-sample
:attr:`flagged` marks of degenerate inputs (and the ``degenerate_fraction``): there the
canonicalizer chooses at random among equally valid elements (see
:func:`._matrices.complete_frame` and :mod:`._ties`), so the model is equivariant in
distribution. Every input field is checked first: a non-finite sample raises
:class:`~symkit.errors.SampleError` naming its index.

**Gradient with respect to the inputs.** Matrix groups: ``h(x)`` is built from the inputs with
gradients (never detached), so on non-degenerate inputs the model is a smooth function whose
input gradient is exact (the forces of an invariant energy match finite differences and
transform as vectors); on flagged inputs the gradient is finite (see
:func:`._matrices.complete_frame`). Finite groups and S_N: ``h(x)`` is piecewise constant, so
the input gradient is the backbone's at the chosen element (exact away from score ties).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from symkit.canonicalizers._canonicalization import Canonicalization
from symkit.canonicalizers._learned import default_learned_canonicalizer
from symkit.canonicalizers._learned_base import LearnedCanonicalizer
from symkit.canonicalizers._mixture import mix_transformed
from symkit.errors import ConfigError, SpecError
from symkit.groups._base import Element, Group
from symkit.groups._symmetric import Symmetric
from symkit.registry import register
from symkit.spec import Spec, moves_mask
from symkit.symmetrizers._base import cast_element, tile_elements
from symkit.symmetrizers._batching import batch_layout, data_dtype
from symkit.symmetrizers.learned._inputs import check_finite
from symkit.symmetrizers.learned._relax import (
    soft_permutation_forward,
    soft_sort,
    straight_through_onehot,
)

__all__ = ["LearnedCanonicalization", "learned_canonicalization", "TRAIN_MODES"]

#: training paths for finite groups (see the module docstring)
TRAIN_MODES = ("all", "mix", "one")


class LearnedCanonicalization(Canonicalization):
    """Canonicalization by a :class:`LearnedCanonicalizer`, trainable end to end.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        canonicalizer: a learned canonicalizer (module, name or ``{type: ...}`` node); default:
            :func:`default_learned_canonicalizer` for the group and input spec.
        train_mode: finite groups while training: ``all`` (``|G|`` backbone copies), ``mix``
            (one backbone call on the straight-through mixture of transformed inputs; dense
            batches only, ragged ones use ``all``) or ``one`` (one backbone call on the chosen
            element, straight-through weight on the output).
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        canonicalizer: LearnedCanonicalizer | str | Mapping[str, Any] | None = None,
        chunk_size: int | None = None, train_mode: str = "all",
    ):
        if train_mode not in TRAIN_MODES:
            raise ConfigError("train_mode", f"unknown train_mode '{train_mode}'; choose one of "
                              f"{TRAIN_MODES}")
        if canonicalizer is None:
            canonicalizer = default_learned_canonicalizer(group, in_spec)
        super().__init__(backbone, group, in_spec, out_spec, canonicalizer=canonicalizer,
                         chunk_size=chunk_size)
        self.train_mode = train_mode
        if not isinstance(self.canonicalizer, LearnedCanonicalizer):
            raise ValueError("learned_canonicalization needs a learned canonicalizer, got "
                             f"{type(self.canonicalizer).__name__}")

    @classmethod
    def supports(cls, group: Group) -> bool:
        from symkit.registry import registry

        entries = registry("canonicalizers").entries("learned_*")
        return any(e.supports(group) for e in entries)

    def _finite_training(self) -> bool:
        return self.training and self.group.is_finite and not isinstance(self.group, Symmetric)

    def num_elements(self) -> int | None:
        if self._finite_training() and self.train_mode == "all":
            return int(self.group.order)
        return 1

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Element, Tensor]:
        if not (self.training and self.group.is_finite):
            return super().elements(sample)
        proposal, weights = self._straight_through(sample)
        if self.train_mode == "one":  # the chosen element only, its straight-through weight
            return proposal.element, weights.gather(1, proposal.logits.argmax(-1, keepdim=True))
        g = tile_elements(self.group.elements(device=weights.device), weights.shape[0])
        return g, weights

    def _straight_through(self, sample: Mapping[str, Tensor]) -> tuple[Any, Tensor]:
        """The canonicalizer's proposal (kept for its losses and metrics) and its
        straight-through weights ``(B, |G|)`` over the group's elements."""
        proposal = self.canonicalizer.propose(sample)
        self.canonicalizer.last = proposal
        self.flagged = self.canonicalizer.flagged
        return proposal, straight_through_onehot(proposal.logits, self.canonicalizer.tau)

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        if self._finite_training() and self.train_mode == "mix":
            if not layout.ragged:
                return self._mixed_forward(sample, layout)
        if not (self.training and isinstance(self.group, Symmetric)):
            return super().forward(sample)
        if moves_mask(sample, self.in_spec) and not bool(sample["mask"].all()):
            # a soft permutation mixes padding rows into real ones, and no 0/1 mask follows it
            raise SpecError("mask", "learned sorting trains through a soft permutation of the "
                            "nodes, which would mix padding rows into real ones: train on "
                            "batches without padding (equal node counts per batch), or use "
                            "a fixed canonicalizer such as 'sort' or 'pca_sort'")
        proposal = self.canonicalizer.propose(sample)
        self.canonicalizer.last = proposal
        self.flagged = self.canonicalizer.flagged
        perm = soft_sort(proposal.scores, self.canonicalizer.tau)
        return soft_permutation_forward(self.backbone, self.in_spec, self.out_spec, sample, perm)

    def _mixed_forward(self, sample: Mapping[str, Tensor], layout) -> dict[str, Tensor]:
        """``sum_k w_k g_k . backbone(sum_j w_j g_j^-1 x)``: one backbone call (dense batches).

        Each side is mixed by :func:`~symkit.canonicalizers._mixture.mix_transformed`: the
        ``|G|`` copies of a field made at once, mixed by one batched product (invariant fields:
        ``x sum_j w_j``, no copies).
        """
        _, weights = self._straight_through(sample)
        dtype = data_dtype(sample, self.in_spec)
        elements = cast_element(self.group.elements(device=weights.device), dtype, weights.device)
        mixed = dict(sample)
        mixed.update(mix_transformed(self.group, self.in_spec, sample,
                                     self.group.inverse(elements), weights))
        y = self.backbone(mixed)
        out = {name: v for name, v in y.items()  # integer outputs: as they are
               if not (isinstance(v, Tensor) and v.is_floating_point())}
        out.update(mix_transformed(self.group, self.out_spec, y, elements, weights,
                                   unnamed=True))
        return out


@register("symmetrizers", "learned_canonicalization")
def learned_canonicalization(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    canonicalizer: LearnedCanonicalizer | None = None, chunk_size: int | None = None,
    train_mode: str = "all",
) -> LearnedCanonicalization:
    """Canonicalization by an equivariant network, trained through straight-through choices."""
    return LearnedCanonicalization(backbone, group, in_spec, out_spec,
                                   canonicalizer=canonicalizer, chunk_size=chunk_size,
                                   train_mode=train_mode)
