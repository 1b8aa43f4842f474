"""Image networks that are equivariant by construction on the pixel grid.

* :class:`LiftingScores`: a group-equivariant CNN for a finite planar group whose image action
  is exact (C1, C2, C4, D1, D2, D4: 90-degree rotations and axis flips). The lifting
  convolution correlates the image with the filter copies ``rho(g) W`` for every element ``g``;
  since ``(rho(g) W) * (rho(h) x) = rho(h) ((rho(h^-1 g) W) * x)`` and global pooling is
  invariant, the scores satisfy ``score_g(h . x) = score_{h^-1 g}(x)``: they permute like the
  regular representation, so ``argmax`` is equivariant.
* :class:`ImageVectors`: convolutions with D4-invariant kernels followed by first moments
  ``v_c = mean_p a_c(p) p`` over centred pixel coordinates ``p``. The ``v_c`` are vectors:
  exactly equivariant for the 90-degree rotations and flips of the grid, approximately (up to
  the resampling of the grid) for other angles, which is the best an image allows.

Invariant noise enters as extra constant channels (a constant image is fixed by the action).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symkit.groups._base import Group
from symkit.reps._image import Image

__all__ = ["LiftingScores", "ImageVectors", "with_noise_channels", "pixel_coordinates"]


def with_noise_channels(x: Tensor, noise: Tensor | None) -> Tensor:
    """Append each sample's noise vector as constant channels.

    Shapes:
        x: ``(B, C, H, W)``; noise: ``(B, m)``; returns ``(B, C + m, H, W)``.
    """
    if noise is None or noise.shape[-1] == 0:
        return x
    const = noise.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
    return torch.cat([x, const], dim=1)


def pixel_coordinates(size: int, dtype: torch.dtype, device=None) -> Tensor:
    """Centred coordinates ``(x, y)`` of each pixel, ``x`` right and ``y`` up (the image rep's).

    Shapes:
        returns ``(2, size, size)``.
    """
    c = (2 * torch.arange(size, dtype=dtype, device=device) + 1) / size - 1
    ys, xs = torch.meshgrid(-c, c, indexing="ij")
    return torch.stack([xs, ys])


class LiftingScores(nn.Module):
    """One score per element of a finite planar group: a lifting G-CNN with global pooling.

    Args:
        group: a finite group whose image action is exact (see :meth:`Image.is_exact`).
        in_channels: image channels (plus noise channels).
        hidden: channels per group element.
        kernel_size: odd filter size.

    Shapes:
        x: ``(B, C, H, W)`` square; returns ``(B, |G|)`` ordered like ``group.elements()``.
    """

    def __init__(self, group: Group, in_channels: int, hidden: int = 16, kernel_size: int = 5):
        super().__init__()
        self.group, self.rep = group, Image()
        self.weight = nn.Parameter(torch.randn(hidden, in_channels, kernel_size, kernel_size)
                                   / (in_channels * kernel_size**2) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.mix = nn.Conv2d(hidden, hidden, 1)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        elements = self.group.elements(device=x.device)
        n = self.group.order
        filters = self.rep.act(self.group, elements, self.weight.unsqueeze(0).expand(n, -1, -1, -1,
                                                                                     -1))
        h = F.conv2d(x, filters.reshape(-1, *filters.shape[2:]), self.bias.repeat(n),
                     padding=self.weight.shape[-1] // 2)
        b, _, hh, ww = h.shape
        h = torch.relu(h).reshape(b * n, h.shape[1] // n, hh, ww)  # explicit: also for b = 0
        # the 1x1 convolution as an einsum: same parameters, ~10x faster on CPU for few channels
        # (oneDNN reorders dominate a 1x1 conv with a handful of channels)
        mixed = torch.einsum("oc,bchw->bohw", self.mix.weight[:, :, 0, 0], h)
        h = torch.relu(mixed + self.mix.bias[:, None, None]).mean(dim=(-1, -2))
        return self.out(h).reshape(b, n)


class D4InvariantConv(nn.Module):
    """A convolution whose kernel is averaged over the 8 symmetries of the square.

    Shapes:
        x: ``(B, C_in, H, W)``; returns ``(B, C_out, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size)
                                   / (in_channels * kernel_size**2) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def kernel(self) -> Tensor:
        rots = [torch.rot90(self.weight, k, dims=(-2, -1)) for k in range(4)]
        rots += [torch.flip(r, dims=(-2,)) for r in rots]
        return torch.stack(rots).mean(0)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.kernel(), self.bias, padding=self.weight.shape[-1] // 2)


class ImageVectors(nn.Module):
    """``m`` vectors ``v_c = mean_p a_c(p) p`` from D4-invariant convolution features ``a``.

    Args:
        in_channels: image channels (plus noise channels).
        num_vectors: ``m``.
        hidden: feature channels.
        layers: number of D4-invariant convolutions.

    Shapes:
        x: ``(B, C, H, W)`` square; returns ``(B, 2, m)`` (vectors as columns) and the
        reference size ``mean_p |a_c(p)| |p|`` of each vector ``(B, m)`` (its norm if nothing
        cancelled; see :func:`._matrices.complete_frame`).
    """

    def __init__(self, in_channels: int, num_vectors: int, hidden: int = 16, layers: int = 2):
        super().__init__()
        dims = [in_channels] + [hidden] * layers
        self.convs = nn.ModuleList(D4InvariantConv(a, b) for a, b in zip(dims, dims[1:]))
        self.head = nn.Conv2d(hidden, num_vectors, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for conv in self.convs:
            h = torch.tanh(conv(h))
        a = self.head(h)  # (B, m, H, W)
        p = pixel_coordinates(x.shape[-1], x.dtype, x.device)  # (2, H, W)
        area = x.shape[-1] * x.shape[-2]
        size = torch.einsum("bmhw,hw->bm", a.detach().abs(), p.norm(dim=0)) / area
        return torch.einsum("bmhw,dhw->bdm", a, p) / area, size
