"""The plain GNN as stages, for layer-wise frame averaging (``layerwise_frame_averaging``).

``graph::gnn`` computes ``h_0 = embed(x)``, ``h_l = layer_l(h_{l-1})``, ``y = r + dec(h_L)``.
:func:`gnn_stages` cuts it into ``L + 2`` stages over a *state* (the sample plus the hidden
features ``_hidden``, a node scalar field): the embedding, one stage per message-passing layer
and the decoder. Every stage reads the position field, so each gets a frame. With
``layer_geometry`` each layer also reads the node features (``h <- h + W_in x``, so in its
frame it sees the current positions and velocities) and updates every point and vector field
it reads (``x <- x + W_out h``): the next layer's frame is recomputed from the moved positions,
as in the n-body model of Puny et al. (2022).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from symkit.backbones import node_features, node_mask
from symkit.errors import ConfigError
from symkit.reps import scalar
from symkit.spec import Field, Spec
from symkit.symmetrizers import Stage

__all__ = ["HIDDEN", "gnn_stages", "run_stages"]

#: the state field holding the hidden node features between stages, ``(B, N, hidden)``
HIDDEN = "_hidden"


class _Embed(nn.Module):
    def __init__(self, gnn):
        super().__init__()
        self.gnn = gnn

    def forward(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {HIDDEN: self.gnn.embed(node_features(state, self.gnn.reads))}


class _Layer(nn.Module):
    def __init__(self, gnn, index: int):
        super().__init__()
        self.gnn, self.index = gnn, index

    def forward(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        gnn, i = self.gnn, self.index
        h = state[HIDDEN]
        b, n = h.shape[:2]
        mask = node_mask(state, gnn.mask, h)
        if gnn.layer_geometry:
            h = h + gnn.inject[i](node_features(state, gnn.reads))
        h = gnn.message(i, h, gnn.graph(state, b, n, mask))
        out = {HIDDEN: h}
        if gnn.layer_geometry:
            step = gnn.move[i](h).reshape(b, n, len(gnn.geometric), gnn.dim)
            keep = None if mask is None else mask[..., None].to(h.dtype)
            for k, name in enumerate(gnn.geometric):
                delta = step[:, :, k] if keep is None else step[:, :, k] * keep
                out[name] = state[name] + delta.reshape(state[name].shape)
        return out


class _Decode(nn.Module):
    def __init__(self, gnn):
        super().__init__()
        self.gnn = gnn

    def forward(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        h = state[HIDDEN]
        return {self.gnn.out: self.gnn.readout(state, h, node_mask(state, self.gnn.mask, h))}


def gnn_stages(gnn, in_spec: Spec, out_spec: Spec) -> list[Stage]:
    """Embedding, one stage per layer, decoder; each reads the fields it needs plus ``pos``.

    Raises:
        ConfigError: a read field is not in ``in_spec``, or the output is not in ``out_spec``.
    """
    missing = [f for f in gnn.reads if f not in in_spec]
    if missing:
        raise ConfigError("model.backbone.reads", f"fields {missing} are not in the in_spec "
                          f"{list(in_spec)}: layer-wise frames need their representations")
    if gnn.out not in out_spec:
        raise ConfigError("model.backbone.writes", f"'{gnn.out}' is not in the out_spec")
    hidden = {HIDDEN: Field(scalar(), nodes=True)}
    frame = [gnn.pos] if gnn.pos in in_spec else []
    edge = [*gnn.edge_product, *frame]
    layer_reads = [*gnn.reads] if gnn.layer_geometry else edge
    stages = [Stage(_Embed(gnn), _sub(in_spec, [*gnn.reads, *frame]), Spec(hidden))]
    for i in range(len(gnn.layers)):
        writes = dict(hidden)
        if gnn.layer_geometry:
            writes.update({f: in_spec[f] for f in gnn.geometric})
        reads = Spec({**hidden, **_sub(in_spec, layer_reads + frame)})
        stages.append(Stage(_Layer(gnn, i), reads, Spec(writes)))
    decode_reads = [f for f in (gnn.residual, *frame) if f is not None]
    stages.append(Stage(_Decode(gnn), Spec({**hidden, **_sub(in_spec, decode_reads)}),
                        Spec({gnn.out: out_spec[gnn.out]})))
    return stages


def _sub(spec: Spec, names: list[str]) -> Spec:
    """The spec restricted to ``names`` (in order, once each, those it has)."""
    return Spec({n: spec[n] for n in dict.fromkeys(names) if n in spec})


def run_stages(gnn, sample: Mapping[str, Any]) -> dict[str, Tensor]:
    """The unsymmetrized composition of the stages: ``graph::gnn``'s forward pass."""
    state = dict(sample)
    for stage in (_Embed(gnn), *(_Layer(gnn, i) for i in range(len(gnn.layers))),
                  _Decode(gnn)):
        state.update(stage(state))
    return {gnn.out: state[gnn.out]}
