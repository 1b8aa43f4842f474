"""The layout and dtype of a model's outputs, checked against its output spec and its input.

Equivariance alone does not catch a wrong output *shape* or *dtype*: a node vector field
returned without its node axis, ``(B, 3)`` instead of ``(B, N, 3)``, still rotates correctly,
and an output promoted to float64 for a float32 input is exactly as equivariant as the float32
one. Both are silently wrong for the user (a loss broadcast over the wrong axis, twice the
memory and a dtype mismatch downstream). For an input batch of ``B`` samples with ``N`` node
rows (dense) or ``T`` node rows (ragged, a ``batch`` vector), every output field of
``out_spec`` must have

* dense layout: shape ``(B, N, *channels, *feature)`` for node fields and
  ``(B, *channels, *feature)`` for the others (:meth:`symkit.spec.Field.check`);
* ragged layout: ``(T, *channels, *feature)`` for node fields, ``(B, *channels, *feature)``
  for the others;
* the floating dtype of the input (float32 in, float32 out; half precision likewise).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from symkit.errors import SpecError
from symkit.groups import Group
from symkit.spec import Spec

__all__ = ["output_problem"]


def _ragged(sample: Mapping[str, Tensor]) -> bool:
    b = sample.get("batch")
    return isinstance(b, Tensor) and b.ndim == 1 and not b.is_floating_point()


def _input_layout(sample: Mapping[str, Tensor], in_spec: Spec) -> tuple[int, int | None]:
    """``(B, N)`` of a dense batch (``N`` ``None`` without node fields); ``(B, T)`` ragged."""
    if _ragged(sample):
        num = sample.get("num_graphs")
        size = int(num) if num is not None else (
            int(sample["batch"].max()) + 1 if sample["batch"].numel() else 0)
        return size, sample["batch"].shape[0]
    names = [n for n in in_spec if isinstance(sample.get(n), Tensor)]
    size = sample[names[0]].shape[0]
    nodes = next((sample[n].shape[1] for n in names if in_spec[n].nodes), None)
    return size, nodes


def _dtype(sample: Mapping[str, Tensor], in_spec: Spec) -> torch.dtype | None:
    return next((sample[n].dtype for n in in_spec
                 if isinstance(sample.get(n), Tensor) and sample[n].is_floating_point()), None)


def output_problem(
    y: Mapping[str, Tensor], group: Group, in_spec: Spec, out_spec: Spec,
    sample: Mapping[str, Tensor],
) -> str | None:
    """What is wrong with the outputs ``y`` of a model for the input ``sample``, or ``None``.

    Args:
        y: the model's output dict for ``sample``.
        group, in_spec, out_spec: the symmetry, the input and output specs.
        sample: the input batch (dense, with an optional ``mask``, or ragged with ``batch``).

    Returns:
        one line naming the output field, the expected shape (or dtype) and what it got.
    """
    size, rows = _input_layout(sample, in_spec)
    ragged = _ragged(sample)
    dtype = _dtype(sample, in_spec)
    for name, field in out_spec.items():
        if name not in y:
            return f"output field '{name}' is missing (got {sorted(y)})"
        x = y[name]
        if not isinstance(x, Tensor):
            return f"output field '{name}': expected a tensor, got {type(x).__name__}"
        if ragged and field.nodes:
            expected = "(T, ..." + "".join(
                f", {'*' if w is None else w}" for w in field.rep.feature_shape(group)) + ")"
            where = f"T = {rows} node rows of the ragged batch"
            lead_ok = x.shape[:1] == (rows,)
            want = field.rep.feature_shape(group)
            tail_ok = x.ndim >= 1 + len(want) and all(
                w is None or w == t for w, t in zip(want, x.shape[x.ndim - len(want):]))
            if not (lead_ok and tail_ok):
                return (f"output field '{name}': expected shape {expected} ({where}), got "
                        f"{tuple(x.shape)}")
        else:
            try:
                field.check(group, name, x, None if ragged else rows)
            except SpecError as e:
                return f"output field '{name}': {str(e).removeprefix(name + ': ')}"
            if x.shape[0] != size:
                return (f"output field '{name}': expected shape {field.expected_shape(group)} "
                        f"with B = {size} samples, got {tuple(x.shape)}")
        if dtype is not None and x.is_floating_point() and x.dtype != dtype:
            return (f"output field '{name}' has dtype {x.dtype} for {dtype} inputs (an output "
                    f"keeps the input's floating dtype)")
    return None
