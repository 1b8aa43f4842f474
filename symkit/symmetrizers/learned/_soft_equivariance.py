"""Soft equivariance: the plain backbone plus a penalty on its measured equivariance error.

For each symmetry kind ``k`` (rotation, reflection, translation, permutation, scaling) with
weight ``lambda_k``, one random element ``g`` of that kind per sample gives

    penalty_k = lambda_k * sum_fields ||f(g x) - g f(x)||^2 / (||g f(x)||^2 + eps)

(relative, so it does not depend on the output scale). It is zero for an equivariant backbone;
adding it to the task loss pulls the backbone toward equivariance without constraining it.

The output is the backbone's, so no input is degenerate (:attr:`flagged` is all ``False``);
dense, masked and ragged (``batch``: one element per graph, applied to each of its nodes)
batches; a non-finite sample raises :class:`~symkit.errors.SampleError`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Group
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._actions import act_fields
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import BatchLayout, batch_layout, data_dtype
from symkit.symmetrizers.learned._inputs import check_finite, sample_device


def act_per_sample(spec: Spec, group: Group, g, sample: Mapping[str, Tensor],
                   layout: BatchLayout) -> dict[str, Tensor]:
    """``g_b . x_b`` for each sample; in a ragged batch node rows take their graph's element."""
    if not layout.ragged:
        return spec.act(group, g, sample)
    return act_fields(spec, group, g, dict(sample),
                      lambda x: x.shape[0] == layout.num_nodes, layout.batch)

__all__ = ["SoftEquivariance", "soft_equivariance", "equivariance_penalty"]


def equivariance_penalty(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec,
    sample: Mapping[str, Tensor], y: Mapping[str, Tensor], kind: str,
    generator: torch.Generator | None = None, eps: float = 1e-12,
) -> Tensor:
    """Relative squared equivariance error of ``backbone`` for one random element per sample.

    Shapes:
        sample, y: batches of ``B`` samples; returns a scalar.
    """
    layout = batch_layout(sample, in_spec)
    dtype = data_dtype(sample, in_spec)
    g = group.sample_kind(kind, layout.size, generator=generator, dtype=dtype,
                          device=sample_device(sample))
    y_g = backbone(act_per_sample(in_spec, group, g, sample, layout))
    target = act_per_sample(out_spec, group, g, dict(y), layout)
    total = torch.zeros((), dtype=dtype, device=sample_device(sample))
    for name in out_spec:
        if name in y_g:
            ref = target[name]
            total = total + (y_g[name] - ref).pow(2).sum() / (ref.detach().pow(2).sum() + eps)
    return total


class SoftEquivariance(Symmetrizer):
    """The backbone unchanged, with :meth:`extra_losses` penalizing its equivariance error.

    Args:
        backbone, group, in_spec, out_spec: see :class:`Symmetrizer`.
        weights: ``{kind: weight}`` (default: weight 1 for every kind of the group).
        always: also compute the penalty in evaluation mode (default: training only).
    """

    def __init__(self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
                 weights: dict[str, float] | None = None, always: bool = False):
        super().__init__(backbone, group, in_spec, out_spec)
        weights = dict(weights) if weights is not None else {k: 1.0 for k in group.kinds}
        for kind in weights:
            if kind not in group.kinds:
                raise ConfigError(f"weights.{kind}", f"{group!r} has no elements of kind "
                                  f"'{kind}'; it has {list(group.kinds)}")
        self.weights, self.always = weights, always
        self._penalties: dict[str, Tensor] = {}

    @classmethod
    def supports(cls, group: Group) -> bool:
        """Only groups with no elements to break (the plain backbone guarantees nothing else);
        the penalty itself works for every kind a group has."""
        return not group.kinds

    def num_elements(self) -> int:
        return 1

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        self.flagged = torch.zeros(layout.size, dtype=torch.bool, device=sample_device(sample))
        self._metrics = {"degenerate_fraction": 0.0}
        y = self.backbone(sample)
        self._penalties = {}
        if (self.training or self.always) and layout.size:  # an empty batch has no error
            for kind, weight in self.weights.items():
                if weight:
                    p = equivariance_penalty(self.backbone, self.group, self.in_spec,
                                             self.out_spec, sample, y, kind)
                    self._penalties[f"soft_equivariance_{kind}"] = weight * p
        return y

    def extra_losses(self) -> dict[str, Tensor]:
        return dict(self._penalties)

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        out.update({k: float(v.detach()) for k, v in self._penalties.items()})
        return out


@register("symmetrizers", "soft_equivariance")
def soft_equivariance(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    weights: dict[str, float] | None = None, always: bool = False,
) -> SoftEquivariance:
    """Plain backbone + a per-kind penalty on its measured equivariance error."""
    return SoftEquivariance(backbone, group, in_spec, out_spec, weights=weights, always=always)
