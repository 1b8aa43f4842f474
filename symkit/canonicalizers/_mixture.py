"""The straight-through mixture of a sample's transformed copies, ``m_b = sum_j w[b, j] g_j . x_b``.

``train_mode: mix`` of learned canonicalization (Kaba et al., 2023) feeds the backbone
``sum_j w_j g_j^-1 x`` and maps its output back by ``sum_j w_j g_j . y``, with straight-through
weights ``w`` (exactly one-hot forward). Written element by element that is ``|G|`` actions,
``|G|`` products and ``|G| - 1`` sums per field in the forward pass, each with its own autograd
node. Here each field costs one batched product:

* a field whose action is the identity (invariant, not per node) gives ``x_b sum_j w[b, j]``,
  since its ``|G|`` copies are equal: no copy is made;
* every other field is turned into its ``|G|`` copies ``(B, |G|, n)`` at once
  (:func:`transformed_copies`), then mixed by one ``bmm``; the backward of that product is
  ``d/dw[b, j] = <grad_b, g_j . x_b>`` for every ``j`` in one batched product, and
  ``d/d(g_j . x_b) = w[b, j] grad_b``, carried to ``x`` by the copies' own backward.

Values and gradients are those of the element-by-element sum: equal values for one-hot ``w``
(``1 . t + 0 . t' = t`` exactly for finite ``t``), gradients equal to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from symkit.groups._base import Element, Group, element_size, map_element
from symkit.reps._image import Image, element_codes, exact_action
from symkit.spec import Field, Spec
from symkit.symmetrizers._actions import act_fields

__all__ = ["mix_transformed", "transformed_copies"]

#: (side, channels, codes, device) -> (|G| * channels * side^2,) source indices
_GATHER_INDEX: dict[tuple, Tensor] = {}
_GATHER_INDEX_MAX = 64  # cached index tensors (distinct image sizes x element lists)


def _image_copies(group: Group, elements: Element, x: Tensor) -> Tensor | None:
    """The copies of a square image by one ``index_select`` when every element turns the
    pixel grid exactly (C_n/D_n multiples of 90 degrees); ``None`` otherwise."""
    if x.ndim < 3 or x.shape[-1] != x.shape[-2] or len(group.factors()) != 1:
        return None
    codes = element_codes(group, elements)
    if codes is None:
        return None
    key_codes = tuple(codes.tolist())
    if min(key_codes, default=0) < 0:  # an element that resamples: the generic path
        return None
    b, side = x.shape[0], x.shape[-1]
    channels = math.prod(x.shape[1:-2])
    key = (side, channels, key_codes, x.device)
    index = _GATHER_INDEX.get(key)
    if index is None:
        grid = torch.arange(side * side, device=x.device).reshape(side, side)
        pixels = torch.stack([exact_action(grid, c).reshape(-1) for c in key_codes])  # (K, P)
        offset = torch.arange(channels, device=x.device) * (side * side)
        index = (offset[None, :, None] + pixels[:, None, :]).reshape(-1)  # (K * C * P,)
        if len(_GATHER_INDEX) >= _GATHER_INDEX_MAX:
            _GATHER_INDEX.clear()
        _GATHER_INDEX[key] = index
    per_sample = channels * side * side
    return x.reshape(b, per_sample).index_select(1, index).reshape(b, len(key_codes), per_sample)


def transformed_copies(group: Group, field: Field, name: str, x: Tensor,
                       elements: Element) -> Tensor:
    """``c[b, j] = (g_j . x_b)`` flattened: all ``K`` transformed copies of a field at once.

    Exact image actions (C_n/D_n turning a square image by multiples of 90 degrees) take one
    ``index_select`` through a cached table of source pixels; any other field and group tiles
    the batch element-major (block ``j`` is the whole batch) and applies :func:`act_fields`
    once, so that a run of equal elements acts as one slice.

    Args:
        group: the group; field: the field's representation; name: its key.
        x: the field, ``(B, ...)`` (a dense batch); elements: ``K`` elements.

    Shapes:
        returns ``(B, K, n)``, ``n`` the size of one sample's field.
    """
    b = x.shape[0]
    k = element_size(elements)
    if type(field.rep) is Image and not field.nodes:
        copies = _image_copies(group, elements, x)
        if copies is not None:
            return copies
    tiled_elements = map_element(lambda t: t.repeat_interleave(b, 0), elements)
    tiled = x.repeat(k, *([1] * (x.ndim - 1)))
    moved = act_fields(Spec({name: field}), group, tiled_elements, {name: tiled})[name]
    return moved.reshape(k, b, math.prod(x.shape[1:])).transpose(0, 1)


def mix_transformed(group: Group, spec: Spec, values: Mapping[str, object], elements: Element,
                    weights: Tensor, *, unnamed: bool = False) -> dict[str, Tensor]:
    """``m_b = sum_j w[b, j] g_j . x_b`` for each floating field (see the module docstring).

    Args:
        group: the group; spec: the fields' representations.
        values: the fields, ``(B, ...)`` (a dense batch); non-floating and non-tensor entries,
            and fields ``spec`` does not name (unless ``unnamed``), are left out of the result.
        elements: the ``K`` elements ``g_j``, one per column of ``weights``.
        weights: ``(B, K)`` mixing weights (straight-through one-hots when training).
        unnamed: also mix the floating fields that ``spec`` does not name, as invariant ones
            (outputs a symmetrizer passes through unchanged).

    Shapes:
        values[name]: ``(B, ...)``; weights: ``(B, K)``; returns ``{name: (B, ...)}``.
    """
    b = weights.shape[0]
    out: dict[str, Tensor] = {}
    for name, x in values.items():
        if not (isinstance(x, Tensor) and x.is_floating_point() and (name in spec or unnamed)):
            continue
        w = weights.to(x.dtype)
        field = spec.get(name)
        if field is None or (not field.nodes and field.rep.is_invariant(group)):
            out[name] = x * w.sum(-1).reshape(b, *([1] * (x.ndim - 1)))
        else:
            copies = transformed_copies(group, field, name, x, elements)
            out[name] = torch.bmm(w.unsqueeze(1), copies).reshape(x.shape)
    return out
