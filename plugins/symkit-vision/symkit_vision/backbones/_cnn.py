"""A small plain CNN classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from symkit.backbones import OutputHeads
from symkit_vision.backbones._conv import InputGradConv2d
from symkit_vision.backbones._io import image_writes, read_image

__all__ = ["CNNClassifier", "cnn_classifier"]


class CNNClassifier(nn.Module):
    """Stages of ``conv3x3 -> ReLU`` with 2x2 max pooling between them, global average
    pooling, then linear heads. No symmetry of its own (wrap it in a symmetrizer).

    The first convolution is an :class:`InputGradConv2d`: an ``nn.Conv2d`` (same parameters
    and outputs) whose gradient with respect to the image is fast on CPU, for models that
    differentiate through the image (learned canonicalization's ``train_mode: mix``).

    No batch normalization: outputs of one image never depend on the rest of the batch, so
    symmetrizers that batch the K transformed copies together stay exact in training mode.

    Args:
        in_channels: image channels ``C``.
        channels: output channels of each stage (each stage after the first halves H and W).
        writes: output fields and per-image shapes (default ``{logits: [10]}``).
        reads: the image field.
        dropout: dropout before the heads.

    Shapes:
        sample[reads]: ``(B, C, H, W)`` -> ``{logits: (B, 10)}``.
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64, 128),
                 writes: Mapping[str, Any] | None = None, reads: str = "image",
                 dropout: float = 0.0):
        super().__init__()
        self.reads = reads
        layers: list[nn.Module] = []
        width = in_channels
        for i, c in enumerate(channels):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            first = InputGradConv2d if i == 0 else nn.Conv2d  # the image's own gradient: fast
            layers += [first(width, c, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(c, c, 3, padding=1), nn.ReLU()]
            width = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = OutputHeads(image_writes(writes), width, dropout=dropout)

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.heads(None, self.features(read_image(sample, self.reads)))


def cnn_classifier(in_channels: int = 1, channels: Sequence[int] = (32, 64, 128),
                   writes: Mapping[str, Any] | None = None, reads: str = "image",
                   dropout: float = 0.0) -> CNNClassifier:
    """Small CNN: conv stages with max pooling, global average pooling, linear heads."""
    return CNNClassifier(in_channels, channels, writes, reads, dropout)
