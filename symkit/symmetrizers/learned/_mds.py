"""Invariant initial representations: classical multidimensional scaling (MDS) coordinates.

From the squared distances ``D_ij = |x_i - x_j|^2`` of a point set, ``B = -1/2 J D J``
(``J = I - 11^T / N``) is the Gram matrix of the centred points; its top ``d`` eigenpairs give
coordinates ``Y = U sqrt(Lambda)`` with ``Y Y^T = B``. ``D`` is invariant under E(d), so ``Y``
is determined up to ``Y -> Y Q`` with ``Q`` in O(d); for distinct eigenvalues only the sign of
each axis is left. The sign rule ``sum_i Y_ic^3 > 0`` (third moment along each axis) fixes it,
so the coordinates are **invariant** under E(d) and **equivariant** under permutations of the
points. With ``normalize_scale`` they are divided by their RMS radius, which makes them
invariant to scaling too.

Design: ``mds_invariant`` is a symmetrizer-like wrapper (registry ``symmetrizers``) that feeds
the backbone MDS coordinates instead of raw positions, because the invariant representation is
a property of the model input, with the same context (backbone, group, specs) as any
symmetrizer. Equivalently it is canonicalization by the MDS frame, but only invariant outputs
(scalars, per node or per sample) are supported: the wrapper never maps outputs back.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Group
from symkit.groups._euclidean import Euclidean
from symkit.groups._orthogonal import Orthogonal
from symkit.groups._symmetric import Symmetric
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer

__all__ = ["mds_coordinates", "MDSInvariant", "mds_invariant"]


def mds_coordinates(pos: Tensor, dim: int | None = None, *, normalize_scale: bool = False,
                    eps: float = 1e-12) -> Tensor:
    """Sign-fixed classical MDS coordinates of each point set, computed in float64.

    Args:
        pos: point positions.
        dim: number of coordinates (default: the space dimension ``d``).
        normalize_scale: divide by the RMS distance to the centroid.

    Shapes:
        pos: ``(B, N, d)``; returns ``(B, N, dim)`` in ``pos.dtype``.
    """
    x = pos.to(torch.float64)
    dim = dim or x.shape[-1]
    sq = torch.cdist(x, x).pow(2)
    n = x.shape[1]
    j = torch.eye(n, dtype=x.dtype, device=x.device) - 1.0 / n
    gram = -0.5 * j @ sq @ j
    evals, evecs = torch.linalg.eigh(gram)  # ascending
    evals, evecs = evals.flip(-1)[..., :dim], evecs.flip(-1)[..., :dim]
    y = evecs * evals.clamp_min(0).sqrt().unsqueeze(-2)
    sign = torch.where(y.pow(3).sum(dim=1, keepdim=True) < 0, -1.0, 1.0).to(y.dtype)
    y = y * sign
    if normalize_scale:
        y = y / y.pow(2).sum(-1).mean(-1).sqrt().clamp_min(eps)[:, None, None]
    return y.to(pos.dtype)


class MDSInvariant(Symmetrizer):
    """``backbone(x with field -> MDS(field))``: invariant under E(d) (and scale, if normalized).

    Args:
        backbone, group, in_spec, out_spec: see :class:`Symmetrizer`; every output field and
            every input field other than ``field`` must be invariant (scalars).
        field: the point field replaced by its MDS coordinates.
        dim: number of MDS coordinates (default ``d``).
        normalize_scale: also divide out the scale.
    """

    def __init__(self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
                 field: str = "pos", dim: int | None = None, normalize_scale: bool = False):
        super().__init__(backbone, group, in_spec, out_spec)
        if field not in in_spec:
            raise ConfigError("field", f"'{field}' is not an input field ({list(in_spec)})")
        if "scaling" in group.kinds and not normalize_scale:
            raise ConfigError("normalize_scale", "needed for a group with scaling")
        for spec, which in ((in_spec, "input"), (out_spec, "output")):
            for name, f in spec.items():
                if name != field and not f.rep.is_invariant(group):
                    raise ConfigError(name, f"mds_invariant needs invariant {which} fields; "
                                      f"'{name}' is {f.rep!r}")
        self.field, self.dim, self.normalize_scale = field, dim, normalize_scale

    @classmethod
    def supports(cls, group: Group) -> bool:
        allowed = (Orthogonal, Euclidean, Symmetric)
        factors = group.factors()
        return (any(isinstance(f, (Orthogonal, Euclidean)) for f in factors)
                and all(isinstance(f, allowed) or set(f.kinds) <= {"scaling", "translation"}
                        for f in factors))

    def num_elements(self) -> int:
        return 1

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x = dict(sample)
        x[self.field] = mds_coordinates(sample[self.field], self.dim,
                                        normalize_scale=self.normalize_scale)
        return self.backbone(x)


@register("symmetrizers", "mds_invariant")
def mds_invariant(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    field: str = "pos", dim: int | None = None, normalize_scale: bool = False,
) -> MDSInvariant:
    """Feed the backbone E(d)-invariant MDS coordinates of a point field (invariant outputs)."""
    return MDSInvariant(backbone, group, in_spec, out_spec, field=field, dim=dim,
                        normalize_scale=normalize_scale)


mds_invariant.supports = MDSInvariant.supports
