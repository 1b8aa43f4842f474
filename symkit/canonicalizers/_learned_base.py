"""The learned canonicalizer interface: an equivariant network ``h(x)`` in the group.

A canonicalizer is *equivariant*: ``h(g . x) = g h(x)``, so ``h(x) . f(h(x)^-1 . x)`` is
equivariant for any backbone ``f`` (Kaba et al., 2023). Learned canonicalizers build ``h`` from
an equivariant network and a symmetry-breaking rule (``argmax`` of scores over a finite group,
Gram-Schmidt on vectors, ``argsort`` of node scores); they are exactly equivariant whenever the
scores have no ties (generic inputs) and the network is exactly equivariant.

Every learned canonicalizer also

* accepts *invariant* noise (``noise_dim > 0``), which turns ``h`` into a sample from an
  equivariant distribution ``p(g | x)`` (probabilistic symmetrization);
* returns a :class:`Proposal` with what training needs (logits, node scores);
* has a *prior* toward the identity (``prior_weight``), reported by :meth:`extra_losses`, that
  keeps a pretrained backbone seeing upright data, and the identity rate in :meth:`metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from symkit.canonicalizers._base import Canonicalizer
from symkit.groups._base import Element, Group
from symkit.spec import Spec
from symkit.symmetrizers.learned._inputs import KeyedSource, follow_dtype

__all__ = ["Proposal", "LearnedCanonicalizer"]


@dataclass
class Proposal:
    """A canonicalizer's output for a batch.

    Attributes:
        element: ``h(x)``, one element per sample (carries gradients for matrix groups).
        logits: finite groups: scores ``(B, |G|)`` ordered like ``group.elements()``.
        scores: S_N: node scores ``(B, N)``; ``element = argsort(scores)``.
        rotation: matrix groups: the linear part ``(B, d, d)``.
    """

    element: Element
    logits: Tensor | None = None
    scores: Tensor | None = None
    rotation: Tensor | None = None


class LearnedCanonicalizer(Canonicalizer):
    """Base class: ``forward(sample, noise=None) -> h(x)`` (an element batch of size ``B``).

    Args:
        group: the group ``h`` takes values in.
        in_spec: the input spec (optional; the field read is named by each subclass).
        noise_dim: size of the invariant noise per sample (0: deterministic).
        prior_weight: weight of the prior loss toward the identity.
        tau: softmax / soft-sort temperature of the training relaxation.

    Subclasses implement :meth:`propose` and :meth:`supports`.
    """

    #: dtype the network computes in (``None``: the data's)
    compute_dtype: torch.dtype | None = None

    def __init__(self, group: Group, in_spec: Spec | None = None, *, noise_dim: int = 0,
                 prior_weight: float = 0.0, tau: float = 1.0):
        super().__init__(group, in_spec if in_spec is not None else Spec({}))
        self.noise_dim = noise_dim
        self.prior_weight, self.tau = prior_weight, tau
        self.last: Proposal | None = None
        #: dtype of the data of the last call (tolerances follow it, not the compute dtype)
        self.input_dtype: torch.dtype = torch.get_default_dtype()
        #: random source of the degenerate fallbacks (``None``: torch's global generator)
        self.generator: torch.Generator | KeyedSource | None = None

    @classmethod
    def supports(cls, group: Group) -> bool:
        """Whether this network can produce equivariant elements of ``group``."""
        raise NotImplementedError

    def propose(self, sample: Mapping[str, Tensor], noise: Tensor | None = None) -> Proposal:
        """The proposal for a batch; ``noise: (B, noise_dim)`` invariant noise (or ``None``).

        The network runs in :attr:`compute_dtype` (frames: float64, since a frame amplifies
        rounding errors by its conditioning) or else in the precision of the data (at least
        float32: half-precision data is computed in float32); its parameters are cast in place.
        """
        self.input_dtype = next((v.dtype for v in sample.values()
                                 if isinstance(v, Tensor) and v.is_floating_point()),
                                torch.get_default_dtype())
        dtype = self.compute_dtype
        if dtype is None and self.input_dtype in (torch.float16, torch.bfloat16):
            dtype = torch.float32  # half inputs: scores in float32, ties judged on the input
        self.flagged = None
        follow_dtype(self, sample, dtype)
        if dtype is not None:
            sample = {k: v.to(dtype) if isinstance(v, Tensor) and v.is_floating_point() else v
                      for k, v in sample.items()}
            noise = None if noise is None else noise.to(dtype)
        return self._propose(sample, noise)

    def _propose(self, sample: Mapping[str, Tensor], noise: Tensor | None) -> Proposal:
        raise NotImplementedError

    def forward(self, sample: Mapping[str, Tensor], noise: Tensor | None = None) -> Element:
        proposal = self.propose(sample, noise)
        self.last = proposal
        return proposal.element

    # -- prior toward the identity ------------------------------------------------------------
    def prior_loss(self, p: Proposal) -> Tensor:
        """Mean distance of ``h(x)`` from the identity (differentiable surrogate)."""
        if p.logits is not None:
            ident = self.group.element_index(self.group.identity(1, device=p.logits.device))
            return F.cross_entropy(p.logits, ident.expand(p.logits.shape[0]))
        if p.scores is not None:  # soft sort close to the identity permutation
            from symkit.symmetrizers.learned._relax import soft_sort

            soft = soft_sort(p.scores, self.tau, straight_through=False)
            return -soft.diagonal(dim1=-2, dim2=-1).clamp_min(1e-12).log().mean()
        eye = torch.eye(p.rotation.shape[-1], dtype=p.rotation.dtype, device=p.rotation.device)
        return (p.rotation - eye).pow(2).sum(dim=(-1, -2)).mean()

    def identity_mask(self, p: Proposal, tol: float = 1e-3) -> Tensor:
        """Whether each ``h(x)`` is the identity, ``(B,)`` bool (matrices: to ``tol``)."""
        if p.rotation is not None:
            eye = torch.eye(p.rotation.shape[-1], dtype=p.rotation.dtype, device=p.rotation.device)
            return (p.rotation.detach() - eye).abs().amax(dim=(-1, -2)) < tol
        g = p.element.detach()
        ident = self.group.identity(g.shape[0], device=g.device)
        return (g == ident).reshape(g.shape[0], math.prod(g.shape[1:])).all(dim=1)

    def extra_losses(self) -> dict[str, Tensor]:
        """``{"canonicalization_prior": prior_weight * prior}`` for the last batch."""
        if self.prior_weight <= 0 or self.last is None:
            return {}
        return {"canonicalization_prior": self.prior_weight * self.prior_loss(self.last)}

    def metrics(self) -> dict[str, float]:
        """``identity_rate``: fraction of the last batch canonicalized by the identity;
        ``degenerate_fraction``: fraction flagged degenerate (see :attr:`flagged`)."""
        if self.last is None:
            return {}
        flagged = self.flagged
        degenerate = 0.0 if flagged is None or not flagged.numel() else float(
            flagged.double().mean())
        ident = self.identity_mask(self.last)
        rate = float(ident.double().mean()) if ident.numel() else 0.0
        return {"identity_rate": rate, "degenerate_fraction": degenerate}
