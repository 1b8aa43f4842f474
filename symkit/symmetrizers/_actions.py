"""The symmetrizer's in/out transforms ``g^-1 . x`` and ``g . y``, batched once per element batch.

The generic path applies :meth:`symkit.spec.Field.act` field by field (and builds ``g^-1`` with
:meth:`Group.inverse`). For the common case, a single (non-product) group acting by orthogonal
matrices and/or translations with no node permutation (O(d), SO(d), E(d), SE(d), T(d), C_n,
D_n), on scalar, vector and point fields, :class:`AffineAction` reads ``R = matrix(g)`` and
``t = translation(g)`` once and applies

    g^-1 . v = R^T v,   g^-1 . x = R^T (x - t),   g . v = R v,   g . x = R x + t

as one batched matmul per field (``R^-1 = R^T`` for orthogonal ``R``), with no inverse elements
built. Other reps (pseudovectors, tensors, images, ...) on the same group fall back to
``Field.act`` with ``g^-1`` built lazily; groups outside that case use the generic path.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from symkit.groups._base import Element, Group
from symkit.reps import Point, Scalar, Vector
from symkit.spec import Spec, act_on_mask, moves_mask
from symkit.symmetrizers._batching import Copies

__all__ = ["AffineAction", "act_fields", "add_shift"]


def act_fields(spec: Spec, group: Group, g: Element, sample: dict[str, object],
               node_rows=None, graph: Tensor | None = None) -> dict[str, object]:
    """``g . x`` for each field of ``spec`` in ``sample``, one element per row.

    In a ragged batch, tensors whose rows are nodes (``node_rows(x)`` is true) take their graph's
    element ``g[graph]`` (one element per graph, applied to each of its nodes); other tensors
    take ``g`` row by row. Non-tensor entries and fields missing from ``sample`` pass through,
    except a dense padding ``mask`` ``(R, N)``: node permutations move it with the nodes
    (:func:`symkit.spec.act_on_mask`), so the backbone reads the real rows of ``g . x``.

    Args:
        spec: the fields to act on; group, g: the group and its ``R`` elements.
        sample: the fields, ``(R, ...)`` per row, or ``(num_nodes, ...)`` for node rows.
        node_rows: predicate telling node-row tensors (None: no ragged fields).
        graph: ``(num_nodes,)`` long, each node row's element index.
    """
    out = dict(sample)
    g_node = None
    for name, field in spec.items():
        x = out.get(name)
        if not isinstance(x, Tensor):
            continue
        if node_rows is not None and node_rows(x):
            if g_node is None:
                g_node = group.index(g, graph)
            out[name] = field.act(group, g_node, x)
        else:
            out[name] = field.act(group, g, x)
    if moves_mask(out, spec) and not (node_rows is not None and node_rows(out["mask"])):
        out["mask"] = act_on_mask(group, g, out["mask"])
    return out

#: reps whose action :class:`AffineAction` applies itself (exact types: subclasses may differ)
_SCALAR, _VECTOR, _POINT = Scalar, Vector, Point


class AffineAction:
    """``x -> R x + t`` per copy, for one element batch of an orthogonal-or-translation group.

    Build with :meth:`of`, which returns ``None`` when the group is not of that kind.

    Shapes:
        rot: ``(n, d, d)`` or ``None``; shift: ``(n, d)`` or ``None``; fields ``(n, ..., d)``.
    """

    def __init__(self, group: Group, g: Element, rot: Tensor | None, shift: Tensor | None):
        self.group, self.g = group, g
        self.rot, self.shift = rot, shift
        self._g_inv: Element | None = None

    @classmethod
    def of(cls, group: Group, g: Element, dtype: torch.dtype, *, precise: Element | None = None
           ) -> AffineAction | None:
        """The action of ``g`` (cast to the data's ``dtype``), or ``None`` for other groups.

        ``precise``: the same elements before the cast; their translation is kept at its higher
        precision, so centring ``x - t`` and un-centring run at that precision and a translation
        far larger than the points' spread costs no digits of the centred coordinates.
        """
        if isinstance(g, tuple) or len(group.factors()) != 1:
            return None
        rot = group.matrix(g)
        if rot is not None and not group.orthogonal:
            return None
        if group.permutation(g) is not None:
            return None
        if rot is not None and rot.dtype != dtype:
            rot = rot.to(dtype)
        shift = group.translation(g)
        if precise is not None and shift is not None:
            fine = group.translation(precise)
            if fine is not None and _finer(fine.dtype, dtype):
                shift = fine.to(shift.device)
        if shift is not None and shift.dtype != dtype and not _finer(shift.dtype, dtype):
            shift = shift.to(dtype)
        return cls(group, g, rot, shift)

    def index(self, idx: Tensor) -> AffineAction:
        """The same action gathered per row (one element per node of a ragged batch)."""
        return AffineAction(self.group, self.group.index(self.g, idx),
                            None if self.rot is None else self.rot[idx],
                            None if self.shift is None else self.shift[idx])

    def apply(self, spec: Spec, sample: dict[str, object], copies: Copies | None, *,
              inverse: bool) -> dict[str, object]:
        """Apply ``g`` (or ``g^-1``) to the spec's fields of ``sample``; others unchanged.

        Node-level tensors of a ragged batch get their copy's element per node (``copies``:
        the ragged expansion; ``None`` for a dense sample with one element per row).
        """
        out = dict(sample)
        per_node = None
        for name, field in spec.items():
            x = out.get(name)
            if not isinstance(x, Tensor):
                continue
            act = self
            if copies is not None and copies.is_node_level(x):
                if per_node is None:
                    per_node = self.index(copies.graph)
                act = per_node
            out[name] = act._field(field, x, inverse)
        return out

    def rotate_rows(self, x: Tensor, start: int, stop: int, weight: Tensor) -> Tensor:
        """``w_i R_i x_i`` for the elements ``start:stop`` (rows of ``x``): the linear part of
        ``g . x`` for vectors and points, scaled by ``weight`` ``(stop - start,)``; the
        translation of points is left to the caller (summed once over the elements)."""
        n, d = x.shape[0], x.shape[-1]
        w = weight.to(x.dtype)
        flat = x.reshape(n, math.prod(x.shape[1:-1]), d)
        if self.rot is None or self.rot.shape[-1] != d:
            return x * w.reshape((n,) + (1,) * (x.ndim - 1))
        rot = self.rot[start:stop].to(x.dtype) * w[:, None, None]
        return torch.bmm(flat, rot.transpose(1, 2)).reshape(x.shape)

    def act_rows(self, field, x: Tensor, start: int, stop: int) -> Tensor:
        """``g . x`` by ``field.act`` for the elements ``start:stop`` (rows of ``x``)."""
        idx = torch.arange(start, stop, device=self.rot.device if self.rot is not None
                           else x.device)
        return field.act(self.group, self.group.index(self.g, idx), x)

    def _field(self, field, x: Tensor, inverse: bool) -> Tensor:
        rep = type(field.rep)
        if rep is _SCALAR:
            return x
        if rep is _VECTOR or rep is _POINT:
            return self._affine(x, inverse, point=rep is _POINT)
        if inverse:
            if self._g_inv is None:
                self._g_inv = self.group.inverse(self.g)
            return field.act(self.group, self._g_inv, x)
        return field.act(self.group, self.g, x)

    def _affine(self, x: Tensor, inverse: bool, *, point: bool) -> Tensor:
        n, d = x.shape[0], x.shape[-1]
        shift = self.shift if point else None
        flat = x.reshape(n, math.prod(x.shape[1:-1]), d)  # explicit: n or rows may be 0
        if inverse and shift is not None:
            flat = add_shift(flat, shift, -1.0)
        if self.rot is not None:
            rot = self.rot.to(x.dtype)
            # rows: v -> R^T v is v^T R; v -> R v is v^T R^T
            flat = torch.bmm(flat, rot if inverse else rot.transpose(1, 2))
        if not inverse and shift is not None:
            flat = add_shift(flat, shift, 1.0)
        return flat.reshape(x.shape)


def _finer(a: torch.dtype, b: torch.dtype) -> bool:
    """Whether floating dtype ``a`` resolves more digits than ``b``."""
    return a.is_floating_point and b.is_floating_point and (
        torch.finfo(a).eps < torch.finfo(b).eps)


def add_shift(flat: Tensor, shift: Tensor, sign: float) -> Tensor:
    """``flat + sign * shift`` per row, at the finer of the two precisions, in ``flat``'s dtype."""
    if _finer(shift.dtype, flat.dtype):
        return torch.add(flat.to(shift.dtype), shift[:, None], alpha=sign).to(flat.dtype)
    return torch.add(flat, shift.to(flat.dtype)[:, None], alpha=sign)
