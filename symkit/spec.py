"""Specs: which representation each named field of a sample carries.

A sample is a ``dict[str, Tensor]`` with the batch first. A :class:`Spec` maps field names to
:class:`Field` s; ``spec.act(group, g, sample)`` transforms every field it names and leaves
other fields (targets, batch indices) untouched, except the padding ``mask`` ``(B, N)`` of a
dense batch: it says which node rows are real, so a node permutation moves it with the nodes
(:func:`act_on_mask`; ``(sigma . x, sigma . mask)`` is the permuted sample, ``(sigma . x,
mask)`` would call padding rows real).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from symkit.errors import SpecError
from symkit.groups._base import Element, Group
from symkit.reps._base import Rep

__all__ = ["Field", "Spec", "act_on_mask", "moves_mask", "permute_nodes"]


@dataclass(frozen=True)
class Field:
    """A field's representation; ``nodes=True`` means dim 1 is a node axis that permutations act on.

    Shapes:
        nodes=False: ``(B, *channels, *rep.feature_shape)``
        nodes=True:  ``(B, N, *channels, *rep.feature_shape)``
    """

    rep: Rep
    nodes: bool = False

    def act(self, group: Group, g: Element, x: Tensor) -> Tensor:
        """Apply ``g`` (one element per row of ``x``) to this field."""
        for factor, sub in zip(group.factors(), group.split(g)):
            x = self.rep.act_factor(factor, sub, x)
            perm = factor.permutation(sub)
            if perm is not None and self.nodes:
                x = permute_nodes(x, perm)
        return x

    def expected_shape(self, group: Group) -> str:
        """Human-readable expected shape, e.g. ``(B, N, ..., 3)``."""
        want = self.rep.feature_shape(group)
        lead = "(B, N, ..." if self.nodes else "(B, ..."
        return lead + "".join(f", {'*' if w is None else w}" for w in want) + ")"

    def check(self, group: Group, name: str, x: Any, num_nodes: int | None = None) -> None:
        """Raise :class:`SpecError` naming the field when ``x`` cannot carry this field."""
        want = self.rep.feature_shape(group)
        expected = self.expected_shape(group)
        if not isinstance(x, Tensor):
            raise SpecError(name, f"expected a tensor of shape {expected}, got {type(x).__name__}")
        if not (x.is_floating_point() or self.rep.is_invariant(group)):
            raise SpecError(
                name, f"expected a floating-point tensor of shape {expected} for {self.rep!r}, "
                f"got dtype {x.dtype}",
            )
        min_ndim = 1 + int(self.nodes) + len(want)
        if x.ndim < min_ndim:
            raise SpecError(
                name, f"expected shape {expected}, got {tuple(x.shape)} ({x.ndim} dims)"
            )
        tail = tuple(x.shape[x.ndim - len(want):]) if want else ()
        if any(w is not None and w != t for w, t in zip(want, tail)):
            raise SpecError(name, f"expected shape {expected}, got {tuple(x.shape)}")
        if self.nodes and num_nodes is not None and x.shape[1] != num_nodes:
            raise SpecError(
                name, f"expected shape {expected} with N = {num_nodes} nodes like the other "
                f"node fields, got {tuple(x.shape)}",
            )


def permute_nodes(x: Tensor, perm: Tensor) -> Tensor:
    """Move node ``i`` to position ``perm[b, i]``: ``out[b, perm[b, i]] = x[b, i]``.

    Shapes:
        x: ``(B, N, ...)``; perm: ``(B, N)`` long.
    """
    inv = torch.argsort(perm, dim=1)
    index = inv.reshape(inv.shape + (1,) * (x.ndim - 2)).expand_as(x)
    return torch.gather(x, 1, index)


def act_on_mask(group: Group, g: Element, mask: Tensor) -> Tensor:
    """The padding mask of ``g . x``: its node rows moved by the permutation factors of ``g``
    (unchanged for groups that do not permute nodes).

    Shapes:
        mask: ``(B, N)``, one element of ``g`` per row.
    """
    for factor, sub in zip(group.factors(), group.split(g)):
        perm = factor.permutation(sub)
        if perm is not None:
            mask = permute_nodes(mask, perm)
    return mask


def moves_mask(sample: Mapping[str, Any], names: Mapping[str, Any]) -> bool:
    """Whether ``sample`` has a dense padding ``mask`` ``(B, N)`` that is not itself a field of
    ``names`` (then :func:`act_on_mask` moves it with node permutations)."""
    mask = sample.get("mask")
    return isinstance(mask, Tensor) and mask.ndim == 2 and "mask" not in names


class Spec(Mapping[str, Field]):
    """Field name -> :class:`Field`. Build from config with :meth:`from_config`."""

    def __init__(self, fields: Mapping[str, Field | Rep]):
        self._fields = {k: v if isinstance(v, Field) else Field(v) for k, v in fields.items()}

    def __getitem__(self, name: str) -> Field:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{k}: {f.rep!r}{' per node' if f.nodes else ''}" for k, f in self._fields.items()
        )
        return f"Spec({inner})"

    def act(self, group: Group, g: Element, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Transform every field of ``sample`` named by the spec, and the padding ``mask`` under
        node permutations (:func:`act_on_mask`); copy the others unchanged."""
        out = dict(sample)
        for name, field in self._fields.items():
            if name in sample:
                out[name] = field.act(group, g, sample[name])
        if moves_mask(sample, self._fields):
            out["mask"] = act_on_mask(group, g, sample["mask"])
        return out

    def check(self, group: Group, sample: Mapping[str, Any], *, prefix: str = "") -> None:
        """Raise :class:`SpecError` for a missing field or a tensor of the wrong shape or dtype."""
        if not isinstance(sample, Mapping):
            raise SpecError(prefix or None, f"expected a sample dict, got {type(sample).__name__}")
        num_nodes = None
        batch = None
        for name, field in self._fields.items():
            key = prefix + name
            if name not in sample:
                raise SpecError(
                    key, f"missing field (expected shape {field.expected_shape(group)}); "
                    f"the spec expects {sorted(self._fields)}",
                )
            x = sample[name]
            field.check(group, key, x, num_nodes)
            if field.nodes and num_nodes is None:
                num_nodes = x.shape[1]
            if batch is None:
                batch = x.shape[0]
            elif x.shape[0] != batch:
                raise SpecError(
                    key, f"expected shape {field.expected_shape(group)} with B = {batch} like "
                    f"the other fields, got {tuple(x.shape)}",
                )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, key: str = "spec") -> Spec:
        """Parse ``{pos: point, vel: {rep: vector, nodes: true}, t: {rep: tensor, rank: 2}}``.

        A value is a registered rep name, or a mapping with ``rep``, optional ``nodes`` and the
        rep's parameters. This is :func:`symkit.config.build_spec`, the one parser of specs
        from config (a plain mapping or an OmegaConf node), as a constructor.

        Raises:
            ConfigError: not a mapping, an unknown rep or parameter, a non-bool ``nodes``; the
                message names the key (``spec.pos.rep``).
        """
        from symkit.config import build_spec

        return build_spec(cfg, key=key)
