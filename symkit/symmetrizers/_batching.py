"""Batch layouts and the K-copies expansion shared by every symmetrizer.

Two layouts are supported:

* **dense**: every per-sample tensor has the batch first, ``(B, ...)``; optional ``mask``
  ``(B, N)`` bool marks the valid nodes of padded point sets.
* **ragged**: node tensors are concatenated over graphs, ``(total_nodes, ...)``, with ``batch``
  ``(total_nodes,)`` long naming each node's graph and optionally ``num_graphs`` (``B``);
  per-graph tensors have ``B`` rows.

Copies are *sample-major*: copy ``b * K + k`` is the ``k``-th copy of sample ``b``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from symkit.errors import SampleError, SpecError
from symkit.spec import Spec

__all__ = ["BatchLayout", "batch_layout", "Copies", "data_dtype", "check_finite", "backbone_output",
           "check_feature_shape", "check_node_layout"]


@dataclass
class BatchLayout:
    """How a sample is batched.

    Attributes:
        size: number of samples (graphs) ``B``.
        batch: ragged layouts only: graph of each node, ``(total_nodes,)`` long; else ``None``.
    """

    size: int
    batch: Tensor | None = None

    @property
    def ragged(self) -> bool:
        return self.batch is not None

    @property
    def num_nodes(self) -> int | None:
        return None if self.batch is None else self.batch.shape[0]


def batch_layout(sample: Mapping[str, object], spec: Spec) -> BatchLayout:
    """Detect the layout: ragged when ``sample["batch"]`` is a 1-D long tensor, else dense."""
    batch = sample.get("batch")
    if isinstance(batch, Tensor) and batch.ndim == 1 and not batch.is_floating_point():
        num = sample.get("num_graphs")
        if num is None:
            size = int(batch.max()) + 1 if batch.numel() else 0
        else:
            size = int(num.reshape(-1)[0]) if isinstance(num, Tensor) else int(num)
        return BatchLayout(size, batch)
    for name in spec:
        value = sample.get(name)
        if isinstance(value, Tensor):
            return BatchLayout(value.shape[0])
    raise ValueError(f"sample has none of the spec's fields {list(spec)}")


def data_dtype(sample: Mapping[str, object], spec: Spec) -> torch.dtype:
    """The floating dtype of the sample's spec fields (float32 if there is none)."""
    for name in spec:
        value = sample.get(name)
        if isinstance(value, Tensor) and value.is_floating_point():
            return value.dtype
    return torch.get_default_dtype()


def check_finite(
    sample: Mapping[str, object], names, layout: BatchLayout
) -> None:
    """Raise :class:`SampleError` naming the first sample (and field) with a NaN or Inf.

    Checks the floating tensors of ``sample`` named in ``names``; in a dense masked batch only
    the valid nodes count (padding may hold anything). Costs one reduction per field.

    Raises:
        SampleError: ``index`` the sample (graph) at fault, ``field`` its field.
    """
    mask = None if layout.ragged else sample.get("mask")
    fields = [(name, x) for name in names
              if isinstance(x := sample.get(name), Tensor) and x.is_floating_point()
              and x.ndim > 0]
    if _all_finite([x for _, x in fields]):  # one host read for all fields
        return
    for name, x in fields:
        if _all_finite([x]):
            continue
        bad = ~torch.isfinite(x.detach())
        if layout.ragged and x.shape[0] == layout.num_nodes:
            rows = layout.batch[bad.reshape(x.shape[0], -1).any(1)]
        elif (isinstance(mask, Tensor) and x.ndim >= 2
              and tuple(x.shape[:2]) == tuple(mask.shape)):
            per_node = bad.reshape(*mask.shape, -1).any(-1) & mask.bool()
            rows = torch.nonzero(per_node.any(1)).flatten()
        else:
            rows = torch.nonzero(bad.reshape(x.shape[0], -1).any(1)).flatten()
        if rows.numel():
            index = int(rows.min())
            raise SampleError(index, "non-finite values (NaN or Inf): the sample cannot be "
                              "symmetrized", field=name)


def check_node_layout(group, layout: BatchLayout, what: str) -> None:
    """Raise :class:`SpecError` naming the ``batch`` field when ``group`` permutes nodes (an
    ``S_N`` factor) and the batch is ragged: ``S_N`` permutes a fixed number ``N`` of nodes per
    sample, which a ragged batch (graphs of different sizes) does not have. Pad the samples to
    ``N`` nodes with a ``mask`` instead (the mask moves with the nodes).

    Args:
        group: the symmetrizer's group; layout: :func:`batch_layout` of the sample.
        what: the symmetrizer, for the message.
    """
    if layout.ragged and any("permutation" in f.kinds for f in group.factors()):
        raise SpecError("batch", f"{what} on {group!r} needs dense samples (B, N, ...) with an "
                        f"optional mask: S_N permutes a fixed number of nodes, and a ragged "
                        f"batch has none")


