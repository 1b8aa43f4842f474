"""Differentiable relaxations of discrete choices: straight-through one-hots and soft sorting.

* :func:`straight_through_onehot`: the forward value is the exact one-hot of ``argmax``, the
  gradient is that of ``softmax`` (Bengio et al., 2013), so a discrete group element can be
  chosen exactly while its scores still learn.
* :func:`soft_sort`: the SoftSort relaxation (Prillo & Eisenschlos, 2020) of the permutation
  matrix that sorts a score vector, and its straight-through version whose forward value is the
  exact permutation matrix.
* :func:`soft_permutation_forward`: run a backbone on node fields permuted by (soft)
  permutation matrices and permute node outputs back, the training path for S_N.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.spec import Spec

__all__ = ["straight_through_onehot", "soft_sort", "permutation_matrix", "soft_permutation_forward"]


def straight_through_onehot(logits: Tensor, tau: float = 1.0) -> Tensor:
    """One-hot of ``argmax`` in the forward pass (exactly), gradient of ``softmax(logits / tau)``.

    Shapes:
        logits: ``(..., K)``; returns ``(..., K)``.
    """
    soft = torch.softmax(logits / tau, dim=-1)
    hard = torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return hard + (soft - soft.detach())  # exactly one-hot forward: soft - soft is 0


def permutation_matrix(order: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """``P[b, j, i] = 1`` iff ``i = order[b, j]``, so ``(P x)[j] = x[order[j]]``.

    Shapes:
        order: ``(B, N)`` long; returns ``(B, N, N)``.
    """
    n = order.shape[-1]
    return torch.nn.functional.one_hot(order, n).to(dtype)


def soft_sort(scores: Tensor, tau: float = 1.0, *, straight_through: bool = True) -> Tensor:
    """Relaxed matrix of the permutation that sorts ``scores`` ascending.

    ``P_soft[b, j, i] = softmax_i(-|sort(s)_j - s_i| / tau)``: row ``j`` is a distribution over
    the node that lands at sorted position ``j``. With ``straight_through`` the forward value is
    the exact permutation matrix of ``argsort`` and the gradient that of ``P_soft``.

    Shapes:
        scores: ``(B, N)``; returns ``(B, N, N)``.
    """
    order = torch.argsort(scores, dim=-1)
    ranked = torch.gather(scores, -1, order)
    soft = torch.softmax(-(ranked.unsqueeze(-1) - scores.unsqueeze(-2)).abs() / tau, dim=-1)
    if not straight_through:
        return soft
    return permutation_matrix(order, soft.dtype) + soft - soft.detach()


def soft_permutation_forward(
    backbone: nn.Module, in_spec: Spec, out_spec: Spec, sample: Mapping[str, Tensor],
    perm: Tensor,
) -> dict[str, Tensor]:
    """``P^T backbone(P x)`` on node fields (``P x`` is the canonical, sorted sample).

    Node fields of ``in_spec`` become ``P x``; node fields of ``out_spec`` are mapped back with
    ``P^T``; other fields pass unchanged. With an exact permutation matrix this is
    ``h . backbone(h^-1 . x)`` for the permutation ``h`` with ``h^-1 x = P x``.

    Shapes:
        node fields: ``(B, N, ...)``; perm: ``(B, N, N)``.
    """
    x = dict(sample)
    for name, field in in_spec.items():
        if field.nodes and name in x:
            x[name] = torch.einsum("bji,bi...->bj...", perm.to(x[name].dtype), x[name])
    y = dict(backbone(x))
    for name, field in out_spec.items():
        if field.nodes and name in y:
            y[name] = torch.einsum("bji,bj...->bi...", perm.to(y[name].dtype), y[name])
    return y
