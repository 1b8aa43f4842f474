"""Spatial Transformer Networks as a canonicalizer: a learned, NON-equivariant baseline.

Jaderberg et al. (2015, "Spatial Transformer Networks") put a *localization network* in front
of a classifier: a small CNN regresses the parameters of a transformation, the input is
resampled by its inverse, and the classifier sees the result. Seen through symkit's shared
forward ``f(x) = h(x) . backbone(h(x)^-1 x)`` that is canonicalization with a learned ``h``:

* ``mode: rotation``: ``h(x) = R(theta)`` with ``(cos, sin) ~ (1 + a, b)``, ``(a, b)`` regressed;
  for SO(2) and O(2) (rotations only);
* ``mode: affine``: ``h(x) = R(theta) exp(S)``, ``S`` symmetric (three numbers), so
  ``det h > 0`` always; for groups of invertible 2 x 2 matrices with positive determinant, such
  as ``lie::glp`` or ``lie::affine`` from contrib/symkit-lie (translations: symkit's image rep
  acts through the linear part, so none is predicted).

The last layer starts near zero, so ``h`` is near ``I`` before training (the identity
initialization of the paper, up to weights of standard deviation ``1e-2``: symkit's image rep
takes an exact, gradient-free ``rot90`` path at exact quarter turns, so an exactly-identity
start would never receive a gradient).

Nothing constrains ``h(g x) = g h(x)``: the localization network is a plain CNN. The
canonicalizer therefore claims no equivariance, on any group: :meth:`supports` is ``False``
and ``is_exact`` is ``False``, so the canonicalization symmetrizer around it reports
``is_exact = False`` and ``symkit check`` shows the measured error for what it is. It is the
baseline that equivariant (learned) canonicalizers are compared with: same cost, no guarantee.

Cost: one localization-network call (a CNN much smaller than the backbone) plus one backbone
call per input, like every canonicalizer.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.canonicalizers import Canonicalizer
from symkit.errors import ConfigError
from symkit.groups import Group
from symkit.reps import Image
from symkit.spec import Spec

__all__ = ["SpatialTransformer", "spatial_transformer", "MODES"]

#: number of regressed parameters per mode
MODES = {"rotation": 2, "affine": 5}


def _element_kind(group: Group) -> str | None:
    """``matrix`` (elements are 2 x 2 matrices), ``homogeneous`` (3 x 3 ``[[A, t], [0, 1]]``)
    or ``None`` (anything else: finite groups, products, groups without a plane)."""
    if group.dim != 2 or group.is_finite or len(group.factors()) != 1:
        return None
    ident = group.identity(1)
    if not isinstance(ident, Tensor) or not ident.is_floating_point():
        return None
    if ident.shape == (1, 2, 2) and torch.equal(group.matrix(ident), ident):
        return "matrix"
    if ident.shape == (1, 3, 3) and group.translation(ident) is not None:
        return "homogeneous"
    return None


class SpatialTransformer(Canonicalizer):
    """``h(x)`` regressed by a localization CNN (Jaderberg et al. 2015); not equivariant.

    Args:
        group: a planar continuous group whose elements are 2 x 2 matrices (SO(2), O(2),
            ``lie::glp`` with ``d = 2``) or homogeneous 3 x 3 ones (``lie::affine``, ``e2``,
            ``se2``); ``affine`` mode needs one with general matrices (not orthogonal).
        in_spec: input spec (the image field is found there).
        mode: ``rotation`` or ``affine`` (see module docs).
        field: the image field (default: the first ``image`` field).
        channels: image channels ``C``.
        hidden: width of the localization network.

    Shapes:
        ``sample[field]``: ``(B, C, H, W)``; returns an element batch of size ``B``.

    Raises:
        ConfigError: unknown ``mode``, no image field, or a group it cannot produce elements of.
    """

    #: claims no equivariance: the canonicalization symmetrizer then reports ``is_exact=False``
    is_exact = False

    def __init__(self, group: Group, in_spec: Spec, *, mode: str = "rotation",
                 field: str | None = None, channels: int = 1, hidden: int = 32):
        # Canonicalizer.__init__ refuses groups that supports() rejects, and an STN supports
        # (is equivariant for) none: it checks where it can *run* instead.
        nn.Module.__init__(self)
        if mode not in MODES:
            raise ConfigError("canonicalizer.mode", f"unknown mode {mode!r}; use one of "
                              f"{sorted(MODES)}")
        kind = _element_kind(group)
        if kind is None or (mode == "affine" and group.orthogonal):
            raise ConfigError("canonicalizer", f"spatial_transformer ({mode}) cannot make "
                              f"elements of {group!r}: it needs a continuous planar group of "
                              "2x2 matrices" + (" with non-orthogonal elements (e.g. "
                              "lie::glp, lie::affine)" if mode == "affine" else ""))
        if field is None:
            field = next((n for n, f in in_spec.items() if isinstance(f.rep, Image)), None)
        if field is None or field not in in_spec:
            raise ConfigError("canonicalizer.field", f"no image field in the in_spec {in_spec!r}")
        self.group, self.in_spec, self.mode, self.field, self._kind = (
            group, in_spec, mode, field, kind)
        self._metrics = {}
        self.flagged = None
        self.localization = nn.Sequential(
            nn.Conv2d(channels, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(16 * 16, hidden), nn.ReLU(), nn.Linear(hidden, MODES[mode]),
        )
        nn.init.normal_(self.localization[-1].weight, std=1e-2)  # h near I (module docs)
        nn.init.zeros_(self.localization[-1].bias)

    @classmethod
    def supports(cls, group: Group) -> bool:
        """``False`` for every group: a spatial transformer is not equivariant (module docs)."""
        return False

    def forward(self, sample: Mapping[str, Tensor]) -> Tensor:
        x = sample[self.field]
        theta = self.localization(x.reshape(x.shape[0], -1, *x.shape[-2:]))
        cos_sin = theta[:, :2] + torch.tensor([1.0, 0.0], dtype=theta.dtype,
                                              device=theta.device)
        cos_sin = cos_sin / cos_sin.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        c, s = cos_sin.unbind(-1)
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        if self.mode == "affine":
            a, b, d = theta[:, 2:].unbind(-1)
            sym = torch.stack([torch.stack([a, b], -1), torch.stack([b, d], -1)], -2)
            rot = rot @ torch.linalg.matrix_exp(sym)
        if self._kind == "matrix":
            return rot
        out = torch.zeros(x.shape[0], 3, 3, dtype=rot.dtype, device=rot.device)
        out[:, :2, :2] = rot
        out[:, 2, 2] = 1.0
        return out


def spatial_transformer(group: Group, in_spec: Spec, *, mode: str = "rotation",
                        field: str | None = None, channels: int = 1,
                        hidden: int = 32) -> SpatialTransformer:
    """Spatial transformer (Jaderberg et al. 2015): a learned, non-equivariant image canonicalizer.

    Args:
        mode: ``rotation`` (SO(2)/O(2)) or ``affine`` (2x2 matrices with ``det > 0``).
        field: the image field (default: the first ``image`` field).
        channels: image channels.
        hidden: width of the localization network.
        group, in_spec: filled from the model's context.
    """
    return SpatialTransformer(group, in_spec, mode=mode, field=field, channels=channels,
                              hidden=hidden)


spatial_transformer.supports = SpatialTransformer.supports
