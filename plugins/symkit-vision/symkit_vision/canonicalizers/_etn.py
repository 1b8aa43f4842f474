"""Equivariant Transformer Networks: pose predictors in canonical coordinates.

Tai, Bailis and Valiant (2019, "Equivariant Transformer Networks", ICML). For a one-parameter
(or abelian two-parameter) group of image transformations there are *canonical coordinates*
in which the group acts by translation. For rotations and scalings about a centre ``c``
these are log-polar coordinates ``(rho, phi) = (log |p - c|, angle(p - c))``:

    x' = R_alpha s . x   <=>   P'(rho, phi) = P(rho - log s, phi - alpha),

with ``P`` the image resampled on a log-polar grid. A CNN that is translation-equivariant on
that grid (circular along ``phi``, zero-padded along ``rho``) maps ``P`` to a heat map whose
soft arg-max moves with the transformation; reading the pose off it (a circular mean over
``phi``, a mean over ``rho``) gives ``h(x) = R_theta(x) s(x)`` with ``h(g x) = g h(x)``. The
image is then resampled into its canonical pose ``h(x)^-1 x`` before the backbone (symkit's
``canonicalization`` symmetrizer does that step).

*Composable*: ``transforms`` lists pose predictors applied in turn, each on the image already
put into the pose the previous ones predicted (``[rotation, scale]``: derotate, then
normalize the scale), or one joint predictor (``[rotation_scale]``). The centre of the
log-polar grid is itself a pose in ordinary (Cartesian) coordinates, where translations act
by translation: ``center: centroid`` uses the intensity centroid ``c(x) = sum_p |x_p| p /
sum_p |x_p|``, which moves with rotations and scalings about the image centre, so an
off-centre object is still read about itself; ``center: learned`` predicts it, the soft
arg-max of a square-symmetric convolutional heat map in ordinary coordinates
(:mod:`._translation_pose`), exact for quarter turns as well. symkit's image
representation acts through the linear part of a group (module :mod:`symkit.reps._image`), so
translations are not canonicalized into the element; they only choose the origin of the
canonical coordinates.

**Exactness.** Bilinear sampling on a square pixel grid commutes with its rot90/flip
symmetries, so with ``n_angles`` a multiple of 4 the predicted pose is exact (to rounding)
for quarter turns: ``is_exact`` is ``True`` and the conformance suite checks it on
:class:`~symkit.testing.QuarterTurns`. Any other angle, and every scaling, resamples the
image (and crops or pads it at the border) before the pose is read, so there the model is
equivariant only up to resampling error, which ``symkit check`` measures and prints (the
image representation is not exact on SO(2) or scalings, so nothing claims more). Inputs
whose heat map has no preferred angle (a mean resultant below ``1e-6``, e.g. a blank image)
are ``flagged``.

Cost: one pose-network call per transform (and one translation-pose call with
``center: learned``) on a ``(C, n_radii, n_angles)`` log-polar image,
plus one backbone call per input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symkit.canonicalizers import Canonicalizer
from symkit.errors import ConfigError
from symkit.groups import Group, Scaling, SpecialOrthogonal
from symkit.reps import Image
from symkit.spec import Spec
from symkit_vision.canonicalizers._translation_pose import TranslationPose

__all__ = ["EquivariantTransformer", "LogPolarPose", "equivariant_transformer", "log_polar",
           "intensity_centroid", "TRANSFORMS"]

#: the pose predictors and the group factors they produce
TRANSFORMS = {"rotation": ("rotation",), "scale": ("scale",),
              "rotation_scale": ("rotation", "scale")}
CENTERS = ("image", "centroid", "learned")
_DEGENERATE = 1e-6


def _factor_kind(f: Group) -> str | None:
    if isinstance(f, SpecialOrthogonal) and f.dim == 2:
        return "rotation"
    if isinstance(f, Scaling) and f.dim == 2:
        return "scale"
    return None


def intensity_centroid(x: Tensor) -> Tensor:
    """``c(x) = sum_p |x_p| p / sum_p |x_p|`` in the image's ``(x right, y up)`` coordinates
    (``[-1, 1]``, pixel centres); ``0`` for a blank image.

    Shapes:
        x: ``(B, C, S, S)``; returns ``(B, 2)``.
    """
    size = x.shape[-1]
    c = (2 * torch.arange(size, dtype=x.dtype, device=x.device) + 1) / size - 1
    w = x.abs().sum(1)  # (B, S, S): rows run down, so y = -c[row]
    total = w.sum((1, 2))
    safe = torch.where(total > 0, total, torch.ones_like(total))
    cx = (w.sum(1) * c).sum(-1) / safe
    cy = -(w.sum(2) * c).sum(-1) / safe
    return torch.stack([cx, cy], -1)


def log_polar(x: Tensor, center: Tensor, n_radii: int, n_angles: int, r_min: float) -> Tensor:
    """The image sampled bilinearly at ``c + r_i (cos phi_j, sin phi_j)``, with
    ``r_i = r_min^(1 - i / (n_radii - 1))`` (log-spaced up to the half-width 1) and
    ``phi_j = 2 pi j / n_angles``; zeros outside the image.

    Shapes:
        x: ``(B, C, S, S)``; center: ``(B, 2)``; returns ``(B, C, n_radii, n_angles)``.
    """
    rho = torch.linspace(math.log(r_min), 0.0, n_radii, dtype=torch.float64)
    phi = 2 * math.pi * torch.arange(n_angles, dtype=torch.float64) / n_angles
    r = rho.exp()[:, None]
    px = (r * phi.cos()).to(x.dtype).to(x.device)
    py = (r * phi.sin()).to(x.dtype).to(x.device)
    gx = center[:, 0, None, None] + px
    gy = -(center[:, 1, None, None] + py)  # grid_sample's y points down
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class LogPolarPose(nn.Module):
    """A heat map over the log-polar grid, equivariant to its translations (circular in
    ``phi``, zero-padded in ``rho``), read as a pose.

    Args:
        channels: image channels; hidden: convolution width; n_radii, n_angles: grid size.

    Shapes:
        polar: ``(B, C, n_radii, n_angles)``; returns the angle ``(B,)`` (circular mean of the
        heat map ``p = softmax(heat)`` over ``phi``), the log scale ``(B,)`` (mean of ``rho``
        under ``p`` tilted by the image's own mass ``|P| r^2``, so an untrained network already
        reads the intensity's mean log radius) and the mean resultant length ``(B,)``.
    """

    def __init__(self, channels: int, hidden: int, n_radii: int, n_angles: int,
                 r_min: float):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(channels, hidden, 5), nn.Conv2d(hidden, hidden, 5),
                                    nn.Conv2d(hidden, 1, 3)])
        rho = torch.linspace(math.log(r_min), 0.0, n_radii, dtype=torch.float64)
        phi = 2 * math.pi * torch.arange(n_angles, dtype=torch.float64) / n_angles
        self.register_buffer("rho", rho, persistent=False)
        self.register_buffer("cos_sin", torch.stack([phi.cos(), phi.sin()]), persistent=False)

    def forward(self, polar: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = polar
        for i, conv in enumerate(self.convs):
            k = conv.kernel_size[0] // 2
            h = F.pad(F.pad(h, (k, k, 0, 0), mode="circular"), (0, 0, k, k))
            h = conv(h)
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        b = h.shape[0]
        heat = h.reshape(b, -1)
        p = torch.softmax(heat, -1).reshape(b, *h.shape[2:])
        cs = p.sum(1) @ self.cos_sin.to(p.dtype).T  # (B, 2): mean (cos, sin) over the angles
        angle = torch.atan2(cs[:, 1], cs[:, 0])
        # scale: the heat map tilts the image's own mass |P| r^2 d(rho) d(phi) on the grid
        mass = polar.abs().sum(1) * (2 * self.rho).exp().to(polar.dtype)[:, None]
        q = torch.softmax(heat, -1) * mass.reshape(b, -1)
        q = q / q.sum(-1, keepdim=True).clamp_min(torch.finfo(q.dtype).tiny)
        log_scale = q.reshape(b, *h.shape[2:]).sum(2) @ self.rho.to(q.dtype)
        return angle, log_scale, cs.norm(dim=-1)


class EquivariantTransformer(Canonicalizer):
    """``h(x)`` read from log-polar heat maps (Tai et al. 2019); see the module docs.

    Args:
        group: SO(2), ``scaling`` with ``d = 2``, or their direct product (either order).
        in_spec: input spec (the image field is found there).
        transforms: pose predictors in the order they run, from ``rotation``, ``scale``,
            ``rotation_scale``; together they must cover the group's factors once each
            (default: one predictor for the whole group).
        center: ``image`` (the image centre), ``centroid`` (the intensity centroid) or
            ``learned`` (a translation pose network in ordinary coordinates).
        field: the image field (default: the first ``image`` field).
        channels: image channels ``C``; hidden: width of each pose network.
        n_radii, n_angles: log-polar grid (``n_angles`` a multiple of 4 keeps quarter turns
            exact); r_min: smallest radius (the half-width is 1).

    Shapes:
        ``sample[field]``: ``(B, C, S, S)``; returns an element batch of size ``B``.

    Raises:
        ConfigError: a group it cannot produce, an unknown or repeated transform, an unknown
            centre, no image field, or grid sizes out of range.
    """

    def __init__(self, group: Group, in_spec: Spec, *, transforms: Sequence[str] | None = None,
                 center: str = "image", field: str | None = None, channels: int = 1,
                 hidden: int = 16, n_radii: int = 16, n_angles: int = 32, r_min: float = 0.05):
        nn.Module.__init__(self)
        kinds = [_factor_kind(f) for f in group.factors()]
        if not self.supports(group):
            raise ConfigError("canonicalizer", f"equivariant_transformer makes elements of "
                              f"SO(2), scaling (d=2) or their product, not {group!r}")
        transforms = list(transforms) if transforms is not None else (
            ["rotation_scale"] if len(kinds) == 2 else [("rotation" if kinds == ["rotation"]
                                                         else "scale")])
        for i, t in enumerate(transforms):
            if t not in TRANSFORMS:
                raise ConfigError(f"canonicalizer.transforms.{i}", f"unknown transform {t!r}; "
                                  f"use {sorted(TRANSFORMS)}")
        made = [k for t in transforms for k in TRANSFORMS[t]]
        if sorted(made) != sorted(kinds):
            raise ConfigError("canonicalizer.transforms", f"{transforms} produce {made}, but "
                              f"{group!r} needs each of {kinds} exactly once")
        if center not in CENTERS:
            raise ConfigError("canonicalizer.center", f"unknown centre {center!r}; use {CENTERS}")
        if n_angles < 4 or n_radii < 2 or not 0 < r_min < 1:
            raise ConfigError("canonicalizer", "need n_angles >= 4, n_radii >= 2 and "
                              f"0 < r_min < 1, got {n_angles}, {n_radii}, {r_min}")
        if field is None:
            field = next((n for n, f in in_spec.items() if isinstance(f.rep, Image)), None)
        if field is None or field not in in_spec:
            raise ConfigError("canonicalizer.field", f"no image field in the in_spec {in_spec!r}")
        self.group, self.in_spec, self.field, self.center = group, in_spec, field, center
        self.transforms, self._kinds = transforms, kinds
        self.grid = (n_radii, n_angles, r_min)
        self.poses = nn.ModuleList([LogPolarPose(channels, hidden, n_radii, n_angles, r_min)
                                    for _ in transforms])
        self.translation = TranslationPose(channels, hidden) if center == "learned" else None
        self._metrics, self.flagged = {}, None

    #: exact for quarter turns; on other elements up to resampling error (module docs)
    is_exact = True

    @classmethod
    def supports(cls, group: Group) -> bool:
        """SO(2), ``scaling`` (d = 2) and their direct product, one factor of each at most."""
        kinds = [_factor_kind(f) for f in group.factors()]
        return None not in kinds and len(set(kinds)) == len(kinds)

    def forward(self, sample: Mapping[str, Tensor]) -> object:
        x = sample[self.field]
        x = x.reshape(x.shape[0], -1, *x.shape[-2:])
        if x.is_floating_point() and self.poses[0].convs[0].weight.dtype != x.dtype:
            self.to(x.dtype)  # follow the data (float64 checks, half precision)
        b = x.shape[0]
        angle = torch.zeros(b, dtype=x.dtype, device=x.device)
        log_scale = torch.zeros_like(angle)
        flagged = torch.zeros(b, dtype=torch.bool, device=x.device)
        current = x
        for i, (name, pose) in enumerate(zip(self.transforms, self.poses)):
            if i:  # put the image into the pose predicted so far, then read the rest
                current = _undo(x, angle, log_scale)
            center = (intensity_centroid(current) if self.center == "centroid" else
                      self.translation(current) if self.translation is not None else
                      current.new_zeros(b, 2))
            a, s, resultant = pose(log_polar(current, center, *self.grid))
            if "rotation" in TRANSFORMS[name]:
                angle = angle + a
                flagged |= resultant < _DEGENERATE
            if "scale" in TRANSFORMS[name]:
                log_scale = log_scale + s
        self.flagged = flagged
        self._metrics = {"degenerate_fraction": lambda f=flagged: float(f.float().mean())
                         if f.numel() else 0.0}
        c, s = angle.cos(), angle.sin()
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        parts = [rot if k == "rotation" else log_scale.exp() for k in self._kinds]
        return parts[0] if len(parts) == 1 else tuple(parts)


def _undo(x: Tensor, angle: Tensor, log_scale: Tensor) -> Tensor:
    """``(R_angle e^log_scale)^-1 . x`` by the image representation's resampling."""
    c, s = angle.cos(), angle.sin()
    m = torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)  # R^-1
    m = m * (-log_scale).exp()[:, None, None]
    return Image().act_factor(_Linear(), m, x)


class _Linear:
    """Stands in for a plane group whose elements are their own 2 x 2 matrices."""

    @staticmethod
    def matrix(g: Tensor) -> Tensor:
        return g


def equivariant_transformer(group: Group, in_spec: Spec, *, transforms: list[str] | None = None,
                            center: str = "image", field: str | None = None, channels: int = 1,
                            hidden: int = 16, n_radii: int = 16, n_angles: int = 32,
                            r_min: float = 0.05) -> EquivariantTransformer:
    """Equivariant transformer (Tai et al. 2019): rotation/scale pose in log-polar coordinates.

    Args:
        transforms: pose predictors in order (``rotation``, ``scale``, ``rotation_scale``).
        center: ``image``, ``centroid`` or ``learned`` (the origin of the log-polar grid).
        field: the image field; channels: image channels; hidden: pose-network width.
        n_radii, n_angles, r_min: the log-polar grid.
        group, in_spec: filled from the model's context.
    """
    return EquivariantTransformer(group, in_spec, transforms=transforms, center=center,
                                  field=field, channels=channels, hidden=hidden,
                                  n_radii=n_radii, n_angles=n_angles, r_min=r_min)


equivariant_transformer.supports = EquivariantTransformer.supports