def backbone_output(y: object, out_spec: Spec | None = None, group: object = None, *,
                    dense: bool = True) -> Mapping[str, Tensor]:
    """``y``, a backbone's output, checked: a mapping of field names to tensors with a leading
    copy (or node) dimension, which the symmetrizer transforms and averages row by row.

    With ``out_spec`` (and its ``group``), a declared field must end in its representation's
    feature shape and, in a ``dense`` batch, a node field (``nodes: true``) must have a node
    axis after the row axis. Fields the spec does not declare pass through as invariants
    (averaged untransformed; a loss or metric reading one is refused by the runner's
    preflight).

    Raises:
        SpecError: ``y`` is not a mapping (names no field), one of its values is not a tensor
            of at least one dimension, or a declared field's trailing shape is not its
            representation's (names that output field, its shape and the expected one).
    """
    if not isinstance(y, Mapping):
        raise SpecError(None, f"the backbone must return a dict of output fields, got "
                              f"{type(y).__name__}")
    for name, v in y.items():
        if not (isinstance(v, Tensor) and v.ndim > 0):
            got = "a 0-dim tensor" if isinstance(v, Tensor) else type(v).__name__
            raise SpecError(name, f"a backbone output must be a tensor with one row per copy "
                                  f"(or node), got {got}")
    if out_spec is None:
        return y
    for name in out_spec:
        if name in y:
            check_feature_shape(name, out_spec[name], group, y[name], dense=dense)
    return y


def check_feature_shape(name: str, field: object, group: object, y: Tensor, *,
                        dense: bool = True) -> None:
    """Raise :class:`SpecError` unless output ``y`` ends in ``field``'s feature shape on
    ``group`` (a vector on E(3): ``(..., 3)``; ``None`` entries match any size) and, for a
    node field of a ``dense`` batch, has a node axis: ``(rows, N, ..., *feature_shape)``."""
    try:
        want = tuple(field.rep.feature_shape(group))
    except Exception:  # noqa: BLE001 - a representation that cannot say is not checked
        return
    tail = tuple(y.shape[y.ndim - len(want):]) if want else ()
    nodes = bool(getattr(field, "nodes", False)) and dense
    if nodes and y.ndim < 2 + len(want):
        raise SpecError(name, f"the backbone writes '{name}' of shape {tuple(y.shape)}, one "
                              f"value per sample, but model.out_spec declares it a node field "
                              f"(nodes: true) of shape (rows, N, ..."
                              + "".join(f", {'*' if w is None else w}" for w in want)
                              + "); write one value per node (e.g. writes: {" + name
                              + ": [-1, ...]}) or declare it with nodes: false")
    if y.ndim < 1 + len(want) or any(w is not None and w != t for w, t in zip(want, tail)):
        expected = "(rows, ..." + "".join(f", {'*' if w is None else w}" for w in want) + ")"
        raise SpecError(name, f"the backbone writes '{name}' of shape {tuple(y.shape)}, but "
                              f"model.out_spec declares it {field.rep!r} on {group!r}, of shape "
                              f"{expected}; fix the backbone's output size (its 'writes') or "
                              "model.out_spec")


def _all_finite(xs: list[Tensor]) -> bool:
    """Whether every entry of every tensor is finite: one min/max pass per tensor (NaN and
    +-Inf reach the extremes; a vectorized reduction, unlike ``isfinite(x).all()``'s three
    elementwise passes) and one host read for all. ``sum (min - max)`` is finite exactly when
    every extreme is (its terms are <= 0, so no ``inf - inf``); a finite sum that overflows only
    sends the caller to its field-by-field search, which finds nothing."""
    total = None
    for x in xs:
        if x.numel() == 0:
            continue
        lo, hi = torch.aminmax(x.detach() if x.requires_grad else x)
        total = lo - hi if total is None else total + (lo - hi)
    return total is None or bool(torch.isfinite(total))


