"""Rest-frame canonicalization for the Lorentz group: boost to the rest frame, then PCA axes.

For a set of four-momenta ``p_i`` with total ``P = sum_i p_i`` (timelike, ``<P, P> > 0``):

1. ``c = T`` if ``P_0 < 0`` and the group has time reversal, else ``1``; ``P' = c P`` is
   future-pointing.
2. ``B`` is the pure boost with ``B (m, 0, 0, 0) = P'``, ``m = sqrt(<P, P>)``; in the rest frame
   ``q_i = B^-1 c p_i`` the spatial momenta sum to zero.
3. ``R`` holds the principal axes of ``sum_i q_i q_i^T`` (spatial parts), each signed by its
   third moment ``sum_i (r . q_i)^3``; for SO+(1,3) the least reliable axis is flipped when
   ``det R = -1``.

``h(x) = c B diag(1, R)``. For ``g`` in the group, ``B(g P)^-1 g B(P)`` fixes the rest vector,
so it is a rotation (the Wigner rotation) of the rest-frame momenta, which the principal axes
follow: ``h(g x) = g h(x)`` exactly whenever ``P`` is timelike, the eigenvalues are distinct and
no third moment vanishes (generic inputs).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from symkit.canonicalizers import Canonicalizer
from symkit.errors import ConfigError
from symkit.groups import Group
from symkit.reps import Vector
from symkit.spec import Spec
from symkit_lorentz._group import METRIC, Lorentz, boost_matrix, minkowski_dot

__all__ = ["RestFrameCanonicalizer", "rest_frame"]


class RestFrameCanonicalizer(Canonicalizer):
    """``h(x) = c B diag(1, R)``: time orientation, rest-frame boost, principal axes.

    Args:
        group: a :class:`~symkit_lorentz.Lorentz` group.
        in_spec: input spec.
        field: the four-momentum node field (default: the first ``vector`` node field).
        mask: name of an optional ``(B, N)`` bool field marking real particles.

    Shapes:
        ``sample[field]``: ``(B, N, 4)``; returns ``(B, 4, 4)`` float64.
    """

    def __init__(self, group: Group, in_spec: Spec, *, field: str | None = None,
                 mask: str = "mask"):
        super().__init__(group, in_spec)
        if field is None:
            field = next((n for n, f in in_spec.items()
                          if f.nodes and isinstance(f.rep, Vector)), None)
        if field is None or field not in in_spec:
            raise ConfigError("field", f"no four-momentum node field (vector, nodes: true) in "
                              f"the in_spec {in_spec!r}")
        self.field, self.mask = field, mask

    @classmethod
    def supports(cls, group: Group) -> bool:
        return isinstance(group, Lorentz)

    def forward(self, sample: Mapping[str, Tensor]) -> Tensor:
        p = sample[self.field].to(torch.float64)
        if self.mask in sample:
            p = p * sample[self.mask][..., None].to(p.dtype)
        eta = torch.tensor(METRIC, dtype=p.dtype, device=p.device)
        total = p.sum(1)
        t = torch.ones_like(total[:, 0])
        if self.group.component == "full":
            t = torch.where(total[:, 0] < 0, -t, t)
        c = torch.ones_like(total)
        c[:, 0] = t
        total = c * total
        mass2 = minkowski_dot(total, total)
        mass = mass2.clamp_min(torch.finfo(p.dtype).tiny).sqrt()
        boost = boost_matrix(total[:, 1:] / mass[:, None])
        inv_boost = eta[:, None] * boost * eta
        q = torch.einsum("bij,bnj->bni", inv_boost, c[:, None] * p)[..., 1:]
        _, axes = torch.linalg.eigh(q.transpose(1, 2) @ q)
        proj = q @ axes
        m3, a3 = (proj**3).sum(1), (proj.abs() ** 3).sum(1)
        s = torch.where(m3 < 0, -1.0, 1.0).to(p.dtype)
        if self.group.component == "proper":
            weakest = torch.nn.functional.one_hot((m3.abs() / a3).argmin(-1), 3).bool()
            wrong = (torch.linalg.det(axes) * s.prod(-1) < 0)[:, None]
            s = torch.where(weakest & wrong, -s, s)
        rot = torch.zeros_like(boost)
        rot[:, 0, 0] = 1.0
        rot[:, 1:, 1:] = axes * s[:, None, :]
        self._metrics = {"non_timelike_fraction": float((mass2 <= 0).double().mean())}
        return c[:, :, None] * (boost @ rot)


def rest_frame(group: Group, in_spec: Spec, *, field: str | None = None,
               mask: str = "mask") -> RestFrameCanonicalizer:
    """Lorentz canonicalizer: boost to the rest frame of the total momentum, then PCA axes.

    Args:
        field: the four-momentum node field (default: the first ``vector`` node field).
        mask: name of an optional ``(B, N)`` bool field marking real particles.
        group, in_spec: filled from the model's context.
    """
    return RestFrameCanonicalizer(group, in_spec, field=field, mask=mask)


rest_frame.supports = RestFrameCanonicalizer.supports
