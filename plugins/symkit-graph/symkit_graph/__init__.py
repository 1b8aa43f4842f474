"""symkit-graph: message-passing backbones and the charged n-body data set for symkit.

Registers (scope ``graph``): backbones ``gnn`` (plain message passing, the n-body baseline of
the EGNN paper; it exposes its layers to ``layerwise_frame_averaging``) and ``egnn``
(E(n)-equivariant reference), the symmetrizer ``local_frames`` (a frame per node, messages in
the receiving node's frame), data sets ``nbody`` and ``clusters`` (metal-cluster energies and
forces).
"""

from __future__ import annotations

from symkit.hookspecs import hookimpl

__version__ = "0.1.0"
SYMKIT_API_VERSION = 1

__all__ = ["SYMKIT_API_VERSION", "__version__", "symkit_register"]


@hookimpl
def symkit_register(register) -> None:
    """Register the plugin's parts lazily, so ``import symkit_graph`` stays cheap."""
    register("backbones", "gnn", "symkit_graph._gnn:gnn")
    register("backbones", "egnn", "symkit_graph._egnn:egnn")
    register("symmetrizers", "local_frames", "symkit_graph._local_frames:local_frames")
    register("datasets", "nbody", "symkit_graph._nbody:nbody")
    register("datasets", "clusters", "symkit_graph._clusters:clusters")
