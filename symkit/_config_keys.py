"""The config's vocabulary: which keys hold typed nodes, and from which registry.

A leaf module (it imports nothing of symkit), so that reading, validating, documenting and
defaulting a config all share one table without importing one another.
"""

from __future__ import annotations

__all__ = ["KEY_CATEGORIES", "LIST_KEYS", "TOP_LEVEL_KEYS"]

#: Every key a run config may have at its top level.
TOP_LEVEL_KEYS = (
    "experiment", "data", "model", "loss", "metric", "optimizer", "scheduler", "train", "tracking",
)

#: Which registry a key's typed node comes from.
KEY_CATEGORIES: dict[str, str] = {
    "group": "groups",
    "factors": "groups",
    "backbone": "backbones",
    "symmetrizer": "symmetrizers",
    "canonicalizer": "canonicalizers",
    "data": "datasets",
    "dataset": "datasets",
    "loss": "losses",
    "metric": "metrics",
    "metrics": "metrics",
    "optimizer": "optimizers",
    "scheduler": "schedulers",
}
#: Keys holding a list of typed nodes (one per item).
LIST_KEYS = frozenset({"factors", "metrics"})
