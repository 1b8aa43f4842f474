"""Images: the group's 2x2 matrix acts on the pixel grid.

Coordinates: ``x`` to the right, ``y`` up, origin at the image centre. An element with
matrix ``R`` maps an image ``f`` to ``(rho(g) f)(p) = f(R^-1 p)``: the picture is rotated
(reflected, scaled) by ``R`` about its centre.

* When ``R`` is a signed permutation matrix (multiples of 90 degrees, with or without a
  reflection) the action is exact, by ``torch.rot90`` / ``torch.flip``. On C4 and D4 it is then
  an exact group homomorphism (``rho(gh) = rho(g) rho(h)`` bit for bit).
* Otherwise the image is resampled bilinearly (``F.grid_sample``, ``align_corners=False``,
  zeros outside the image); this loses the corners and blurs, so it is only approximately a
  homomorphism.

Translations are ignored: the rep factors through the linear part of the group.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from symkit.groups._base import Element, Group, map_element
from symkit.registry import register
from symkit.reps._base import Rep

__all__ = ["Image", "exact_action", "image", "signed_permutation_code"]

_FLIP_Y = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)


def signed_permutation_code(m: Tensor, tol: float = 1e-6) -> Tensor:
    """For each 2x2 matrix: ``k + 4 s`` if it is ``rot(k * 90deg) @ flip_y^s``, else ``-1``.

    Shapes:
        m: ``(n, 2, 2)``; out: ``(n,)`` long.
    """
    m = m.double()
    r = m.round()
    exact = ((m - r).abs().amax(dim=(1, 2)) < tol) & (r.abs().sum(-1) == 1).all(-1)
    first_col = r[:, :, 0]  # (cos, sin) of the rotation part
    k = torch.where(first_col[:, 0] == 1, 0, torch.where(first_col[:, 1] == 1, 1,
                    torch.where(first_col[:, 0] == -1, 2, 3)))
    s = (r[:, 0, 0] * r[:, 1, 1] - r[:, 0, 1] * r[:, 1, 0] < 0).long()
    return torch.where(exact, k + 4 * s, -1)


def exact_action(x: Tensor, code: int) -> Tensor:
    """Apply ``rot(k * 90deg) @ flip_y^s`` (``code = k + 4 s``, see
    :func:`signed_permutation_code`) to images ``(..., H, W)``: flip first, exact."""
    if code >= 4:
        x = torch.flip(x, dims=(-2,))
    return torch.rot90(x, code % 4, dims=(-2, -1))


def _rows(g: Element, a: int, b: int) -> Element:
    return map_element(lambda t: t[a:b], g)


_PIXEL_TABLES: dict[tuple, Tensor] = {}


def _permute_pixels(x: Tensor, codes: Tensor) -> Tensor:
    """:func:`exact_action` with one code per image, as one gather (no loop over codes).

    Shapes:
        x: ``(n, C, H, H)``; codes: ``(n,)`` in ``[0, 8)``; returns ``(n, C, H, H)``.
    """
    n, c, side = x.shape[0], x.shape[1], x.shape[-1]
    key = (side, x.device)
    table = _PIXEL_TABLES.get(key)
    if table is None:  # table[code, p]: the source pixel of pixel p after the action
        grid = torch.arange(side * side, device=x.device).reshape(side, side)
        table = torch.stack([exact_action(grid, k).reshape(-1) for k in range(8)])
        _PIXEL_TABLES[key] = table
    index = table[codes.to(x.device)][:, None, :].expand(n, c, side * side)
    return x.reshape(n, c, side * side).gather(2, index).reshape(x.shape)


_CODE_TABLES: dict[tuple, Tensor | None] = {}
_TABLE_MAX = 4096  # finite planar groups up to this order use a table of their codes


def element_codes(group: Group, g: Element) -> Tensor | None:
    """:func:`signed_permutation_code` of each element's matrix (``None``: no matrix, the
    action is trivial). Finite groups look the codes up in a table of their elements, built once.

    Shapes:
        g: an element batch of size ``n``; returns ``(n,)`` long.
    """
    if not (getattr(group, "is_finite", False) and getattr(group, "dim", None) == 2
            and group.order <= _TABLE_MAX):
        m = group.matrix(g)
        return None if m is None else signed_permutation_code(m)
    first = g
    while isinstance(first, tuple):
        first = first[0]
    key = (type(group), repr(group), first.device)
    if key not in _CODE_TABLES:
        m = group.matrix(group.elements(device=first.device))
        _CODE_TABLES[key] = None if m is None else signed_permutation_code(m).to(first.device)
    table = _CODE_TABLES[key]
    return None if table is None else table[group.element_index(g)]


def _resample(x: Tensor, m: Tensor) -> Tensor:
    """Bilinear ``(rho(m) f)(p) = f(m^-1 p)`` for images ``(n, C, H, W)``, ``m: (n, 2, 2)``."""
    size = x.shape[-1]
    flip = _FLIP_Y.to(m.device)
    # grid_sample's y axis points down: conjugate by the flip to use y-up coordinates
    a = (flip @ torch.linalg.inv(m.double()) @ flip).to(x.dtype)
    c = (2 * torch.arange(size, dtype=x.dtype, device=x.device) + 1) / size - 1
    ys, xs = torch.meshgrid(c, c, indexing="ij")
    base = torch.stack([xs, ys], dim=-1)  # (H, W, 2), (x, y) in grid_sample order
    grid = torch.einsum("nij,hwj->nhwi", a, base)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class Image(Rep):
    """A square image on which a planar group acts by rotating/reflecting the pixel grid.

    Exact (rot90/flip) for 90-degree multiples and axis reflections, bilinear resampling
    otherwise; see the module docstring for the conventions.

    Shapes:
        x: ``(n, ..., C, H, W)`` with ``H == W``.
    """

    feature_ndim = 3

    def act_factor(self, group: Group, g: Element, x: Tensor) -> Tensor:
        codes = element_codes(group, g)
        if codes is None:
            return x
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"image rep needs square images, got shape {tuple(x.shape)}")
        flat = x.reshape(x.shape[0], -1, *x.shape[-2:])
        change = (codes[1:] != codes[:-1]).nonzero().squeeze(1).add(1).tolist()
        bounds = [0, *change, len(codes)]
        if len(bounds) - 1 <= 8:  # few runs (element-major batches): turn slices, no gather
            runs = [(a, b, int(codes[a])) for a, b in zip(bounds, bounds[1:])]
            if len(runs) == 1 and runs[0][2] >= 0:
                return exact_action(flat, runs[0][2]).reshape(x.shape)
            out = torch.empty_like(flat)
            for a, b, code in runs:
                out[a:b] = (exact_action(flat[a:b], code) if code >= 0
                            else _resample(flat[a:b], group.matrix(_rows(g, a, b))))
            return out.reshape(x.shape)
        exact = codes >= 0
        if bool(exact.all()):  # one gather through a table of the 8 pixel permutations
            return _permute_pixels(flat, codes).reshape(x.shape)
        out = torch.empty_like(flat)
        rows = exact.nonzero().squeeze(1)
        out[rows] = _permute_pixels(flat[rows], codes[rows])
        rows = (~exact).nonzero().squeeze(1)
        out[rows] = _resample(flat[rows], group.matrix(g)[rows.to(codes.device)])
        return out.reshape(x.shape)

    def supports(self, group: Group) -> bool:
        return all(f.dim in (None, 2) for f in group.factors())

    def is_exact(self, group: Group) -> bool:
        for f in group.factors():
            if f.dim is None or f.matrix(f.identity(1)) is None:
                continue
            if not f.is_finite or bool((signed_permutation_code(f.matrix(f.elements())) < 0).any()):
                return False
        return True

    def __repr__(self) -> str:
        return "Image"


@register("reps", "image")
def image() -> Image:
    """Square image ``(C, H, W)``: exact rot90/flip for C4/D4, bilinear resampling otherwise."""
    return Image()
