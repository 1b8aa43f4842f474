"""Probabilistic symmetrization (Kim et al., 2023): average over samples of a learned ``p(g|x)``.

``f(x) = E_{g ~ p(g|x)} g . backbone(g^-1 x)``, estimated with ``K`` samples. The distribution
is an equivariant network with *invariant* noise: ``g = h(x, eps)``, ``eps ~ N(0, I)`` i.i.d. per
draw, with ``h(g' x, eps) = g' h(x, eps)``. Then ``p(g' g | g' x) = p(g | x)`` and ``f`` is
equivariant in distribution (exactly in expectation); for a fixed noise draw (``seed``) it is
exactly equivariant. While training, finite groups use straight-through one-hots (the weights of
all ``|G|`` elements are the mean of the ``K`` one-hots, so the cost stays at ``|G|`` backbone
copies) and S_N uses the straight-through soft sort.

**Evaluation is a function of the sample.** With a ``seed``, the noise of sample ``b`` comes
from its own stream, seeded by ``(seed, key_b)`` with ``key_b`` its number of valid nodes
(:func:`._inputs.keyed_draws`): the same sample gets the same ``K`` draws alone or anywhere in
any batch, and ``g . x`` gets the draws of ``x`` (so the fixed-seed model is exactly
equivariant, up to degenerate inputs). The random choices of degenerate inputs come from
per-sample streams too (:class:`._inputs.KeyedSource`), so a flagged sample's output is also a
function of the sample alone. Degenerate inputs are flagged per sample
(:attr:`flagged`: any of its ``K`` draws flagged by the canonicalizer). Dense, masked and
ragged (``batch``) batches; a non-finite sample raises :class:`~symkit.errors.SampleError`.
Input gradients flow through each ``g_k = h(x, eps_k)`` as in
:mod:`._learned_canonicalization` (for a fixed noise draw: the exact gradient of that function).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from symkit.canonicalizers._learned import default_learned_canonicalizer
from symkit.canonicalizers._learned_base import LearnedCanonicalizer
from symkit.groups._base import Element, Group
from symkit.groups._symmetric import Symmetric
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer, tile_elements
from symkit.symmetrizers._batching import Copies, batch_layout, data_dtype
from symkit.symmetrizers.learned._inputs import (
    KeyedSource,
    check_finite,
    keyed_draws,
    sample_device,
    sample_keys,
)
from symkit.symmetrizers.learned._relax import (
    soft_permutation_forward,
    soft_sort,
    straight_through_onehot,
)

__all__ = ["ProbabilisticSymmetrization", "probabilistic"]

#: offset of the fallback streams' seed from the noise streams' (any constant works)
FALLBACK_SEED = 0x5EED


class ProbabilisticSymmetrization(Symmetrizer):
    """``1/K sum_k g_k . backbone(g_k^-1 x)`` with ``g_k = h(x, eps_k)`` from a noisy network.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        canonicalizer: a learned canonicalizer with ``noise_dim > 0`` (the equivariant network);
            default: :func:`default_learned_canonicalizer` with ``noise_dim = 4``.
        train_samples, eval_samples: ``K`` while training and at evaluation.
        noise_scale: standard deviation of the invariant noise.
        seed: when set, evaluation draws the same noise on every call (a fixed, exactly
            equivariant function); ``None``: fresh noise every call.
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        canonicalizer: LearnedCanonicalizer | None = None, train_samples: int = 4,
        eval_samples: int = 16, noise_scale: float = 1.0, seed: int | None = None,
        chunk_size: int | None = None,
    ):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if canonicalizer is None:
            canonicalizer = default_learned_canonicalizer(group, in_spec, noise_dim=4)
        if not isinstance(canonicalizer, LearnedCanonicalizer) or canonicalizer.noise_dim < 1:
            raise ValueError("probabilistic needs a learned canonicalizer with noise_dim >= 1")
        self.canonicalizer = canonicalizer
        self.train_samples, self.eval_samples = train_samples, eval_samples
        self.noise_scale, self.seed = noise_scale, seed

    @property
    def is_exact(self) -> bool:
        """Exact only with a fixed noise draw at evaluation (``seed``); else Monte-Carlo."""
        return self.seed is not None and not self.training

    @classmethod
    def supports(cls, group: Group) -> bool:
        from symkit.canonicalizers._learned_canonicalization import LearnedCanonicalization

        return LearnedCanonicalization.supports(group)

    def num_elements(self) -> int:
        if self.training and self.group.is_finite and not isinstance(self.group, Symmetric):
            return int(self.group.order)
        return self.train_samples if self.training else self.eval_samples

    def _draw(self, sample: Mapping[str, Tensor]) -> tuple[Copies, Any]:
        """The ``B * K`` copies and the canonicalizer's proposal for each (one noise draw each)."""
        k = self.train_samples if self.training else self.eval_samples
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        copies = Copies(sample, layout, k)
        dtype = data_dtype(sample, self.in_spec)
        nd = self.canonicalizer.noise_dim
        if self.seed is not None and not self.training:  # per-sample streams (module docs)
            keys = sample_keys(sample, self.in_spec, layout)
            noise = keyed_draws(self.seed, keys, lambda gen: torch.randn(
                k, nd, generator=gen, dtype=torch.float64)).reshape(-1, nd)
            # degenerate fallbacks from per-sample streams too (a seed distinct from the noise's)
            self.canonicalizer.generator = KeyedSource(self.seed + FALLBACK_SEED, keys, k)
        else:
            noise = torch.randn(copies.size, nd, dtype=torch.float64)
            self.canonicalizer.generator = None
        noise = noise.to(dtype) * self.noise_scale
        inputs = copies.sample
        if layout.ragged:  # the canonicalizer reads the copies as a ragged batch of B * K
            inputs = {**inputs, "batch": copies.graph, "num_graphs": copies.size}
        proposal = self.canonicalizer.propose(inputs, noise.to(sample_device(sample)))
        self.canonicalizer.last = proposal
        flags = self.canonicalizer.flagged
        self.flagged = None if flags is None else flags.reshape(layout.size, k).any(1)
        return copies, proposal

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Element, Tensor]:
        copies, proposal = self._draw(sample)
        b, k = copies.layout.size, copies.k
        if self.training and proposal.logits is not None:
            onehots = straight_through_onehot(proposal.logits, self.canonicalizer.tau)
            weights = onehots.reshape(b, k, onehots.shape[-1]).mean(dim=1)
            return tile_elements(self.group.elements(device=weights.device), b), weights
        dtype = data_dtype(sample, self.in_spec)
        weights = torch.full((b, k), 1.0 / k, dtype=dtype, device=sample_device(sample))
        return proposal.element, weights

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if not (self.training and isinstance(self.group, Symmetric)):
            return super().forward(sample)
        copies, proposal = self._draw(sample)
        perm = soft_sort(proposal.scores, self.canonicalizer.tau)
        y = soft_permutation_forward(self.backbone, self.in_spec, self.out_spec, copies.sample,
                                     perm)
        b = copies.layout.size
        return {n: v.reshape(b, copies.k, *v.shape[1:]).mean(dim=1) for n, v in y.items()}

    def extra_losses(self) -> dict[str, Tensor]:
        return self.canonicalizer.extra_losses()

    def metrics(self) -> dict[str, float]:
        """The canonicalizer's, with ``degenerate_fraction`` counted per sample."""
        out = self.canonicalizer.metrics()
        if out:
            f = self.flagged
            out["degenerate_fraction"] = float(f.double().mean()) if f is not None and \
                f.numel() else 0.0
        return out


@register("symmetrizers", "probabilistic")
def probabilistic(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    canonicalizer: LearnedCanonicalizer | None = None, train_samples: int = 4,
    eval_samples: int = 16, noise_scale: float = 1.0, seed: int | None = None,
    chunk_size: int | None = None,
) -> ProbabilisticSymmetrization:
    """Average over K samples of a learned equivariant distribution p(g|x) (invariant noise)."""
    return ProbabilisticSymmetrization(
        backbone, group, in_spec, out_spec, canonicalizer=canonicalizer,
        train_samples=train_samples, eval_samples=eval_samples, noise_scale=noise_scale,
        seed=seed, chunk_size=chunk_size,
    )
