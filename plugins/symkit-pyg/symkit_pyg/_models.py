"""PyG's basic GNNs as registered backbones: ``pyg::gin``, ``pyg::gcn``, ``pyg::graph_sage``,
``pyg::gat``, ``pyg::edge_cnn``, with PyG's own keyword arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from symkit.backbones import resolve_reads
from symkit_pyg._backbone import PyGBackbone

__all__ = ["MODELS", "gin", "gcn", "graph_sage", "gat", "edge_cnn"]

#: registered name -> class name in ``torch_geometric.nn.models``.
MODELS = {"gin": "GIN", "gcn": "GCN", "graph_sage": "GraphSAGE", "gat": "GAT",
          "edge_cnn": "EdgeCNN"}


def _factory(name: str) -> Callable[..., PyGBackbone]:
    cls_name = MODELS[name]

    def factory(
        writes: dict[str, list[int]],
        reads: list[str] | None = None,
        hidden_channels: int = 64,
        num_layers: int = 3,
        in_channels: int = -1,
        dropout: float = 0.0,
        act: str = "relu",
        norm: str | None = None,
        jk: str | None = None,
        pool: str = "mean",
        options: dict[str, Any] | None = None,
        in_spec: Any = None,
    ) -> PyGBackbone:
        import torch_geometric.nn.models as models

        model = getattr(models, cls_name)(
            in_channels=in_channels, hidden_channels=hidden_channels, num_layers=num_layers,
            out_channels=PyGBackbone.out_channels(writes), dropout=dropout, act=act, norm=norm,
            jk=jk, **(options or {}))
        return PyGBackbone(model, resolve_reads(reads, in_spec), writes, pool)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"""PyG's ``{cls_name}`` on a ragged sample (a PyG batch, or fully connected
    graphs of the ``arrays`` data set).

    Args:
        writes: field -> per-node shape ``[-1, ...]`` or per-graph shape (pooled).
        reads: node fields concatenated into ``x`` (default: the fields of ``in_spec``).
        hidden_channels, num_layers, in_channels, dropout, act, norm, jk: as in PyG
            (``in_channels: -1`` infers it from the first batch).
        pool: ``mean``, ``sum`` or ``max``, for per-graph outputs.
        options: further keyword arguments of ``torch_geometric.nn.{cls_name}``.
        in_spec: filled from the model's context.
    """
    return factory


gin = _factory("gin")
gcn = _factory("gcn")
graph_sage = _factory("graph_sage")
gat = _factory("gat")
edge_cnn = _factory("edge_cnn")
