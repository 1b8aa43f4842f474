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

from torch import Tensor

from symkit.groups import Group
from symkit.spec import Spec
from symkit.symmetrizers._output_layout import output_layout_problem

__all__ = ["output_problem"]


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
        one line naming the output field, the expected shape (or dtype) and what it got
        (layout: :func:`symkit.symmetrizers._output_layout.output_layout_problem`).
    """
    layout = output_layout_problem(y, group, in_spec, out_spec, sample)
    if layout is not None:
        return f"output field '{layout[0]}': {layout[1]}"
    dtype = next((sample[n].dtype for n in in_spec
                  if isinstance(sample.get(n), Tensor) and sample[n].is_floating_point()), None)
    for name in out_spec:
        x = y[name]
        if dtype is not None and x.is_floating_point() and x.dtype != dtype:
            return (f"output field '{name}' has dtype {x.dtype} for {dtype} inputs (an output "
                    f"keeps the input's floating dtype)")
    return None
