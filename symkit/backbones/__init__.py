"""Backbones: plain ``nn.Module`` s mapping a sample dict to an output dict.

Backbones know nothing about symmetry; a symmetrizer wraps them. Each reads the fields named by
``reads`` and writes the fields and shapes named by ``writes`` (a leading -1 in a shape means
one entry per node; see :mod:`symkit.backbones._fields`). Registered (registry ``backbones``):
``mlp``, ``deepsets``, ``set_transformer``, ``cnn``. :class:`FieldAdapter` adapts any
tensor-in, tensor-out module, e.g. a pretrained one. The field helpers (``node_features``,
``node_mask``, ``masked_pool``, ``parse_writes``, ``is_per_node``, ``resolve_reads``) and the
building blocks (``OutputHeads``, ``mlp``, ``activation``) are public so plugin backbones follow
the same I/O convention without writing it again.
"""

from symkit.backbones._adapter import FieldAdapter
from symkit.backbones._cnn import CNN, cnn
from symkit.backbones._deepsets import DeepSets, deepsets
from symkit.backbones._fields import (
    NODE_AXIS,
    OutputHeads,
    activation,
    is_per_node,
    masked_pool,
    mlp,
    node_features,
    node_mask,
    parse_writes,
    resolve_reads,
)
from symkit.backbones._mlp import MLP, mlp_backbone
from symkit.backbones._set_transformer import SetTransformer, set_transformer

__all__ = [
    "CNN",
    "MLP",
    "NODE_AXIS",
    "DeepSets",
    "OutputHeads",
    "FieldAdapter",
    "SetTransformer",
    "activation",
    "cnn",
    "deepsets",
    "is_per_node",
    "masked_pool",
    "mlp",
    "mlp_backbone",
    "node_features",
    "node_mask",
    "parse_writes",
    "resolve_reads",
    "set_transformer",
]
