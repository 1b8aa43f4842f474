"""The layout an output field must have for a given input batch, from the output spec.

For an input of ``B`` samples with ``N`` node rows (dense; ``mask`` optional) or ``T`` node rows
(ragged: a ``batch`` vector and ``num_graphs``), an output field of ``out_spec`` has shape

* dense: ``(B, N, *channels, *feature)`` for node fields (:meth:`symkit.spec.Field.check`),
  ``(B, *channels, *feature)`` for the others;
* ragged: ``(T, *channels, *feature)`` for node fields, ``(B, *channels, *feature)`` for the
  others (or ``T`` rows: ragged tensors are told node-level by their rows, as the symmetrizers'
  copies do),

where ``feature`` is the representation's feature shape on the group (``(3,)`` for a vector of
E(3); ``None`` sizes match anything). A symmetrizer applies ``g`` to each output field and
averages copies row by row, so a backbone output of another layout is either a crash deep in
that average or, worse, accepted (a node vector summed over its nodes still rotates).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from symkit.errors import SpecError
from symkit.groups import Group
from symkit.spec import Spec

__all__ = ["output_layout_problem"]


def _ragged(sample: Mapping[str, object]) -> bool:
    b = sample.get("batch")
    return isinstance(b, Tensor) and b.ndim == 1 and not b.is_floating_point()


def _input_layout(sample: Mapping[str, object], in_spec: Spec) -> tuple[int | None, int | None]:
    """``(B, N)`` of a dense batch (``N`` ``None`` without node fields); ``(B, T)`` ragged."""
    if _ragged(sample):
        num = sample.get("num_graphs")
        batch = sample["batch"]
        if num is not None:
            size = int(num.reshape(-1)[0]) if isinstance(num, Tensor) else int(num)
        else:
            size = int(batch.max()) + 1 if batch.numel() else 0
        return size, batch.shape[0]
    names = [n for n in in_spec if isinstance(sample.get(n), Tensor) and sample[n].ndim > 0]
    if not names:
        return None, None
    size = sample[names[0]].shape[0]
    nodes = next((sample[n].shape[1] for n in names if in_spec[n].nodes and sample[n].ndim > 1),
                 None)
    return size, nodes


def output_layout_problem(
    y: Mapping[str, object], group: Group, in_spec: Spec, out_spec: Spec,
    sample: Mapping[str, object],
) -> tuple[str, str] | None:
    """``(field, what is wrong)`` for the first output field of ``out_spec`` whose layout does
    not fit the input ``sample``, or ``None``.

    Args:
        y: outputs (a model's or a backbone's) for the input ``sample``.
        group, in_spec, out_spec: the symmetry, the input and output specs.
        sample: the input batch (dense, or ragged with ``batch``).
    """
    size, rows = _input_layout(sample, in_spec)
    ragged = _ragged(sample)
    for name, field in out_spec.items():
        if name not in y:
            return name, f"missing output field (the outputs are {sorted(y)})"
        x = y[name]
        if not isinstance(x, Tensor):
            return name, f"expected a tensor, got {type(x).__name__}"
        want = field.rep.feature_shape(group)
        if ragged and not field.nodes and x.ndim and x.shape[0] == rows != size:
            continue  # a ragged field with one row per node, not declared per node: symkit
            # has always told node-level tensors of ragged batches by their rows (Copies)
        if ragged and field.nodes:
            expected = "(T, ..." + "".join(f", {'*' if w is None else w}" for w in want) + ")"
            tail_ok = x.ndim >= 1 + len(want) and all(
                w is None or w == t for w, t in zip(want, x.shape[x.ndim - len(want):]))
            if x.shape[:1] != (rows,) or not tail_ok:
                return name, (f"expected shape {expected} (T = {rows} node rows of the ragged "
                              f"batch), got {tuple(x.shape)}")
            continue
        try:
            field.check(group, name, x, None if ragged else rows)
        except SpecError as e:
            return name, str(e).removeprefix(f"{name}: ")
        if size is not None and x.shape[0] != size:
            return name, (f"expected shape {field.expected_shape(group)} with B = {size} "
                          f"samples, got {tuple(x.shape)}")
    return None
