"""Task losses and metrics: callables ``(outputs, batch) -> scalar tensor`` over named fields.

Every factory takes the name of the model output field and of the batch target field, so one
registered loss serves any data set (``loss: {type: mse, output: acc, target: target}``).
Losses are registered in the ``losses`` registry; metrics (the same functions, plus accuracy)
in ``metrics``. Each value is the mean over the batch, so a batch-size-weighted mean over
batches is the data-set mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from symkit.registry import register

__all__ = ["LossFn", "mse", "mae", "cross_entropy", "accuracy"]

#: ``(outputs, batch) -> scalar``
LossFn = Callable[[Mapping[str, Tensor], Mapping[str, Tensor]], Tensor]


def _pair(output: str, target: str) -> Callable[[Mapping, Mapping], tuple[Tensor, Tensor]]:
    def pick(outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        return outputs[output], batch[target]

    return pick


@register("losses", "mse")
@register("metrics", "mse")
def mse(output: str, target: str = "target") -> LossFn:
    """Mean squared error between ``outputs[output]`` and ``batch[target]`` (same shape).

    Args:
        output: the model output field compared (a key of ``model.out_spec``).
        target: the data field holding the target.
    """
    pick = _pair(output, target)

    def fn(outputs, batch):
        y, t = pick(outputs, batch)
        return F.mse_loss(y, t.to(y.dtype))

    return fn


@register("losses", "mae")
@register("metrics", "mae")
def mae(output: str, target: str = "target") -> LossFn:
    """Mean absolute error between ``outputs[output]`` and ``batch[target]``.

    Args:
        output: the model output field compared (a key of ``model.out_spec``).
        target: the data field holding the target.
    """
    pick = _pair(output, target)

    def fn(outputs, batch):
        y, t = pick(outputs, batch)
        return F.l1_loss(y, t.to(y.dtype))

    return fn


@register("losses", "cross_entropy")
@register("metrics", "cross_entropy")
def cross_entropy(output: str, target: str = "label") -> LossFn:
    """Cross entropy of logits ``(B, C)`` against class indices ``(B,)``.

    Args:
        output: the model output field compared (a key of ``model.out_spec``).
        target: the data field holding the target.
    """
    pick = _pair(output, target)

    def fn(outputs, batch):
        y, t = pick(outputs, batch)
        return F.cross_entropy(y, t.long())

    return fn


@register("metrics", "accuracy")
def accuracy(output: str, target: str = "label") -> LossFn:
    """Fraction of rows whose arg-max logit ``(B, C)`` equals the class index ``(B,)``.

    Args:
        output: the model output field compared (a key of ``model.out_spec``).
        target: the data field holding the target.
    """
    pick = _pair(output, target)

    def fn(outputs, batch):
        y, t = pick(outputs, batch)
        return (y.argmax(dim=-1) == t.long()).to(torch.float32).mean()

    return fn
