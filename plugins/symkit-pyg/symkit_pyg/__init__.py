"""symkit-pyg: PyTorch Geometric graphs, models and data sets for symkit.

Registers (scope ``pyg``): backbones ``gin``, ``gcn``, ``graph_sage``, ``gat``, ``edge_cnn``
(PyG's models of those names, see :mod:`symkit_pyg._models`) and data set ``folder`` (a
processed PyG root folder); and lets every symmetrized model take a PyG ``Data``/``Batch``
(:func:`to_sample`). ``torch_geometric`` is imported only when a part is used.
"""

from __future__ import annotations

from symkit.hookspecs import hookimpl
from symkit_pyg._convert import Edges, edges_for, fully_connected, to_sample

__version__ = "0.1.0"
SYMKIT_API_VERSION = 1

__all__ = ["SYMKIT_API_VERSION", "Edges", "PyGBackbone", "__version__", "edges_for",
           "fully_connected", "symkit_register", "to_sample"]


def __getattr__(name: str):
    if name == "PyGBackbone":
        from symkit_pyg._backbone import PyGBackbone

        return PyGBackbone
    raise AttributeError(f"module 'symkit_pyg' has no attribute {name!r}")


@hookimpl
def symkit_register(register) -> None:
    """Register the plugin's parts lazily, and PyG batches as samples."""
    from symkit import register_sample_adapter
    from symkit_pyg._models import MODELS

    for name in MODELS:
        register("backbones", name, f"symkit_pyg._models:{name}")
    register("datasets", "folder", "symkit_pyg._folder:folder")
    register_sample_adapter(to_sample)
