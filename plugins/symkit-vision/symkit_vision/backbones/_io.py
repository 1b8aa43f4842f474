"""Reading the image field and writing per-image outputs (the core backbones' convention).

``reads`` names the image field ``(B, C, H, W)``; ``writes`` maps each output field to its
per-image shape (``{logits: [10]}`` gives ``(B, 10)``). The ``writes`` check and the output
heads are symkit's public helpers (:func:`symkit.backbones.parse_writes`,
:class:`symkit.backbones.OutputHeads`); only the image defaults live here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor

from symkit.backbones import parse_writes
from symkit.errors import SpecError

__all__ = ["image_writes", "read_image"]

#: The outputs of an image backbone when ``writes`` is not given.
DEFAULT_WRITES = {"logits": [10]}


def image_writes(writes: Mapping[str, Sequence[int] | int] | None) -> dict[str, tuple[int, ...]]:
    """``{field: shape}`` with int shapes made 1-d; default ``{"logits": (10,)}``.

    Images have no node axis, so every shape is per image and has at least one positive size.

    Raises:
        ConfigError: a per-node (leading ``-1``), empty or non-positive shape (``writes.NAME``).
    """
    return parse_writes(writes, default=DEFAULT_WRITES, per_node=False, scalar=False)


def read_image(sample: Mapping[str, Tensor], reads: str) -> Tensor:
    """The ``(B, C, H, W)`` image field named ``reads``."""
    if reads not in sample:
        raise SpecError(reads, f"missing input image; sample has {sorted(sample)}")
    x = sample[reads]
    if x.ndim != 4:
        raise SpecError(reads, f"expected an image batch (B, C, H, W), got {tuple(x.shape)}")
    return x