class Copies:
    """``K`` copies of each of the ``B`` samples of a batch, sample-major.

    Dense tensors with ``B`` rows are repeated row by row. In a ragged batch every node is
    repeated ``K`` times and ordered by its new graph ``b * K + k`` (:attr:`graph`), so that a
    contiguous range of copies is a contiguous range of nodes; :attr:`node` is the original node
    of each repeated node.

    Shapes:
        graph, node: ``(K * total_nodes,)`` long (ragged only).
    """

    def __init__(self, sample: Mapping[str, object], layout: BatchLayout, k: int):
        self.layout, self.k = layout, k
        self.size = layout.size * k
        b = layout.size
        self.graph: Tensor | None = None
        self.node: Tensor | None = None
        #: after :meth:`select`: the kept copies' indices among the ``B * K``; else ``None``
        self.source: Tensor | None = None
        self._node_start: Tensor | None = None
        if layout.ragged:
            total = layout.num_nodes
            batch = layout.batch
            node = torch.arange(total, device=batch.device).repeat(k)
            copy = torch.arange(k, device=batch.device).repeat_interleave(total)
            graph = batch[node] * k + copy
            order = torch.argsort(graph, stable=True)
            self.node, self.graph = node[order], graph[order]
            bounds = torch.arange(self.size + 1, device=batch.device)
            self._node_start = torch.searchsorted(self.graph, bounds)
        self.sample: dict[str, object] = {}
        for name, value in sample.items():
            if name in ("batch", "num_graphs") and layout.ragged:
                continue
            if isinstance(value, Tensor) and value.ndim > 0:
                if layout.ragged and value.shape[0] == layout.num_nodes:
                    value = value[self.node]
                elif value.shape[0] == b and k > 1:
                    value = value.repeat_interleave(k, dim=0)
            self.sample[name] = value

    def select(self, rows: Tensor) -> None:
        """Keep only the copies ``rows`` (those of non-zero weight), in order: :attr:`size`
        becomes their number ``M``, copies are renumbered ``0 .. M-1`` (:attr:`graph` of a
        ragged batch too) and :attr:`source` maps them back to ``b * K + k``.

        Shapes:
            rows: ``(M,)`` long, increasing indices into the ``B * K`` copies.
        """
        keep = new_id = None
        if self.graph is not None:  # the nodes of the kept copies
            new_id = torch.full((self.size,), -1, dtype=torch.long, device=rows.device)
            new_id[rows] = torch.arange(rows.shape[0], device=rows.device)
            keep = new_id[self.graph] >= 0
        sample = {}
        for name, v in self.sample.items():
            if isinstance(v, Tensor) and v.ndim > 0:
                if keep is not None and self.is_node_level(v):
                    v = v[keep]
                elif v.shape[0] == self.size:
                    v = v[rows]
            sample[name] = v
        self.sample, self.source, self.size = sample, rows, rows.shape[0]
        if keep is not None:
            self.node, self.graph = self.node[keep], new_id[self.graph[keep]]
            bounds = torch.arange(self.size + 1, device=rows.device)
            self._node_start = torch.searchsorted(self.graph, bounds)

    def source_copy(self, copy: Tensor) -> Tensor:
        """Indices ``b * K + k`` in the full set of copies of (selected) copy indices."""
        return copy if self.source is None else self.source[copy]

    def is_node_level(self, x: Tensor) -> bool:
        """Whether a repeated tensor has one row per repeated node (ragged) rather than per copy."""
        return self.node is not None and x.shape[0] == self.node.shape[0] != self.size

    def chunks(self, chunk_size: int | None) -> Iterator[dict[str, object]]:
        """The repeated sample split into consecutive pieces of at most ``chunk_size`` copies."""
        step = max(self.size, 1) if not chunk_size else max(1, int(chunk_size))
        for start in range(0, max(self.size, 1), step):
            stop = min(start + step, self.size)
            yield self._slice(start, stop)

    def piece(self, start: int, stop: int) -> dict[str, object]:
        """The copies ``start:stop`` as a backbone input (a ragged piece renumbers its graphs
        from 0)."""
        return self._slice(start, stop)

    def _slice(self, start: int, stop: int) -> dict[str, object]:
        if start == 0 and stop == self.size:
            if self.graph is None:
                return dict(self.sample)
            return {**self.sample, "batch": self.graph, "num_graphs": self.size}
        out: dict[str, object] = {}
        if self.graph is not None:
            n0, n1 = int(self._node_start[start]), int(self._node_start[stop])
            out["batch"] = self.graph[n0:n1] - start
            out["num_graphs"] = stop - start
        for name, value in self.sample.items():
            if isinstance(value, Tensor) and value.ndim > 0:
                if self.is_node_level(value):
                    value = value[n0:n1]
                elif value.shape[0] == self.size:
                    value = value[start:stop]
            out[name] = value
        return out
