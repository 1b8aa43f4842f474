"""A small residual CNN for images: ``(B, C, H, W) -> logits``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from symkit.backbones._fields import OutputHeads, parse_writes, resolve_reads
from symkit.backbones._fields import activation as make_activation
from symkit.errors import ConfigError, SpecError
from symkit.registry import register

__all__ = ["CNN", "ResidualBlock", "cnn"]


class ResidualBlock(nn.Module):
    """``y = s(x' + BN(conv(s(BN(conv(x))))))`` with a strided 1x1 projection ``x'`` when the
    shape changes (He et al. 2016, basic block)."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
            make_activation(act),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
        )
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.skip(x) + self.body(x))


class CNN(nn.Module):
    """Stem convolution, one residual block per stage (stride 2 after the first), global
    average pooling, one linear head per written field.

    Args:
        read: the image field name.
        writes: output field -> per-sample shape, e.g. ``{logits: [10]}``.
        channels: channels of each stage.
        activation: activation name.

    Shapes:
        image: ``(B, C, H, W)`` (or ``(B, H, W)``, read as one channel); outputs ``(B, *shape)``.
    """

    def __init__(self, read: str, writes: Mapping[str, Sequence[int]],
                 channels: Sequence[int] = (32, 64, 128), activation: str = "relu"):
        super().__init__()
        shapes = parse_writes(writes, per_node=False)
        if not channels:
            raise ConfigError("channels", "needs at least one stage width")
        self.read = read
        c = list(channels)
        self.stem = nn.Sequential(
            nn.LazyConv2d(c[0], 3, padding=1, bias=False), nn.BatchNorm2d(c[0]),
            make_activation(activation),
        )
        self.stages = nn.Sequential(*(
            ResidualBlock(c[max(i - 1, 0)], c[i], 1 if i == 0 else 2, activation)
            for i in range(len(c))
        ))
        self.heads = OutputHeads(shapes, in_features=c[-1])

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.read not in sample:
            raise SpecError(self.read, f"missing image field; sample has {sorted(sample)}")
        x = sample[self.read]
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4:
            raise SpecError(self.read, f"expected an image (B, C, H, W), got {tuple(x.shape)}")
        h = self.stages(self.stem(x)).mean(dim=(-2, -1))
        return self.heads(None, h)



@register("backbones", "cnn")
def cnn(
    writes: dict[str, list[int]],
    reads: list[str] | None = None,
    channels: Sequence[int] = (32, 64, 128),
    activation: str = "relu",
    in_spec: Any = None,
) -> CNN:
    """Small ResNet-style CNN for ``(B, C, H, W)`` images -> per-sample outputs (logits).

    Args:
        writes: output field -> per-sample shape, e.g. ``{logits: [10]}``.
        reads: one image field name (default: the field of ``in_spec``, else ``[image]``).
        channels: widths of the stages (each after the first halves the resolution).
        activation: activation name.
        in_spec: filled from the model's context.
    """
    reads = resolve_reads(reads, in_spec) if reads is not None or in_spec else ["image"]
    if len(reads) != 1:
        raise ConfigError("reads", f"cnn reads exactly one image field, got {reads}")
    return CNN(reads[0], writes, channels, activation)
