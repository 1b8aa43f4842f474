"""Orbit-distance canonicalization for matrix groups ``G_eta = {A : A^T eta A = eta}``.

An equivariant network gives an *unconstrained* matrix ``M(x)`` (its columns are equivariant
vectors, so ``M(A x) = A M(x)``). While training, ``M`` is used as the canonical element as it is
(the model ``M f(eta M^T eta x)`` stays equivariant because ``A^T eta A = eta``), and the orbit
distance ``||M^T eta M - eta||^2`` in :meth:`extra_losses` pulls ``M`` onto the group. At
evaluation ``M`` is projected to the group by the (generalized) polar decomposition, which
commutes with the group action (see :mod:`._matrices`), so the model is exactly equivariant.

O(d) (``eta = I``) and E(d) (centroid as translation) are built in. A group registered later
(e.g. the Lorentz group O(1,3) from a plugin) works when its elements are ``(B, d, d)``
matrices, its inverse is ``eta A^T eta`` and it exposes ``eta`` (the diagonal, ``(d,)``).

Degenerate inputs (O(d), E(d)): where symmetry makes ``M`` rank-deficient (benzene, methane,
CO2), :func:`._matrices.polar_frame` completes the polar factor at random and flags the sample
(:attr:`flagged`, metric ``degenerate_fraction``); a rank of ``d - 1`` still gives an exact
rotation for SO(d)/SE(d), and for O(d)/E(d) (a mirror-symmetric input) a fair random sign of
the one null direction. Singular values below :func:`network_tol` (which counts the network's
own float64 rounding) count as zero. For a general ``eta`` (no compact group to average over) a
singular ``M`` raises :class:`~symkit.errors.SampleError` naming the sample. Dense, masked and
ragged batches; padding is never read. Gradient at evaluation: see
:func:`._matrices.polar_frame`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.errors import SampleError
from symkit.groups._base import Element, Group
from symkit.groups._euclidean import homogeneous
from symkit.registry import register
from symkit.reps._point import Point
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import batch_layout, data_dtype
from symkit.symmetrizers.learned._inputs import (
    EXACT_RTOL,
    check_finite,
    collapsed_points,
    degeneracy_tol,
    find_field,
    follow_dtype,
    is_matrix_group,
    point_batch,
    sign_tol,
)
from symkit.symmetrizers.learned._matrices import orbit_distance, polar_frame, project_to_group
from symkit.symmetrizers.learned._point_nets import PointVectors

__all__ = ["OrbitDistanceCanonicalization", "orbit_distance_canonicalization", "network_tol"]

#: unit roundoffs of float64 to which the equivariant network computes ``M`` (measured: about
#: 10 on the hard-input corpus, e.g. ammonia, whose second singular value is 1.6e-7 of ``|M|``
#: and whose polar factor is off by 5.8e-9 under a rotation); with a margin
NETWORK_ROUNDING = 64


def network_tol(dtype: torch.dtype) -> float:
    """Relative singular-value floor of ``M`` for inputs of ``dtype``: the larger of
    :func:`._inputs.degeneracy_tol` (rounding of the input) and ``NETWORK_ROUNDING * u / rtol``
    (``u`` the float64 unit roundoff, ``rtol`` the exactness of ``dtype``): ``M`` is computed in
    float64 by a network whose own rounding, about ``NETWORK_ROUNDING * u`` of ``|M|``, moves a
    polar direction read off a singular value ``sigma`` by about that over ``sigma``
    (float64 inputs: 7.1e-6; the other dtypes keep :func:`._inputs.degeneracy_tol`)."""
    unit = float(torch.finfo(torch.float64).eps) / 2
    return max(degeneracy_tol(dtype), NETWORK_ROUNDING * unit / EXACT_RTOL.get(dtype, 1e-5))


class OrbitDistanceCanonicalization(Symmetrizer):
    """``M(x) . backbone(M(x)^-1 x)`` with ``M`` trained toward ``G_eta``, projected at eval.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        field: the point field the network reads (default: the first point field).
        eta: diagonal of the invariant form (default: ``group.eta`` or all ones).
        hidden: width of the equivariant network.
        orbit_weight: weight of the orbit-distance loss.
        steps: Newton steps of the generalized polar projection (``eta != I``).
        tol: degeneracy threshold (default: :func:`network_tol` of the input dtype).
    """

    def __init__(self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
                 field: str | None = None, eta: list[float] | None = None, hidden: int = 32,
                 orbit_weight: float = 1.0, steps: int = 30, chunk_size: int | None = None,
                 tol: float | None = None):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        self.tol = tol
        self.generator: torch.Generator | None = None
        if not self.supports(group):
            raise ValueError(f"orbit_distance needs a matrix group, got {group!r}")
        d = group.dim
        eta = eta if eta is not None else getattr(group, "eta", None)
        eta_t = torch.as_tensor(eta if eta is not None else [1.0] * d, dtype=torch.float64)
        if eta_t.shape != (d,):
            raise ValueError(f"eta must have {d} entries, got {tuple(eta_t.shape)}")
        self.register_buffer("eta", eta_t, persistent=False)
        self.affine = "translation" in group.kinds
        self.proper = "reflection" not in group.kinds and getattr(group, "eta", None) is None
        self.field = find_field(in_spec, Point, field)
        self.orbit_weight, self.steps = orbit_weight, steps
        self.net = PointVectors(d, hidden, center=self.affine)
        self._loss: Tensor | None = None

    @classmethod
    def supports(cls, group: Group) -> bool:
        return is_matrix_group(group) or getattr(group, "eta", None) is not None

    def num_elements(self) -> int:
        return 1

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Element, Tensor]:
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        dtype = data_dtype(sample, self.in_spec)
        tol = self.tol if self.tol is not None else network_tol(dtype)
        follow_dtype(self.net, sample, torch.float64)  # frames amplify rounding: use float64
        pos, mask = point_batch(sample, self.field, layout)
        pos = pos.to(torch.float64)
        eta = self.eta
        m, c, size, rho = self.net(pos, eta=eta, mask=mask)
        dist = orbit_distance(m, eta)
        self._loss = dist.mean() if dist.numel() else dist.sum()
        flagged = torch.zeros(layout.size, dtype=torch.bool, device=pos.device)
        if not self.training:
            if bool((eta == 1).all()):
                m, flagged = polar_frame(m, size, proper=self.proper, tol=tol,
                                         generator=self.generator,
                                         collapsed=collapsed_points(pos, mask, rho,
                                                                     sign_tol(dtype)))
            else:
                self._check_invertible(m, size, tol)
                m = project_to_group(m, eta, steps=self.steps)
                if self.proper:
                    sign = torch.where(torch.linalg.det(m) < 0, -1.0, 1.0).to(m.dtype)
                    m = torch.cat([m[..., :-1], m[..., -1:] * sign[:, None, None]], dim=-1)
        self.flagged = flagged
        self._metrics = {"degenerate_fraction": lambda f=flagged: (
            f.double().mean() if f.numel() else 0.0)}
        g = homogeneous(m, c) if self.affine else m
        return g.to(dtype), torch.ones(layout.size, 1, dtype=dtype, device=pos.device)

    @staticmethod
    def _check_invertible(m: Tensor, size: Tensor, tol: float) -> None:
        """A general ``eta`` has no compact group to draw a completion from: a singular ``M``
        (its smallest singular value at most ``tol`` times its reference size) is an error."""
        sigma = torch.linalg.svdvals(m.detach())
        bad = sigma[:, -1] <= tol * size.detach().norm(dim=-1) if sigma.numel() else sigma[:, :0]
        if bad.numel() and bool(bad.any()):
            index = int(bad.nonzero()[0, 0])
            raise SampleError(index, "the equivariant matrix is singular (the input has a "
                              "non-trivial stabilizer), so it has no polar factor in the group")

    def extra_losses(self) -> dict[str, Tensor]:
        if self._loss is None or not self.orbit_weight:
            return {}
        return {"orbit_distance": self.orbit_weight * self._loss}

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        if self._loss is not None:
            out["orbit_distance"] = float(self._loss.detach())
        return out


@register("symmetrizers", "orbit_distance")
def orbit_distance_canonicalization(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    field: str | None = None, eta: list[float] | None = None, hidden: int = 32,
    orbit_weight: float = 1.0, steps: int = 30, chunk_size: int | None = None,
    tol: float | None = None,
) -> OrbitDistanceCanonicalization:
    """Canonicalize by an unconstrained equivariant matrix trained toward the group."""
    return OrbitDistanceCanonicalization(
        backbone, group, in_spec, out_spec, field=field, eta=eta, hidden=hidden,
        orbit_weight=orbit_weight, steps=steps, chunk_size=chunk_size, tol=tol,
    )
