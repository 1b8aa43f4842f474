"""Symmetry-breaking choices that stay equivariant when the scores tie.

``argmax`` of scores that permute with the group (``score_g(h x) = score_{h^-1 g}(x)``) and
``argsort`` of node scores that permute with the nodes are exactly equivariant when there are no
ties. A symmetric input makes scores tie *by symmetry* (a rotation-symmetric image, two
identical atoms), and then ``argmax``/``argsort`` pick by memory order, which the group does not
respect. Here scores within ``tol`` (relative to their magnitude) of each other count as tied,
and the choice among tied candidates is uniformly random: the set of tied candidates moves with
the input, so the choice is equivariant in distribution. Samples with a tie are flagged.
"""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.symmetrizers.learned._inputs import KeyedSource, uniform

__all__ = ["argmax_ties", "argsort_ties"]


def _uniform(shape: tuple[int, ...], like: Tensor, generator) -> Tensor:
    return uniform(generator, shape[0], *shape[1:], device=like.device)


def argmax_ties(logits: Tensor, tol: float, generator: torch.Generator | KeyedSource | None = None
                ) -> tuple[Tensor, Tensor]:
    """``argmax`` with ties (within ``tol * max |logit|``) broken uniformly at random.

    Shapes:
        logits: ``(B, K)``; returns the index ``(B,)`` long and the flags ``(B,)`` bool.
    """
    s = logits.detach().to(torch.float64)
    if not s.numel():
        return s.argmax(-1) if s.shape[-1] else s.new_zeros(s.shape[0], dtype=torch.long), \
            torch.zeros(s.shape[0], dtype=torch.bool, device=s.device)
    top = s.amax(-1, keepdim=True)
    tied = s >= top - tol * s.abs().amax(-1, keepdim=True)
    flagged = tied.sum(-1) > 1
    if not bool(flagged.any()):
        return s.argmax(-1), flagged
    u = _uniform(tuple(s.shape), s, generator)
    return torch.where(tied, u, torch.full_like(u, -1.0)).argmax(-1), flagged


def argsort_ties(scores: Tensor, tol: float, generator: torch.Generator | KeyedSource | None = None
                 ) -> tuple[Tensor, Tensor]:
    """``argsort`` ascending, nodes whose scores tie (a chain of gaps within
    ``tol * max |score|``) ordered uniformly at random among themselves.

    Shapes:
        scores: ``(B, N)``; returns the order ``(B, N)`` long and the flags ``(B,)`` bool.
    """
    s = scores.detach().to(torch.float64)
    order = torch.argsort(s, dim=-1, stable=True)
    if s.shape[-1] < 2:
        return order, torch.zeros(s.shape[0], dtype=torch.bool, device=s.device)
    ranked = torch.gather(s, -1, order)
    ref = s.abs().amax(-1, keepdim=True)
    tie = ranked.diff(dim=-1) <= tol * ref
    flagged = tie.any(-1)
    if not bool(flagged.any()):
        return order, flagged
    cluster = torch.nn.functional.pad((~tie).long(), (1, 0)).cumsum(-1).to(torch.float64)
    key = cluster + 0.5 * _uniform(tuple(s.shape), s, generator)  # random within a cluster
    return torch.gather(order, -1, torch.argsort(key, dim=-1)), flagged
