"""Learned augmentation: average over a learned distribution of transformations.

Elements are ``g = exp(sum_i a_i E_i)`` (``E_i`` a basis of so(d)), optionally times a fixed
reflection with probability ``reflection_prob``, and (E(d), SE(d)) a translation ``t``, where
``a = (w / pi) * v`` with learnable widths ``w`` (reparameterized, so ``w`` gets gradients
through the group action) and a fixed base law for ``v``: for d = 2 the angle ``v ~ U[-pi, pi]``,
for d = 3 the axis-angle vector of a Haar rotation (uniform axis, angle density
``(1 - cos t) / pi``), so that ``w = pi`` gives exactly Haar measure; for d > 3 ``v ~
U[-pi, pi]`` per generator (not Haar). Translations are ``t = w_t * U[-1, 1]``. Widths are
capped at ``pi``.

* ``mode: global`` (Augerino, Benton et al., 2020): one width per generator, shared by all
  inputs; the regularizer ``-width_weight * ||w||^2`` (in :meth:`extra_losses`) favours wide
  distributions.
* ``mode: per_input`` (InstaAug, Miao et al., 2023): a small network maps each input to its
  widths; the entropy of the box distribution ``H = sum_i log(2 w_i)`` is kept within
  ``[entropy_min, entropy_max]`` by a quadratic penalty.

It is equivariant only in the limit, and only when the distribution is invariant: for SO(2)
and SO(3) with rotation widths ``pi`` (the default start), and O(2)/O(3) with
``reflection_prob = 0.5``, the law is Haar and the error falls like ``1/sqrt(K)``; :meth:`supports`
lists those groups. Narrower widths or translations (E(d), SE(d): allowed, but never invariant)
give plain learned augmentation.

**Evaluation is a function of the sample.** With a ``seed``, the draws of sample ``b`` come
from its own stream seeded by ``(seed, key_b)``, ``key_b`` its number of valid nodes
(:func:`._inputs.keyed_draws`): the same sample gets the same ``K`` transformations alone or
anywhere in any batch, reproducibly. The elements are built in float64 and cast to the data's
dtype (half precision works). No input is degenerate for a distribution that does not read the
input: :attr:`flagged` is all ``False``. Dense, masked and ragged batches (``global`` mode); a
non-finite sample raises :class:`~symkit.errors.SampleError`. Input gradient: the elements do
not depend on the input (``global``), so it is the average of the backbone's gradients over the
``K`` transformed copies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Element, Group
from symkit.groups._euclidean import homogeneous
from symkit.groups._orthogonal import Orthogonal
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import batch_layout, data_dtype
from symkit.symmetrizers.learned._inputs import (
    check_finite,
    follow_dtype,
    is_matrix_group,
    keyed_draws,
    sample_device,
    sample_keys,
)
from symkit.symmetrizers.learned._matrices import skew_basis

__all__ = ["LearnedAugmentation", "learned_augmentation"]

MODES = ("global", "per_input")


def _inverse_softplus(x: float) -> float:
    return x + math.log(-math.expm1(-x))


def haar_axis_angle(u: Tensor, axis: Tensor, steps: int = 60) -> Tensor:
    """Axis-angle vectors ``t n`` of Haar rotations of R^3 (no gradient).

    The angle has CDF ``(t - sin t) / pi`` on ``[0, pi]`` (inverted by bisection from
    ``u ~ U[0, 1]``); the axis is ``axis / |axis|`` with ``axis`` standard normal.

    Shapes:
        u: ``(n,)``; axis: ``(n, 3)``; returns ``(n, 3)``.
    """
    lo, hi = torch.zeros_like(u), torch.full_like(u, math.pi)
    for _ in range(steps):
        mid = (lo + hi) / 2
        below = (mid - torch.sin(mid)) / math.pi < u
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (lo + hi)[:, None] / 2 * axis / axis.norm(dim=-1, keepdim=True)


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
        mode: str = "global", init_width: float = math.pi, init_translation: float = 0.1,
        reflection_prob: float = 0.5, width_weight: float = 0.01, field: str | None = None,
        hidden: int = 32, entropy_min: float = -10.0, entropy_max: float = 10.0,
        entropy_weight: float = 1.0, train_samples: int = 1, eval_samples: int = 8,
        seed: int | None = None, chunk_size: int | None = None,
    ):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if not is_matrix_group(group):
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

    #: Monte-Carlo: equivariant only in the limit of many samples
    is_exact = False

    @classmethod
    def supports(cls, group: Group) -> bool:
        """SO(2), O(2), SO(3), O(3): where full widths give Haar measure (invariant limit)."""
        return isinstance(group, Orthogonal) and group.dim in (2, 3)

    def widths(self, sample: Mapping[str, Tensor]) -> Tensor:
        """Current widths: ``(G,)`` global or ``(B, G)`` per input (positive)."""
        raw = self.raw_width if self.mode == "global" else self.width_net(sample[self.field])
        w = nn.functional.softplus(raw)
        cap = torch.full_like(w, math.inf)
        cap[..., : self.n_rot] = math.pi
        return torch.minimum(w, cap)

    def num_elements(self) -> int:
        return self.train_samples if self.training else self.eval_samples

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Element, Tensor]:
        follow_dtype(self, sample)
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        b = layout.size
        k = self.num_elements()
        dtype, device = data_dtype(sample, self.in_spec), sample_device(sample)
        w = self.widths(sample)
        self._widths = w
        w = w.to(torch.float64).expand(b, -1).repeat_interleave(k, dim=0)  # (B K, G)
        n_u = w.shape[1] + 1
        if self.seed is not None and not self.training:  # per-sample streams (module docs)
            draws = keyed_draws(self.seed, sample_keys(sample, self.in_spec, layout),
                                lambda gen: torch.cat([
                                    torch.rand(k, n_u, generator=gen, dtype=torch.float64),
                                    torch.randn(k, 3, generator=gen, dtype=torch.float64)], -1))
            draws = draws.reshape(b * k, n_u + 3)
        else:
            draws = torch.cat([torch.rand(b * k, n_u, dtype=torch.float64),
                               torch.randn(b * k, 3, dtype=torch.float64)], -1)
        u, axis = draws[:, :n_u].to(device), draws[:, n_u:]
        v = math.pi * (2 * u[:, : self.n_rot] - 1)
        if self.n_rot == 3:  # SO(3): Haar axis-angle as the base law
            v = haar_axis_angle(u[:, 0].cpu(), axis).to(device)
        a = w[:, : self.n_rot] * v / math.pi
        basis = self.basis.to(device=device, dtype=torch.float64)
        rot = torch.matrix_exp(torch.einsum("ng,gij->nij", a, basis))
        if self.reflect:
            flip = torch.where(u[:, -1] < self.reflect, -1.0, 1.0).to(rot.dtype)
            rot = torch.cat([rot[..., :1] * flip[:, None, None], rot[..., 1:]], dim=-1)
        weights = torch.full((b, k), 1.0 / k, dtype=dtype, device=device)
        self.flagged = torch.zeros(b, dtype=torch.bool, device=device)
        self._metrics = {"degenerate_fraction": 0.0}
        if self.n_trans:
            t = w[:, self.n_rot:] * (2 * u[:, self.n_rot:-1] - 1)
            return homogeneous(rot, t).to(dtype), weights
        return rot.to(dtype), weights

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
        out = super().metrics()
        out["rotation_width"] = float(w[..., : self.n_rot].mean()) if w.numel() else 0.0
        if self.n_trans:
            out["translation_width"] = float(w[..., self.n_rot:].mean())
        return out


@register("symmetrizers", "learned_augmentation")
def learned_augmentation(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    mode: str = "global", init_width: float = math.pi, init_translation: float = 0.1,
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
