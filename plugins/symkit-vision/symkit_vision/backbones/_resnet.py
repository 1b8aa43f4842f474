"""A small residual network for small images (MNIST, CIFAR-sized)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from symkit.backbones import OutputHeads
from symkit_vision.backbones._io import image_writes, read_image

__all__ = ["BasicBlock", "ResNetSmall", "resnet_small"]


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class BasicBlock(nn.Module):
    """``x -> relu(x' + norm(conv(relu(norm(conv(x))))))`` with ``x'`` a strided 1x1 projection
    when the shape changes (He et al., 2016).

    Shapes:
        x: ``(B, C_in, H, W)`` -> ``(B, C_out, H / stride, W / stride)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), _norm(out_channels),
            nn.ReLU(), nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            _norm(out_channels),
        )
        self.skip = nn.Identity() if stride == 1 and in_channels == out_channels else \
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                          _norm(out_channels))
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.skip(x))


class ResNetSmall(nn.Module):
    """A stem conv, stages of :class:`BasicBlock` (each stage after the first downsamples by
    2), global average pooling and linear heads. GroupNorm, not BatchNorm, so every image is
    processed independently of its batch.

    Args:
        in_channels: image channels ``C``.
        widths: channels of each stage.
        blocks: residual blocks per stage.
        writes: output fields and per-image shapes (default ``{logits: [10]}``).
        reads: the image field.
        dropout: dropout before the heads.

    Shapes:
        sample[reads]: ``(B, C, H, W)`` -> ``{logits: (B, 10)}``.
    """

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (16, 32, 64),
                 blocks: int = 2, writes: Mapping[str, Any] | None = None,
                 reads: str = "image", dropout: float = 0.0):
        super().__init__()
        self.reads = reads
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                   _norm(widths[0]), nn.ReLU()]
        width = widths[0]
        for i, w in enumerate(widths):
            for j in range(blocks):
                layers.append(BasicBlock(width, w, stride=2 if i > 0 and j == 0 else 1))
                width = w
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = OutputHeads(image_writes(writes), width, dropout=dropout)

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.heads(None, self.features(read_image(sample, self.reads)))


def resnet_small(in_channels: int = 1, widths: Sequence[int] = (16, 32, 64), blocks: int = 2,
                 writes: Mapping[str, Any] | None = None, reads: str = "image",
                 dropout: float = 0.0) -> ResNetSmall:
    """Small ResNet (basic blocks, GroupNorm) for 28x28-sized images."""
    return ResNetSmall(in_channels, widths, blocks, writes, reads, dropout)
