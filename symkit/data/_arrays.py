"""The ``arrays`` data set: samples made of named arrays read from a file.

Each sample field is read from one array of the file (``fields: {pos: R, charge: Z}``). Two
layouts:

* **fixed size**: every array has one row per sample, ``(n_samples, ...)``.
* **variable size** (``counts: N``, the layout of most molecular data sets): node arrays are
  the samples' nodes concatenated, ``(sum_i n_i, ...)``, with ``n_i`` in the per-sample count
  array ``N`` ``(n_samples,)``; per-sample arrays (energies, labels) keep ``(n_samples, ...)``.
  Batches are *ragged* (node fields concatenated, ``batch`` naming each node's sample) or
  *padded* (node fields ``(B, N_max, ...)`` padded with zeros, ``mask`` ``(B, N_max)`` bool).

Splits: one file per split (``path: {train: a.npz, valid: b.npz, test: c.npz}``); arrays named
``{split}_{name}`` in one file (found automatically); fractions of one file (``splits: {valid:
0.1, test: 0.1, seed: 0}``, a seeded permutation); or else the whole file for every split (so
that ``data.path=other.npz`` evaluates a run on all of ``other.npz``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from symkit.data._collate import RESERVED, padded_collate, ragged_collate
from symkit.data._readers import ASE_COUNTS, ArraySource, open_source
from symkit.errors import ConfigError, DataError
from symkit.registry import register

__all__ = ["Arrays", "ArrayField", "arrays", "split_indices"]

SPLITS = ("train", "valid", "test")
_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16}


class ArrayField:
    """Where one sample field comes from: an array name, an optional per-sample reshape, an
    optional dtype, and whether it is a node array (``None``: decided by its length)."""

    def __init__(self, field: str, spec: str | Mapping[str, Any]):
        if isinstance(spec, str):
            spec = {"array": spec}
        if not isinstance(spec, Mapping) or "array" not in spec:
            raise ConfigError(f"fields.{field}", "expected an array name or a mapping with "
                              f"'array' (and optional shape, dtype, nodes); got {spec!r}")
        unknown = sorted(set(spec) - {"array", "shape", "dtype", "nodes"})
        if unknown:
            raise ConfigError(f"fields.{field}.{unknown[0]}", "unknown option; expected array, "
                              "shape, dtype, nodes")
        self.field, self.array = field, str(spec["array"])
        shape = spec.get("shape")
        self.shape = None if shape is None else tuple(int(s) for s in shape)
        dtype = spec.get("dtype")
        if dtype is not None and dtype not in _DTYPES:
            raise ConfigError(f"fields.{field}.dtype", f"unknown dtype {dtype!r}; use one of "
                              f"{list(_DTYPES)}")
        self.dtype = None if dtype is None else _DTYPES[dtype]
        self.nodes: bool | None = spec.get("nodes")


class Arrays(Dataset):
    """Samples ``{field: tensor}`` read from the arrays of one :class:`ArraySource`.

    Args:
        source: the opened file.
        fields: sample field -> :class:`ArrayField`.
        prefix: prepended to every array name (``"test_"`` for split-prefixed files).
        indices: the samples of this split (``None``: all of them).
        counts: variable size: name of the per-sample node-count array.
        dtype: floating arrays are cast to it (``None`` keeps the file's); integer arrays become
            ``int64``.
        batching: variable size only: ``ragged`` or ``padded``.

    Shapes:
        fixed size: item ``{field: array[i]}``; variable size: node fields ``(n_i, ...)``,
        per-sample fields ``array[i]``.

    Attributes:
        file_samples: the samples the file holds (with ``prefix``: that split's), of which
            ``indices`` are this data set's.

    Raises:
        DataError: a missing array or inconsistent lengths, naming the file, array and field.
    """

    def __init__(self, source: ArraySource, fields: Mapping[str, ArrayField], *,
                 prefix: str = "", indices: np.ndarray | None = None, counts: str | None = None,
                 dtype: torch.dtype | None = torch.float32, batching: str = "ragged"):
        if batching not in ("ragged", "padded"):
            raise ConfigError("batching", f"expected 'ragged' or 'padded', got {batching!r}")
        if not fields:
            raise ConfigError("fields", "needs at least one field: {sample field: array name}")
        self.source, self.fields, self.prefix = source, dict(fields), prefix
        self.dtype, self.batching = dtype, batching
        for name, f in self.fields.items():
            self._array(f.array, name)  # every array exists
        self.offsets: np.ndarray | None = None
        self.node_fields: set[str] = set()
        if counts is None:
            n = self._fixed_length()
        else:
            n = self._variable_layout(counts)
        self.file_samples = n
        self.indices = np.arange(n) if indices is None else np.asarray(indices)

    def _where(self, array: str) -> str:
        return f"array '{self.prefix}{array}' of {self.source.path}"

    def _array(self, array: str, field: str | None) -> Any:
        name = self.prefix + array
        if name not in self.source:
            close = sorted(self.source)[:20]
            for_field = f" (field '{field}')" if field else ""
            why = self.source.absent.get(name)
            raise DataError(f"data: {self.source.path} has no array '{name}'{for_field}"
                            + (f": {why}" if why else "") + f"; it has {close}")
        return self.source[name]

    def _column(self, field: str) -> Any:
        """The array of ``field``, looked up on each use (HDF5 handles are per process)."""
        return self.source[self.prefix + self.fields[field].array]

    def _fixed_length(self) -> int:
        lengths = {name: len(self._column(name)) for name in self.fields}
        n = next(iter(lengths.values()))
        for name, length in lengths.items():
            if length != n:
                first = next(iter(lengths))
                raise DataError(
                    f"data: field '{name}' ({self._where(self.fields[name].array)}) has "
                    f"{length} rows but field '{first}' has {n}; every array needs one row per "
                    "sample (for variable-size samples set data.counts)")
        return n

    def _variable_layout(self, counts: str) -> int:
        raw = np.asarray(self._array(counts, None)[:]).reshape(-1)
        if raw.dtype.kind not in "biuf":
            raise DataError(f"data: {self._where(counts)} holds {raw.dtype}; node counts must "
                            "be integers (one per sample)")
        count = raw.astype(np.int64)
        if raw.dtype.kind == "f" and not np.array_equal(count, raw):
            bad = int(np.flatnonzero(count != raw)[0])
            raise DataError(f"data: {self._where(counts)} holds {raw[bad].item()!r} for sample "
                            f"{bad}; node counts must be whole numbers (one per sample)")
        if (count < 0).any():
            raise DataError(f"data: {self._where(counts)} has negative node counts")
        self.offsets = np.concatenate([[0], np.cumsum(count)])
        n, total = len(count), int(self.offsets[-1])
        for name, f in self.fields.items():
            if name in RESERVED:
                raise ConfigError(f"fields.{name}", f"'{name}' is reserved for batching "
                                  "variable-size samples; name the field differently")
            length = len(self._column(name))
            if f.nodes is not None:
                nodes = f.nodes
            elif self.source.node_arrays:  # the file says which arrays are per node
                nodes = self.prefix + f.array in self.source.node_arrays
            else:
                nodes = length == total
            want = total if nodes else n
            if length != want:
                what = "the total node count" if nodes else "the number of samples"
                raise DataError(
                    f"data: field '{name}' ({self._where(f.array)}) has {length} rows; "
                    f"expected {what} {want} from {self._where(counts)} (node arrays have "
                    f"sum(counts) = {total} rows, per-sample arrays {n})")
            if nodes:
                self.node_fields.add(name)
        if not self.node_fields:
            raise DataError(f"data: no field has sum({self._where(counts)}) = {total} rows; "
                            "a variable-size data set needs at least one node array")
        return n

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        j = int(self.indices[i])
        item = {}
        for name, f in self.fields.items():
            a = self._column(name)
            if name in self.node_fields:
                value = a[int(self.offsets[j]):int(self.offsets[j + 1])]
            else:
                value = a[j]
            item[name] = self._tensor(np.array(value), f)
        return item

    def _tensor(self, value: np.ndarray, f: ArrayField) -> Tensor:
        x = torch.from_numpy(value)
        if x.is_floating_point():
            dtype = f.dtype or self.dtype
            x = x if dtype is None else x.to(dtype)
        elif f.dtype is not None:
            x = x.to(f.dtype)
        elif x.dtype != torch.bool:
            x = x.long()
        if f.shape is not None:
            try:
                x = x.reshape(f.shape)
            except RuntimeError as exc:
                raise DataError(f"data: field '{f.field}': cannot reshape a sample of "
                                f"{self._where(f.array)} of shape {tuple(x.shape)} to "
                                f"{list(f.shape)}") from exc
        return x

    def collate(self, items: Sequence[Mapping[str, Tensor]]) -> dict[str, Any]:
        """Batch items: stacked (fixed size), ragged or padded (variable size)."""
        if not self.node_fields:
            return {k: torch.stack([it[k] for it in items]) for k in items[0]}
        if self.batching == "padded":
            return padded_collate(items, self.node_fields)
        return ragged_collate(items, self.node_fields)

    def find_nonfinite(self, positions: Sequence[int] | None = None, split: str = "this"
                       ) -> str | None:
        """Why this data set cannot be trained on: the first of its samples with a NaN or an
        Inf in any floating field (input or target), or ``None``.

        The arrays are scanned, not the items (:meth:`ArraySource.nonfinite_rows`), so the
        check costs one vectorized pass over the file and runs before training starts.

        Args:
            positions: the items to check (``None``: all), e.g. ``range(max_samples)``.
            split: the split's name, for the message.

        Returns:
            one line naming the sample (its index in the file and in this split), the field,
            the array and its row.
        """
        samples = self.indices if positions is None else self.indices[np.asarray(positions)]
        for name, f in self.fields.items():
            rows = self.source.nonfinite_rows(self.prefix + f.array)
            if not len(rows):
                continue
            if name in self.node_fields:  # node row -> the sample whose rows hold it
                owner = np.searchsorted(self.offsets, rows, side="right") - 1
            else:
                owner = rows
            hit = np.isin(samples, owner)
            if hit.any():
                position = int(np.argmax(hit))
                sample = int(samples[position])
                row = int(rows[np.argmax(owner == sample)])
                return (f"data: sample {sample} of {self.source.path} (item {position} of the "
                        f"{split} split) has NaN or Inf in field '{name}' (array "
                        f"'{self.prefix}{f.array}', row {row}); inputs and targets must be "
                        "finite: clean or drop that sample")
        return None

    def describe(self, field: str) -> str | None:
        """Where ``field`` is read from (``array 'R' of /path/file.npz``), for error messages."""
        f = self.fields.get(field)
        return None if f is None else self._where(f.array)


def split_indices(n: int, split: str, splits: Mapping[str, Any]) -> np.ndarray:
    """The samples of ``split`` under fractions ``{valid: f, test: f, seed: s}`` of ``n``."""
    unknown = sorted(set(splits) - {"valid", "test", "seed"})
    if unknown:
        raise ConfigError(f"splits.{unknown[0]}", "unknown key; expected valid, test, seed")
    sizes = {}
    for name in ("valid", "test"):
        frac = float(splits.get(name, 0.0))
        if not 0.0 <= frac < 1.0:
            raise ConfigError(f"splits.{name}", f"expected a fraction in [0, 1), got {frac}")
        sizes[name] = int(round(frac * n))
        if frac > 0 and sizes[name] == 0:
            fix = (f"raise it to at least {1 / n:.3g}" if n > 2 else "a file this small "
                   "cannot be cut into train, valid and test: give one path per split, or "
                   "splits: null (the whole file for every split)")
            raise ConfigError(f"splits.{name}", f"a fraction {frac} of {n} samples is no "
                              f"sample; {fix}")
    if sizes["valid"] + sizes["test"] >= n:
        raise ConfigError("splits", f"valid + test leave no training samples out of {n}")
    order = np.random.default_rng(int(splits.get("seed", 0))).permutation(n)
    test, valid = order[:sizes["test"]], order[sizes["test"]:sizes["test"] + sizes["valid"]]
    rest = order[sizes["test"] + sizes["valid"]:]
    return np.sort({"test": test, "valid": valid, "train": rest}[split])


@register("datasets", "arrays")
def arrays(
    path: str | dict[str, str],
    fields: dict[str, Any],
    split: str = "train",
    splits: dict[str, float] | None = None,
    counts: str | None = None,
    dtype: str | None = "float32",
    batching: str = "ragged",
    max_samples: int | None = None,
) -> Arrays:
    """Samples of named arrays from a ``.npz``, ``.npy`` folder, ``.pt``, HDF5 or ase file.

    Args:
        path: the file, or one file per split ``{train: ..., valid: ..., test: ...}``.
        fields: sample field -> array name, or ``{array, shape, dtype, nodes}`` (``shape``
            reshapes each sample, e.g. ``[-1, 1]`` for per-node scalars).
        split: the split to build (filled in by the runner).
        splits: fractions ``{valid: 0.1, test: 0.1, seed: 0}`` of one file. Without it, arrays
            named ``{split}_{name}`` are used when the file has them, else the whole file.
        counts: variable-size samples: the per-sample node-count array (ase files:
            ``n_atoms`` unless given).
        dtype: floating arrays are cast to ``float32`` / ``float64`` (null: as stored).
        batching: variable size: ``ragged`` (``batch`` index) or ``padded`` (``mask``).
        max_samples: keep only the first samples of the split.
    """
    if split not in SPLITS:
        raise ConfigError("split", f"unknown split {split!r}; use one of {list(SPLITS)}")
    if isinstance(path, Mapping):
        if split not in path:
            raise ConfigError(f"path.{split}", f"missing: one path per split needs "
                              f"{list(SPLITS)}")
        path = path[split]
    if dtype is not None and dtype not in _DTYPES:
        raise ConfigError("dtype", f"unknown dtype {dtype!r}; use one of {list(_DTYPES)}")
    if max_samples is not None and max_samples <= 0:
        raise ConfigError("max_samples", f"must be positive, got {max_samples}")
    source = open_source(os.path.expanduser(str(path)))
    if counts is None and source.kind == "ase":  # structures of different sizes
        counts = ASE_COUNTS
    specs = {name: ArrayField(name, spec) for name, spec in fields.items()}
    first = next(iter(specs.values()), None)
    prefix = ""
    if splits is None and first is not None and f"{split}_{first.array}" in source:
        prefix = f"{split}_"
    data = Arrays(source, specs, prefix=prefix, counts=counts,
                  dtype=None if dtype is None else _DTYPES[dtype], batching=batching)
    if splits is not None:
        data.indices = split_indices(len(data.indices), split, splits)
    if max_samples is not None:
        data.indices = data.indices[:max_samples]
    return data
