"""Graph plumbing shared by the message-passing backbones: adjacency, edge indices, node scalars,
radial-basis distance features.

Scatter sums come from :func:`symkit.ops.scatter_sum` (torch-scatter when installed and working,
else ``index_add_``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError, SpecError

__all__ = ["RadialBasis", "fully_connected_mask", "global_edge_index", "node_scalars",
           "radial_basis"]


def fully_connected_mask(n: int, mask: Tensor | None, batch: int, device=None) -> Tensor:
    """Which ordered pairs ``(i, j)``, ``i != j``, are edges: both nodes real.

    Shapes:
        mask: ``(B, N)`` bool or ``None``; returns ``(B, N, N)`` bool.
    """
    adj = ~torch.eye(n, dtype=torch.bool, device=device).expand(batch, n, n)
    if mask is not None:
        adj = adj & mask.unsqueeze(1) & mask.unsqueeze(2)
    return adj


def global_edge_index(edge_index: Tensor, batch: int, n: int) -> Tensor:
    """Per-sample edges ``(B, 2, E)`` (or one shared ``(2, E)``) -> edges of the flattened
    batch ``(2, B*E)`` over ``B*N`` nodes. Row 0 is the source ``j``, row 1 the target ``i``."""
    if edge_index.ndim == 2:
        edge_index = edge_index.unsqueeze(0).expand(batch, -1, -1)
    if edge_index.ndim != 3 or edge_index.shape[1] != 2:
        raise SpecError(
            "edge_index", f"expected (B, 2, E) or (2, E), got {tuple(edge_index.shape)}"
        )
    offset = torch.arange(batch, device=edge_index.device).view(batch, 1, 1) * n
    return (edge_index.long() + offset).permute(1, 0, 2).reshape(2, -1)


def node_scalars(sample: Mapping[str, Tensor], names: Sequence[str]) -> Tensor | None:
    """Stack the named node scalar fields ``(B, N)`` or ``(B, N, 1)`` into ``(B, N, C)``."""
    if not names:
        return None
    cols = []
    for name in names:
        if name not in sample:
            raise SpecError(name, f"missing node-scalar field; sample has {sorted(sample)}")
        q = sample[name]
        q = q.reshape(q.shape[0], q.shape[1], -1)
        if q.shape[-1] != 1:
            raise SpecError(name, f"expected one scalar per node, got {tuple(sample[name].shape)}")
        cols.append(q)
    return torch.cat(cols, dim=-1)


class RadialBasis(nn.Module):
    """A smooth radial basis of interatomic distances, times a cosine cutoff::

        gaussian (SchNet, Schütt et al. 2017):  e_k(d) = exp(-(d - mu_k)^2 / (2 delta^2)),
            mu_k = start + k delta, k = 0..n-1, delta = (cutoff - start) / (n - 1)
        bessel (DimeNet, Gasteiger et al. 2020): e_k(d) = sqrt(2 / c) sin(k pi d / c) / d,
            k = 1..n, c = cutoff
        cutoff (Behler 2011):                    f_c(d) = (cos(pi d / c) + 1) / 2 for d < c, else 0

    and returns ``e_k(d) f_c(d)``. A network that reads ``d^2`` itself as one edge scalar
    resolves small displacements only through the slope of its first layer; the basis spreads
    ``d`` over ``n`` localized, bounded features, so the ~0.1 Å changes of a thermal
    configuration (which decide its forces) move the features by O(1). Everything is smooth
    in ``x`` wherever ``d > 0`` (the cutoff makes features and their first derivative vanish
    at ``c``), so forces ``-dE/dx`` and their training gradients exist.

    Written here (a few lines) rather than taken from ``torch_geometric.nn.models.schnet``,
    because this plugin does not depend on PyG and the basis must read the squared distances
    the backbones already compute, with a gradient that stays finite on the zero self-distances
    of the dense path.

    Args:
        n: number of basis functions; cutoff: ``c`` in the position unit (Å).
        basis: ``gaussian`` or ``bessel``; start: first Gaussian centre (ignored by bessel).

    Shapes:
        sq_dist ``(...)`` squared distances -> ``(..., n)``.
    """

    def __init__(self, n: int = 32, cutoff: float = 6.0, basis: str = "gaussian",
                 start: float = 0.0):
        super().__init__()
        self.n, self.cutoff, self.basis, self.start = n, float(cutoff), basis, float(start)
        if basis == "gaussian":
            delta = (cutoff - start) / max(n - 1, 1)
            self.coeff = -0.5 / delta ** 2
        else:
            self.coeff = math.sqrt(2.0 / cutoff)

    def _centres(self, like: Tensor) -> Tensor:
        """Gaussian centres ``mu_k`` or Bessel frequencies ``k pi / c``, in ``like``'s dtype
        (built per call, so a float64 model is float64 throughout; they hold no state)."""
        if self.basis == "gaussian":
            return torch.linspace(self.start, self.cutoff, self.n, dtype=like.dtype,
                                  device=like.device)
        k = torch.arange(1, self.n + 1, dtype=like.dtype, device=like.device)
        return k * (math.pi / self.cutoff)

    def forward(self, sq_dist: Tensor) -> Tensor:
        # d = 0 only on self-pairs or coincident padding: their features are masked out by the
        # caller, and routing them through sqrt(1) keeps the backward free of 0 * inf = nan.
        safe = torch.where(sq_dist > 0, sq_dist, torch.ones_like(sq_dist))
        d = safe.sqrt().unsqueeze(-1)
        mu = self._centres(d)
        if self.basis == "gaussian":
            e = torch.exp(self.coeff * (d - mu).square())
        else:
            e = self.coeff * torch.sin(mu * d) / d
        envelope = 0.5 * (torch.cos(d * (math.pi / self.cutoff)) + 1.0)
        return e * torch.where(d < self.cutoff, envelope, torch.zeros_like(envelope))

    def extra_repr(self) -> str:
        return f"n={self.n}, cutoff={self.cutoff}, basis={self.basis}"


_RBF_OPTIONS = ("n", "cutoff", "basis", "start")


def radial_basis(cfg: Mapping[str, Any] | None, key: str = "edge_rbf") -> RadialBasis | None:
    """The :class:`RadialBasis` of an ``edge_rbf`` option (``{n: 32, cutoff: 6.0, basis:
    gaussian}``), or None when the option is None or false.

    Raises:
        ConfigError: not a mapping, an unknown option, ``n < 1``, ``cutoff <= 0``, an unknown
            basis, or ``start`` not below ``cutoff`` (each named by its key path).
    """
    if cfg is None or cfg is False:
        return None
    if not isinstance(cfg, Mapping):
        raise ConfigError(key, f"expected a mapping with options {list(_RBF_OPTIONS)}, "
                               f"got {cfg!r}")
    for k in cfg:
        if k not in _RBF_OPTIONS:
            raise ConfigError(f"{key}.{k}", f"unknown option; expected one of {list(_RBF_OPTIONS)}")
    n, cutoff = cfg.get("n", 32), cfg.get("cutoff", 6.0)
    basis, start = cfg.get("basis", "gaussian"), cfg.get("start", 0.0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"{key}.n", f"must be a positive integer, got {n!r}")
    if not isinstance(cutoff, (int, float)) or cutoff <= 0:
        raise ConfigError(f"{key}.cutoff", f"must be a positive distance, got {cutoff!r}")
    if basis not in ("gaussian", "bessel"):
        raise ConfigError(f"{key}.basis", f"unknown basis '{basis}'; use gaussian or bessel")
    if not isinstance(start, (int, float)) or start < 0 or start >= cutoff:
        raise ConfigError(f"{key}.start", f"must be in [0, cutoff={cutoff}), got {start!r}")
    return RadialBasis(n, float(cutoff), basis, float(start))
