"""A learned translation pose in ordinary (Cartesian) coordinates, for the equivariant
transformer's ``center: learned``.

Translations act on pixel coordinates by translation, so ordinary coordinates are their
canonical coordinates (Tai et al. 2019): a convolutional heat map moves with the image, and its
soft arg-max is a translation pose: ``c(x) = sum_p q_p p`` with ``q ∝ softmax(heat) |x|`` (the
heat map tilting the image's own mass, so an untrained network reads the intensity centroid;
a blank image gives ``c = 0``). The convolutions here
use kernels averaged over the eight symmetries of the square (``K = 1/8 sum_{s in D4} s . W``)
and odd sizes with symmetric zero padding, so the heat map also commutes with rot90 and flips
about the image centre: ``c(g x) = g c(x)`` exactly for quarter turns, which keeps the
log-polar stages that read about ``c(x)`` exact there. For other angles, scalings and
translations that move content across the border, it is equivariant up to resampling and
cropping, like everything on a pixel grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SquareSymmetricConv", "TranslationPose"]


class SquareSymmetricConv(nn.Module):
    """A ``k x k`` convolution (``k`` odd, zero padding ``k // 2``) whose kernel is averaged over
    the dihedral group of the square, so it commutes with rot90 and flips of the image.

    Shapes:
        x: ``(B, C_in, H, W)``; returns ``(B, C_out, H, W)``.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, c_in, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(c_out))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)

    def kernel(self) -> Tensor:
        w = self.weight
        turns = [torch.rot90(w, k, dims=(-2, -1)) for k in range(4)]
        return torch.stack(turns + [torch.flip(t, dims=(-1,)) for t in turns]).mean(0)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.kernel(), self.bias, padding=self.weight.shape[-1] // 2)


class TranslationPose(nn.Module):
    """``c(x)``: the soft arg-max of a square-symmetric convolutional heat map (tilted by the
    image's mass ``|x|``), in the image's
    ``(x right, y up)`` coordinates (``[-1, 1]``, pixel centres).

    Args:
        channels: image channels; hidden: convolution width.

    Shapes:
        x: ``(B, C, S, S)``; returns ``(B, 2)``.
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.convs = nn.ModuleList([SquareSymmetricConv(channels, hidden, 5),
                                    SquareSymmetricConv(hidden, hidden, 5),
                                    SquareSymmetricConv(hidden, 1, 3)])

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        b, size = h.shape[0], h.shape[-1]
        # the heat map tilts the image's own mass |x_p| (an untrained network: the centroid)
        mass = x.abs().sum(1).reshape(b, -1)
        p = torch.softmax(h.reshape(b, -1), -1) * mass
        p = p / p.sum(-1, keepdim=True).clamp_min(torch.finfo(p.dtype).tiny)
        p = p.reshape(b, size, size)
        c = (2 * torch.arange(size, dtype=x.dtype, device=x.device) + 1) / size - 1
        return torch.stack([(p.sum(1) * c).sum(-1), -(p.sum(2) * c).sum(-1)], -1)
