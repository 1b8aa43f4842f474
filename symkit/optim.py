"""Optimizers and per-epoch learning-rate schedules, built from YAML through the registry.

Optimizer factories receive ``params`` from the build context; scheduler factories receive
``optimizer`` and ``epochs``. Every schedule is a :class:`torch.optim.lr_scheduler.LambdaLR`
stepped once per epoch, so its state is a plain epoch counter that checkpoints restore exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from symkit.registry import register

__all__ = ["adam", "adamw", "sgd", "cosine", "step", "constant", "warmup"]


@register("optimizers", "adam")
def adam(params: Iterable, lr: float = 1e-3, weight_decay: float = 0.0,
         betas: tuple[float, float] = (0.9, 0.999)) -> Optimizer:
    """Adam (Kingma and Ba, 2015).

    Args:
        lr: learning rate.
        weight_decay: L2 penalty added to the gradient.
        betas: decay rates of the running means of the gradient and of its square.
    """
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas))


@register("optimizers", "adamw")
def adamw(params: Iterable, lr: float = 1e-3, weight_decay: float = 1e-2,
          betas: tuple[float, float] = (0.9, 0.999)) -> Optimizer:
    """AdamW: Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    Args:
        lr: learning rate.
        weight_decay: decoupled weight decay (shrinks the weights by ``lr * weight_decay``).
        betas: decay rates of the running means of the gradient and of its square.
    """
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas))


@register("optimizers", "sgd")
def sgd(params: Iterable, lr: float = 1e-2, momentum: float = 0.0, weight_decay: float = 0.0,
        nesterov: bool = False) -> Optimizer:
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Args:
        lr: learning rate.
        momentum: momentum factor (0: plain SGD).
        weight_decay: L2 penalty added to the gradient.
        nesterov: use Nesterov momentum.
    """
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                           nesterov=nesterov)


def _cosine_factor(epoch: int, epochs: int, min_factor: float) -> float:
    progress = min(epoch, epochs) / max(epochs, 1)
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


@register("schedulers", "cosine")
def cosine(optimizer: Optimizer, epochs: int, min_factor: float = 0.0) -> LambdaLR:
    """Cosine decay from the base rate to ``min_factor`` times it over ``epochs``.

    Args:
        min_factor: the final rate as a fraction of the base rate.
    """
    return LambdaLR(optimizer, lambda e: _cosine_factor(e, epochs, min_factor))


@register("schedulers", "step")
def step(optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> LambdaLR:
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    Args:
        step_size: epochs between two decays.
        gamma: factor applied at each decay.
    """
    return LambdaLR(optimizer, lambda e: gamma ** (e // step_size))


@register("schedulers", "constant")
@register("schedulers", "none")
def constant(optimizer: Optimizer) -> LambdaLR:
    """Keep the base rate."""
    return LambdaLR(optimizer, lambda e: 1.0)


@register("schedulers", "warmup")
def warmup(optimizer: Optimizer, epochs: int, warmup_epochs: int = 1, decay: str = "cosine",
           min_factor: float = 0.0) -> LambdaLR:
    """Linear warm-up over ``warmup_epochs``, then ``decay``: ``cosine`` or ``constant``.

    Args:
        warmup_epochs: epochs of linear increase from 0 to the base rate.
        decay: the schedule after the warm-up: ``cosine`` or ``constant``.
        min_factor: the final rate of the cosine decay, as a fraction of the base rate.
    """
    if decay not in ("cosine", "constant"):
        from symkit.errors import ConfigError

        raise ConfigError("scheduler.decay", f"expected 'cosine' or 'constant', got {decay!r}")

    def factor(e: int) -> float:
        if e < warmup_epochs:
            return (e + 1) / (warmup_epochs + 1)
        if decay == "constant":
            return 1.0
        return _cosine_factor(e - warmup_epochs, epochs - warmup_epochs, min_factor)

    return LambdaLR(optimizer, factor)
