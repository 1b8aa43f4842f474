"""Learned augmentation: average over a learned distribution of transformations.

Elements are ``g = exp(sum_i a_i E_i)`` (``E_i`` a basis of so(d)), optionally times a fixed
reflection with probability ``reflection_prob``, and (E(d), SE(d)) a translation ``t``, where
``a = w * u`` with ``u ~ U[-1, 1]`` and learnable widths ``w`` (reparameterized, so ``w`` gets
gradients through the group action).

* ``mode: global`` (Augerino, Benton et al., 2020): one width per generator, shared by all
  inputs; the regularizer ``-width_weight * ||w||^2`` (in :meth:`extra_losses`) favours wide
  distributions.
* ``mode: per_input`` (InstaAug, Miao et al., 2023): a small network maps each input to its
  widths; the entropy of the box distribution ``H = sum_i log(2 w_i)`` is kept within
  ``[entropy_min, entropy_max]`` by a quadratic penalty.

It is equivariant only in the limit, and only when the distribution is invariant: for SO(2)
with rotation width ``pi`` the angle is uniform (Haar), and with ``reflection_prob = 0.5`` so is
O(2); then the error falls like ``1/sqrt(K)``. Other widths give plain learned augmentation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Element, Group
from symkit.groups._euclidean import homogeneous
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import batch_layout, data_dtype
from symkit.symmetrizers.learned._canonicalizers import is_matrix_group
from symkit.symmetrizers.learned._matrices import skew_basis
from symkit.symmetrizers.learned._probabilistic import sample_device

__all__ = ["LearnedAugmentation", "learned_augmentation"]

MODES = ("global", "per_input")


def _inverse_softplus(x: float) -> float:
    return x + math.log(-math.expm1(-x))


class LearnedAugmentation(Symmetrizer):
    """``1/K sum_k g_k . backbone(g_k^-1 x)`` with ``g_k`` from a learned box distribution.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        mode: ``global`` (Augerino) or ``per_input`` (InstaAug).
        init_width: initial rotation width (radians) per generator.
        init_translation: initial translation width per axis (E(d), SE(d)).
        reflection_prob: probability of a reflection (O(d), E(d)); not learned.
        width_weight: Augerino width regularizer weight.
        field, hidden: per_input: the field the width network reads, and its width.
        entropy_min, entropy_max, entropy_weight: per_input entropy bounds and penalty weight.
        train_samples, eval_samples: ``K`` while training and at evaluation.
        seed: when set, evaluation uses the same draws on every call.

    Shapes:
        widths: ``(G,)`` (global) or ``(B, G)`` (per input), ``G`` generators.
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        mode: str = "global", init_width: float = 0.5, init_translation: float = 0.1,
        reflection_prob: float = 0.5, width_weight: float = 0.01, field: str | None = None,
        hidden: int = 32, entropy_min: float = -10.0, entropy_max: float = 10.0,
        entropy_weight: float = 1.0, train_samples: int = 1, eval_samples: int = 8,
        seed: int | None = None, chunk_size: int | None = None,
    ):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if not self.supports(group):
            raise ConfigError(None, f"learned_augmentation needs O(d)/SO(d)/E(d)/SE(d), "
                              f"got {group!r}")
        if mode not in MODES:
            raise ConfigError("mode", f"unknown mode '{mode}'; choose one of {MODES}")
        d = group.dim
        self.register_buffer("basis", skew_basis(d), persistent=False)
        self.n_rot = self.basis.shape[0]
        self.n_trans = d if "translation" in group.kinds else 0
        self.reflect = reflection_prob if "reflection" in group.kinds else 0.0
        self.mode, self.width_weight = mode, width_weight
        self.entropy = (entropy_min, entropy_max, entropy_weight)
        self.train_samples, self.eval_samples, self.seed = train_samples, eval_samples, seed
        init = torch.tensor([_inverse_softplus(init_width)] * self.n_rot
                            + [_inverse_softplus(init_translation)] * self.n_trans)
        if mode == "global":
            self.raw_width = nn.Parameter(init)
        else:
            if field is None:
                raise ConfigError("field", "per_input augmentation needs the field it reads")
            self.field = field
            last = nn.Linear(hidden, init.numel())
            nn.init.zeros_(last.weight)
            with torch.no_grad():
                last.bias.copy_(init)
            self.width_net = nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden), nn.SiLU(), last)
        self._widths: Tensor | None = None

    @classmethod
    def supports(cls, group: Group) -> bool:
        return is_matrix_group(group)

    def widths(self, sample: Mapping[str, Tensor]) -> Tensor:
        """Current widths: ``(G,)`` global or ``(B, G)`` per input (positive)."""
        if self.mode == "global":
            return nn.functional.softplus(self.raw_width)
        return nn.functional.softplus(self.width_net(sample[self.field]))

    def num_elements(self) -> int:
        return self.train_samples if self.training else self.eval_samples

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Element, Tensor]:
        b = batch_layout(sample, self.in_spec).size
        k = self.num_elements()
        dtype, device = data_dtype(sample, self.in_spec), sample_device(sample)
        w = self.widths(sample).to(dtype)
        self._widths = w
        w = w.expand(b, -1).repeat_interleave(k, dim=0)  # (B K, G)
        gen = None
        if self.seed is not None and not self.training:
            gen = torch.Generator().manual_seed(self.seed)
        u = torch.rand(b * k, w.shape[1] + 1, generator=gen, dtype=torch.float64).to(device)
        a = w * (2 * u[:, :-1].to(dtype) - 1)
        rot = torch.matrix_exp(torch.einsum("ng,gij->nij", a[:, : self.n_rot],
                                            self.basis.to(dtype)))
        if self.reflect:
            flip = torch.where(u[:, -1] < self.reflect, -1.0, 1.0).to(dtype)
            rot = torch.cat([rot[..., :1] * flip[:, None, None], rot[..., 1:]], dim=-1)
        g = homogeneous(rot, a[:, self.n_rot:]) if self.n_trans else rot
        return g, torch.full((b, k), 1.0 / k, dtype=dtype, device=device)

    def extra_losses(self) -> dict[str, Tensor]:
        if self._widths is None:
            return {}
        if self.mode == "global":
            return {"augmentation_width": -self.width_weight * self._widths.pow(2).sum()}
        lo, hi, weight = self.entropy
        h = torch.log(2 * self._widths).sum(dim=-1)
        penalty = torch.relu(lo - h).pow(2) + torch.relu(h - hi).pow(2)
        return {"augmentation_entropy": weight * penalty.mean()}

    def metrics(self) -> dict[str, float]:
        if self._widths is None:
            return {}
        w = self._widths.detach()
        out = {"rotation_width": float(w[..., : self.n_rot].mean())}
        if self.n_trans:
            out["translation_width"] = float(w[..., self.n_rot:].mean())
        return out


@register("symmetrizers", "learned_augmentation")
def learned_augmentation(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    mode: str = "global", init_width: float = 0.5, init_translation: float = 0.1,
    reflection_prob: float = 0.5, width_weight: float = 0.01, field: str | None = None,
    hidden: int = 32, entropy_min: float = -10.0, entropy_max: float = 10.0,
    entropy_weight: float = 1.0, train_samples: int = 1, eval_samples: int = 8,
    seed: int | None = None, chunk_size: int | None = None,
) -> LearnedAugmentation:
    """Augerino-style (global widths) or InstaAug-style (per-input widths) augmentation."""
    return LearnedAugmentation(
        backbone, group, in_spec, out_spec, mode=mode, init_width=init_width,
        init_translation=init_translation, reflection_prob=reflection_prob,
        width_weight=width_weight, field=field, hidden=hidden, entropy_min=entropy_min,
        entropy_max=entropy_max, entropy_weight=entropy_weight, train_samples=train_samples,
        eval_samples=eval_samples, seed=seed, chunk_size=chunk_size,
    )


learned_augmentation.supports = LearnedAugmentation.supports
