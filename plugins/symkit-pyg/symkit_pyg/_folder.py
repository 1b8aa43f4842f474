"""``pyg::folder``: a data set from a user's processed PyG root folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from symkit.data import split_indices
from symkit.errors import ConfigError, DataError
from symkit_pyg._convert import to_sample

__all__ = ["PyGFolder", "folder"]


class PyGFolder(Dataset):
    """Graphs of a processed PyG ``InMemoryDataset`` file, batched into symkit samples.

    Args:
        graphs: the loaded PyG data set (indexable, each item a ``Data``).
        indices: the graphs of this split.

    Items are PyG ``Data``; :meth:`collate` makes a PyG ``Batch`` and then the ragged symkit
    sample (:func:`symkit_pyg.to_sample`): node fields ``(total_nodes, ...)``, graph fields
    ``(B, ...)``, ``batch``, ``num_graphs`` and the edges.
    """

    def __init__(self, graphs: Any, indices: np.ndarray):
        self.graphs, self.indices = graphs, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.graphs[int(self.indices[i])]

    def collate(self, items: Sequence[Any]) -> dict[str, Any]:
        from torch_geometric.data import Batch

        return to_sample(Batch.from_data_list(list(items)))


def _load(path: Path) -> Any:
    from torch_geometric.data import InMemoryDataset

    class Processed(InMemoryDataset):
        def __init__(self) -> None:
            super().__init__(None)
            self.load(str(path))

    try:
        return Processed()
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one error for the user
        raise DataError(f"data: cannot read the processed PyG file {path} (written by "
                        f"InMemoryDataset.save): {type(exc).__name__}: {exc}") from exc


def folder(
    root: str,
    split: str = "train",
    file: str | dict[str, str] = "data.pt",
    splits: dict[str, float] | None = None,
    max_samples: int | None = None,
) -> PyGFolder:
    """Graphs from ``ROOT/processed/FILE``, as written by a PyG ``InMemoryDataset``.

    Args:
        root: the data set's root folder (the one holding ``processed/``).
        split: the split to build (filled in by the runner).
        file: the processed file, or one per split ``{train: a.pt, valid: b.pt, test: c.pt}``.
        splits: fractions ``{valid: 0.1, test: 0.1, seed: 0}`` of one file; without it, the
            whole file is every split.
        max_samples: keep only the first graphs of the split.
    """
    if isinstance(file, dict):
        if split not in file:
            raise ConfigError(f"file.{split}", "missing: one file per split needs train, "
                              "valid and test")
        file = file[split]
    path = Path(os.path.expanduser(root)) / "processed" / file
    if not path.is_file():
        raise DataError(f"data: no processed PyG file at {path}")
    graphs = _load(path)
    indices = np.arange(len(graphs))
    if splits is not None:
        indices = split_indices(len(graphs), split, splits)
    if max_samples is not None:
        indices = indices[:max_samples]
    return PyGFolder(graphs, indices)
