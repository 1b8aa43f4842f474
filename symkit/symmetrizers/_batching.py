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

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from symkit.errors import SampleError, SpecError
from symkit.spec import Spec
from symkit.symmetrizers._output_layout import output_layout_problem

__all__ = ["BatchLayout", "batch_layout", "Copies", "data_dtype", "check_finite", "backbone_output",
           "check_node_layout", "select_samples"]


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


def select_samples(sample: Mapping[str, object], keep: Tensor,
                   is_node: Callable[[str, Tensor], bool] | None = None) -> dict[str, object]:
    """The batch cut to the samples where ``keep`` is true, dense or ragged.

    Dense: every tensor with one row per sample is cut. Ragged (an integer ``batch`` field):
    node tensors keep the nodes of the kept samples, ``batch`` is renumbered, ``num_graphs``
    updated (same type), and per-sample tensors are cut.

    Args:
        sample: the batch.
        keep: ``(B,)`` bool.
        is_node: ragged only, whether field ``name`` holds node rows (default: a tensor with
            one row per node).
    """
    keep = keep.to(torch.bool)
    b = keep.shape[0]
    graph = sample.get("batch")
    if not (isinstance(graph, Tensor) and graph.ndim == 1 and not graph.is_floating_point()):
        return {k: v[keep] if isinstance(v, Tensor) and v.ndim and v.shape[0] == b else v
                for k, v in sample.items()}
    n = graph.shape[0]
    node_keep = keep[graph]
    renumber = torch.cumsum(keep.long(), 0) - 1
    is_node = is_node or (lambda name, v: v.shape[0] == n)
    out: dict[str, object] = {}
    for k, v in sample.items():
        if k == "batch":
            out[k] = renumber[graph[node_keep]]
        elif k == "num_graphs":
            count = int(keep.sum())
            out[k] = torch.tensor(count) if isinstance(v, Tensor) else count
        elif isinstance(v, Tensor) and v.ndim and is_node(k, v):
            out[k] = v[node_keep]
        elif isinstance(v, Tensor) and v.ndim and v.shape[0] == b:
            out[k] = v[keep]
        else:
            out[k] = v
    return out


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


def backbone_output(y: object, layout: tuple | None = None) -> Mapping[str, Tensor]:
    """``y``, a backbone's output, checked: a mapping of field names to tensors with a leading
    copy (or node) dimension, which the symmetrizer transforms and averages row by row.

    Args:
        y: what the backbone returned.
        layout: ``(group, in_spec, out_spec, part)``, ``part`` the backbone's input: each field
            of ``out_spec`` must then have the layout of
            :func:`~symkit.symmetrizers._output_layout.output_layout_problem` for ``part``.

    Raises:
        SpecError: ``y`` is not a mapping (names no field), or one of its values is not a
            tensor of at least one dimension (names that output field and its type), or an
            output field has the wrong shape for the backbone's input (names the field, the
            expected and the actual shape).
    """
    if not isinstance(y, Mapping):
        raise SpecError(None, f"the backbone must return a dict of output fields, got "
                              f"{type(y).__name__}")
    for name, v in y.items():
        if not (isinstance(v, Tensor) and v.ndim > 0):
            got = "a 0-dim tensor" if isinstance(v, Tensor) else type(v).__name__
            raise SpecError(name, f"a backbone output must be a tensor with one row per copy "
                                  f"(or node), got {got}")
    if layout is not None:
        problem = output_layout_problem(y, *layout)
        if problem is not None:
            raise SpecError(problem[0], f"backbone output (one row per copy g^-1 x of a sample): "
                                        f"{problem[1]}")
    return y


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
