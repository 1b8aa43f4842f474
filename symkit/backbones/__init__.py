"""Backbones: plain ``nn.Module`` s mapping a sample dict to an output dict.

Backbones know nothing about symmetry; a symmetrizer wraps them. Each reads the fields named by
``reads`` and writes the fields and shapes named by ``writes`` (a leading -1 in a shape means
one entry per node; see :mod:`symkit.backbones._fields`). Registered (registry ``backbones``):
``mlp``, ``deepsets``, ``set_transformer``, ``cnn``. :class:`FieldAdapter` adapts any
tensor-in, tensor-out module, e.g. a pretrained one. The field helpers (``node_features``,
``node_mask``, ``masked_pool``, ``parse_writes``, ``resolve_reads``, ``activation``) are public
so plugin backbones follow the same I/O convention.
"""

from symkit.backbones._adapter import FieldAdapter
from symkit.backbones._cnn import CNN, cnn
from symkit.backbones._deepsets import DeepSets, deepsets
from symkit.backbones._fields import (
    NODE_AXIS,
    activation,
    masked_pool,
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
    "FieldAdapter",
    "SetTransformer",
    "activation",
    "cnn",
    "deepsets",
    "masked_pool",
    "mlp_backbone",
    "node_features",
    "node_mask",
    "parse_writes",
    "resolve_reads",
    "set_transformer",
]
