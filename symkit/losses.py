"""Task losses and metrics: callables ``(outputs, batch) -> scalar tensor`` over named fields.

Every factory takes the name of the model output field and of the batch target field, so one
registered loss serves any data set (``loss: {type: mse, output: acc, target: target}``).
Losses are registered in the ``losses`` registry; metrics (the same functions, plus accuracy)
in ``metrics``. Each value is the mean over the batch, so a batch-size-weighted mean over
batches is the data-set mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from symkit.errors import ConfigError, SpecError
from symkit.registry import register

__all__ = ["LossFn", "mse", "mae", "cross_entropy", "accuracy", "mae_per_node", "weighted_sum"]

#: ``(outputs, batch) -> scalar``
LossFn = Callable[[Mapping[str, Tensor], Mapping[str, Tensor]], Tensor]


def _pair(output: str, target: str, *, same_shape: bool = False
          ) -> Callable[[Mapping, Mapping], tuple[Tensor, Tensor]]:
    """``(outputs[output], batch[target])``; with ``same_shape`` (element-wise losses) the
    target is reshaped to the output's shape when the two differ only by axes of size 1
    (``(B,)`` against ``(B, 1)``), so values pair one to one and never broadcast.

    Raises:
        SpecError: (``same_shape``) naming the target, when the shapes differ otherwise, e.g.
            atomic energies ``(B, N, 1)`` against per-molecule energies ``(B,)``.
    """
    def pick(outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        y, t = outputs[output], batch[target]
        if same_shape and y.shape != t.shape:
            if [n for n in y.shape if n != 1] != [n for n in t.shape if n != 1]:
                raise SpecError(target, f"the target has shape {tuple(t.shape)} but the output "
                                        f"'{output}' has {tuple(y.shape)}; an element-wise loss "
                                        "compares them value by value (per-atom vs "
                                        "per-structure? check data.fields and model.out_spec)")
            t = t.reshape(y.shape)
        return y, t

    return pick


@register("losses", "mse")
@register("metrics", "mse")
def mse(output: str, target: str = "target") -> LossFn:
    """Mean squared error between ``outputs[output]`` and ``batch[target]`` (same shape).

    Args:
        output: the model output field compared (a key of ``model.out_spec``).
        target: the data field holding the target.
    """
    pick = _pair(output, target, same_shape=True)

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
    pick = _pair(output, target, same_shape=True)

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


@register("losses", "mae_per_node")
@register("metrics", "mae_per_node")
def mae_per_node(output: str, target: str = "target", nodes: str = "pos",
                 mask: str | None = "mask") -> LossFn:
    """``mean_b |y_b - t_b| / N_b``: the absolute error of a per-sample quantity (an energy)
    divided by the sample's node count ``N_b`` (energy MAE per atom).

    ``N_b`` is the length of axis 1 of ``batch[nodes]``, or the count of true entries of the
    ``(B, N)`` bool ``batch[mask]`` when the batch has that field, or, in a ragged batch, the
    count of nodes ``i`` with ``batch["batch"][i] = b``.

    Args:
        output: the model output field (one value per sample).
        target: the batch field it is compared with.
        nodes: the node field whose axis 1 gives the node count.
        mask: the ``(B, N)`` node mask field, used when the batch has it.
    """
    pick = _pair(output, target, same_shape=True)

    def fn(outputs, batch):
        y, t = pick(outputs, batch)
        b = y.shape[0]
        graph = batch.get("batch")
        if isinstance(graph, Tensor) and graph.ndim == 1 and not graph.is_floating_point():
            count = torch.bincount(graph, minlength=b).to(y.dtype)  # ragged: nodes per sample
        elif mask is not None and mask in batch:
            count = batch[mask].reshape(b, -1).sum(dim=1).to(y.dtype)
        else:
            count = y.new_full((b,), float(batch[nodes].shape[1]))
        err = (y - t.to(y.dtype)).abs().reshape(b, -1).sum(dim=1)
        return (err / count.clamp(min=1)).mean()

    return fn


@register("losses", "weighted_sum")
def weighted_sum(terms: dict[str, Any]) -> LossFn:
    """``sum_k w_k L_k``: a weighted sum of registered losses, e.g. energy and forces::

        loss:
          type: weighted_sum
          terms:
            energy: {weight: 0.1, loss: {type: mse, output: energy, target: energy}}
            forces: {weight: 1.0, loss: {type: mse, output: forces, target: forces}}

    Args:
        terms: name -> ``{weight: float, loss: typed loss node}``.

    Raises:
        ConfigError: with the key path, for an empty mapping, a missing or non-numeric weight,
            or an invalid loss node.
    """
    from symkit.config import build

    if not isinstance(terms, Mapping) or not terms:
        raise ConfigError("loss.terms", f"expected a non-empty mapping, got {terms!r}")
    parts: list[tuple[float, LossFn]] = []
    for name, term in terms.items():
        key = f"loss.terms.{name}"
        if not isinstance(term, Mapping) or set(term) != {"weight", "loss"}:
            raise ConfigError(key, f"expected {{weight: float, loss: {{type: ...}}}}, got {term!r}")
        weight = term["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ConfigError(f"{key}.weight", f"expected a number, got {weight!r}")
        parts.append((float(weight), build(term["loss"], "losses", key=f"{key}.loss")))

    def fn(outputs, batch):
        return sum(w * loss(outputs, batch) for w, loss in parts)

    return fn
