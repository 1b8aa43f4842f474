"""Reading named fields from a sample and writing named outputs: the backbone I/O convention.

A backbone reads the fields named by ``reads`` and writes the fields named by ``writes``, a
mapping ``field -> per-sample shape``. Two kinds of output shape exist:

* per sample: ``[10]`` or ``[5, 3]`` gives a tensor ``(B, 10)`` or ``(B, 5, 3)``;
* per node: a shape whose **first entry is -1** stands for the node axis, so ``[-1, 3]`` gives
  ``(B, N, 3)`` and ``[-1]`` gives ``(B, N)``; N is taken from the input.

In YAML::

    writes: {logits: [10]}          # (B, 10)
    writes: {target: [-1, 3]}       # (B, N, 3), one 3-vector per node

An optional boolean node mask (``True`` = real node, ``False`` = padding) is read from the field
named by a backbone's ``mask`` parameter when the sample has it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError, SpecError

__all__ = [
    "NODE_AXIS",
    "resolve_reads",
    "parse_writes",
    "is_per_node",
    "node_features",
    "check_dense",
    "node_mask",
    "masked_pool",
    "mlp",
    "activation",
    "out_size",
    "OutputHeads",
]

#: Leading entry of a ``writes`` shape that stands for the node axis.
NODE_AXIS = -1


def resolve_reads(
    reads: Sequence[str] | None, in_spec: Any = None, *, key: str = "reads"
) -> list[str]:
    """The input field names: ``reads`` when given, else the fields of ``in_spec``."""
    if reads is not None:
        names = [reads] if isinstance(reads, str) else list(reads)
    elif in_spec is not None:
        names = list(in_spec)
    else:
        raise ConfigError(key, "no input fields: set 'reads' or give the model an in_spec")
    if not names:
        raise ConfigError(key, "needs at least one input field name")
    return names


def parse_writes(
    writes: Mapping[str, Sequence[int] | int] | None, *, key: str = "writes",
    default: Mapping[str, Sequence[int] | int] | None = None, per_node: bool = True,
    scalar: bool = True,
) -> dict[str, tuple[int, ...]]:
    """Normalize ``writes`` to ``{field: shape tuple}``; an int is a 1-d shape.

    Args:
        writes: output field -> shape; ``None`` takes ``default``.
        key: config key named in errors.
        default: the outputs when ``writes`` is ``None`` (e.g. ``{"logits": [10]}``).
        per_node: whether per-node shapes (leading ``-1``) are allowed; a backbone without a
            node axis (an image classifier) sets ``False``.
        scalar: whether the empty shape ``[]`` (one value per sample, ``(B,)``) is allowed.

    Raises:
        ConfigError: no output field, or a shape with a non-positive size, a ``-1`` anywhere
            but first, a per-node or empty shape where they are not allowed (key ``writes.NAME``).
    """
    writes = default if writes is None else writes
    if not writes:
        raise ConfigError(key, "needs at least one output field, e.g. {logits: [10]}")
    out = {}
    for name, shape in writes.items():
        shape = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
        if any(s <= 0 for s in shape[1:]) or (shape and shape[0] <= 0 and shape[0] != NODE_AXIS):
            raise ConfigError(
                f"{key}.{name}", f"shape {list(shape)} must be positive sizes; "
                "only the first entry may be -1 (one per node)",
            )
        if not per_node and is_per_node(shape):
            raise ConfigError(
                f"{key}.{name}", f"shape {list(shape)}: this backbone writes per-sample shapes "
                "only; give the full shape (e.g. [5, 3]) or use a node backbone (deepsets, "
                "set_transformer) for per-node outputs",
            )
        if not scalar and not shape:
            raise ConfigError(f"{key}.{name}", "empty shape []: give at least one size")
        out[str(name)] = shape
    return out


def is_per_node(shape: tuple[int, ...]) -> bool:
    """Whether an output shape from :func:`parse_writes` has a node axis."""
    return len(shape) > 0 and shape[0] == NODE_AXIS


def out_size(shape: tuple[int, ...]) -> int:
    """Number of values per sample (or per node, for per-node shapes)."""
    return math.prod(shape[1:] if is_per_node(shape) else shape)


def node_features(sample: Mapping[str, Tensor], reads: Sequence[str]) -> Tensor:
    """Concatenate node fields ``(B, N, ...)`` into ``(B, N, F)``, flattening each per node.

    Raises:
        SpecError: a missing field, a field without a node axis, or a ragged batch (node
            fields concatenated over samples, with a 1-D integer ``batch`` index), which dense
            node backbones cannot read; the message says how to pad instead.
    """
    check_dense(sample)
    parts = []
    for name in reads:
        if name not in sample:
            raise SpecError(name, f"missing input field; sample has {sorted(sample)}")
        x = sample[name]
        if x.ndim < 2:
            raise SpecError(name, f"expected a node field (B, N, ...), got {tuple(x.shape)}")
        parts.append(x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:])))  # B = 0 too
    return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]


def check_dense(sample: Mapping[str, Tensor]) -> None:
    """Raise :class:`SpecError` at ``batch`` when ``sample`` is a ragged batch (a 1-D integer
    ``batch`` index over concatenated nodes): a backbone that reads ``(B, N, ...)`` node
    fields would mistake the nodes for samples."""
    batch = sample.get("batch")
    if isinstance(batch, Tensor) and batch.ndim == 1 and not batch.is_floating_point():
        raise SpecError("batch", "this backbone reads dense node fields (B, N, ...) with an "
                        "optional (B, N) mask, but got a ragged batch (nodes of all samples "
                        "concatenated, 'batch' naming each node's sample); pad the samples "
                        "instead (data.batching: padded for the arrays data set), or use a "
                        "per-node backbone (mlp) that reads ragged batches")


def node_mask(sample: Mapping[str, Tensor], name: str | None, x: Tensor) -> Tensor | None:
    """The ``(B, N)`` bool mask named ``name`` if the sample has it, else ``None``."""
    if name is None or name not in sample:
        return None
    mask = sample[name]
    if mask.shape != x.shape[:2]:
        raise SpecError(
            name, f"mask must be (B, N) = {tuple(x.shape[:2])}, got {tuple(mask.shape)}"
        )
    return mask.bool()


def masked_pool(h: Tensor, mask: Tensor | None, pool: str) -> Tensor:
    """Pool node features over the node axis, ignoring padded nodes.

    ``sum`` and ``mean`` count real nodes only; ``max`` takes the largest real entry, and a
    sample with no real node pools to 0 under every rule.

    Args:
        h: node features.
        mask: ``True`` for real nodes, or ``None`` (all real).
        pool: ``sum``, ``mean`` or ``max``.

    Shapes:
        h: ``(B, N, F)``; mask: ``(B, N)`` bool or ``None``; returns ``(B, F)``.

    Raises:
        ConfigError: an unknown ``pool`` (key ``pool``).
    """
    if pool == "max":
        if mask is None:
            return h.amax(dim=1)
        pooled = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
        return torch.where(mask.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))
    if pool not in ("sum", "mean"):
        raise ConfigError("pool", f"unknown pooling '{pool}'; use 'sum', 'mean' or 'max'")
    if mask is not None:
        h = h.masked_fill(~mask.unsqueeze(-1), 0)
    total = h.sum(dim=1)
    if pool == "sum":
        return total
    count = h.new_full((h.shape[0], 1), h.shape[1]) if mask is None else \
        mask.sum(dim=1, keepdim=True).to(h.dtype).clamp(min=1)
    return total / count


_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
                "elu": nn.ELU, "leaky_relu": nn.LeakyReLU}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (``relu``, ``gelu``, ``silu``, ``tanh``, ...)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(
            "activation", f"unknown activation '{name}'; use one of {sorted(_ACTIVATIONS)}"
        ) from None


def mlp(hidden: Sequence[int], out: int | None, act: str = "relu", *, final_act: bool = False,
        in_features: int | None = None, dropout: float = 0.0) -> nn.Sequential:
    """``Linear -> act -> Linear -> act ... -> Linear(out)``: a multilayer perceptron.

    Args:
        hidden: hidden layer widths (may be empty: then a single linear map).
        out: output width, or ``None`` to end after the last hidden layer.
        act: activation name (see :func:`activation`).
        final_act: apply the activation after the last layer too.
        in_features: input width; ``None`` infers it at the first call (``LazyLinear``). With
            ``in_features`` set and no layer at all, the result is the identity.
        dropout: dropout probability after every activation (0: no dropout layers).

    Raises:
        ConfigError: no layer and no ``in_features`` (key ``hidden``).
    """
    widths = [*hidden] + ([out] if out is not None else [])
    if not widths:
        if in_features is not None:
            return nn.Sequential()
        raise ConfigError("hidden", "an MLP needs at least one layer")
    sizes = [in_features, *widths]
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        layers.append(nn.LazyLinear(width) if sizes[i] is None else nn.Linear(sizes[i], width))
        if i < len(widths) - 1 or final_act:
            layers.append(activation(act))
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class OutputHeads(nn.Module):
    """One linear head per output field: features ``(B, F)`` or ``(B, N, F)`` -> named outputs.

    Per-node shapes (leading -1) read node features ``(B, N, F_node)``; per-sample shapes read
    pooled features ``(B, F)``. Per-node outputs of padded nodes are 0.

    Args:
        writes: output field -> shape, as returned by :func:`parse_writes`.
        in_features: width of the pooled features (``None``: inferred at the first call).
        node_in_features: width of the node features (default: ``in_features``).
        dropout: dropout on the features before the heads.

    Shapes:
        node: ``(B, N, F_node)`` or ``None``; pooled: ``(B, F)`` or ``None``; mask: ``(B, N)``
        bool or ``None`` -> ``{field: (B, *shape)}`` or ``(B, N, *shape[1:])`` per node.
    """

    def __init__(self, writes: Mapping[str, tuple[int, ...]], in_features: int | None = None,
                 *, node_in_features: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.shapes = dict(writes)
        node_in = in_features if node_in_features is None else node_in_features
        widths = {name: node_in if is_per_node(s) else in_features
                  for name, s in self.shapes.items()}
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.heads = nn.ModuleDict({
            name: nn.LazyLinear(out_size(s)) if widths[name] is None else
            nn.Linear(widths[name], out_size(s))
            for name, s in self.shapes.items()
        })

    def forward(self, node: Tensor | None, pooled: Tensor | None,
                mask: Tensor | None = None) -> dict[str, Tensor]:
        if self.dropout is not None:
            node = None if node is None else self.dropout(node)
            pooled = None if pooled is None else self.dropout(pooled)
        out = {}
        for name, shape in self.shapes.items():
            if is_per_node(shape):
                y = self.heads[name](node)
                y = y.reshape(*node.shape[:2], *shape[1:])
                if mask is not None:
                    y = y.masked_fill(~mask.reshape(*mask.shape, *(1,) * (y.ndim - 2)), 0)
            else:
                y = self.heads[name](pooled).reshape(pooled.shape[0], *shape)
            out[name] = y
        return out
