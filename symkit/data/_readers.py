"""Named arrays from one file, read lazily where the format allows.

A *source* maps array names to array-likes that support ``len``, ``shape``, ``dtype`` and
indexing by an integer or a slice (numpy arrays, memory-mapped ``.npy`` files, ``h5py``
datasets). Formats, by path:

* ``*.npz``: a numpy archive; each array is read whole the first time it is used.
* a folder of ``*.npy``: one array per file (``NAME.npy``), memory-mapped (never read whole).
* ``*.pt`` / ``*.pth``: a ``dict`` of tensors or arrays, read with ``weights_only=True``.
* ``*.h5`` / ``*.hdf5``: datasets of an HDF5 file (nested groups as ``group/name``), read
  slice by slice through ``h5py`` (optional extra ``symkit[hdf5]``). The file is opened once
  per process, so data-loader workers each get their own handle.
* ``*.xyz`` / ``*.extxyz`` / ``*.traj`` / ``*.db``: the structures of a file ``ase.io.read``
  reads (optional extra ``symkit[ase]``), read whole, in the variable-size layout: per-atom
  arrays concatenated over the structures (``positions`` in Å, ``numbers``, and every per-atom
  array or calculator result the file holds, e.g. ``forces``), per-structure arrays with one
  row per structure (``cell``, ``pbc``, numeric ``info`` entries and calculator results, e.g.
  ``energy``, ``stress``), and ``n_atoms``, the atoms per structure (the default
  ``data.counts`` of such a file). A key that not every structure has, or has in one shape, is
  not an array; asking for it says why. Periodic structures (``pbc``) are read as they are,
  with a warning: nothing in symkit applies periodic images.
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from symkit.errors import DataError

__all__ = ["ArraySource", "open_source", "FORMATS"]

#: suffixes read through ``ase.io.read`` (molecules and materials, many structures per file)
ASE_SUFFIXES = (".xyz", ".extxyz", ".traj", ".db")
FORMATS = (".npz", ".pt", ".pth", ".h5", ".hdf5", "folder of .npy", *ASE_SUFFIXES)
#: the atoms-per-structure array of an ase file
ASE_COUNTS = "n_atoms"
#: calculator results with one row per atom (ase.io.extxyz's list, and ase's own names)
_PER_ATOM_RESULTS = ("energies", "forces", "stresses", "charges", "magmoms",
                     "born_effective_charges")

#: Bytes read at a time when an array is scanned for NaN/Inf (memory-mapped and HDF5 arrays are
#: never read whole).
SCAN_BYTES = 1 << 26

#: How to store samples of different sizes (molecules of different atom counts).
RAGGED_FIX = ("concatenate the samples' rows into one array and store the per-sample row counts "
              "in another (data.counts names it)")


class ArraySource(Mapping[str, Any]):
    """Array name -> lazily read array of one file (see the module docs for formats).

    Args:
        path: the file or ``.npy`` folder.

    Raises:
        DataError: the path does not exist, has an unknown format or cannot be read.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"data: no file or folder at {self.path}")
        suffix = self.path.suffix.lower()
        if self.path.is_dir():
            self.kind = "npy"
        elif suffix in (".npz", ".pt", ".pth", ".h5", ".hdf5"):
            self.kind = {".pth": "pt", ".hdf5": "h5"}.get(suffix, suffix[1:])
        elif suffix in ASE_SUFFIXES:
            self.kind = "ase"
        else:
            raise DataError(f"data: {self.path}: unknown format '{suffix}'; symkit reads "
                            f"{', '.join(FORMATS)}")
        self._cache: dict[str, Any] = {}
        self._nonfinite: dict[str, np.ndarray] = {}
        self._h5: Any = None
        self._pid: int | None = None
        #: names known to hold one row per node (ase files: per-atom arrays); others are
        #: told apart by their length
        self.node_arrays: frozenset[str] = frozenset()
        #: names that are not arrays of this file, and why (ase keys that only some
        #: structures have)
        self.absent: dict[str, str] = {}
        self._names = self._list_names()

    def _list_names(self) -> list[str]:
        try:
            if self.kind == "npy":
                return sorted(p.stem for p in self.path.glob("*.npy"))
            if self.kind == "npz":
                with np.load(self.path, allow_pickle=False) as npz:
                    return sorted(npz.files)
            if self.kind == "pt":
                self._cache = _read_pt(self.path)
                return sorted(self._cache)
            if self.kind == "ase":
                self._cache, self.node_arrays, self.absent = _read_ase(self.path)
                return sorted(self._cache)
            names: list[str] = []
            self._file().visititems(
                lambda name, obj: names.append(name) if hasattr(obj, "shape") else None
            )
            return sorted(names)
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - any unreadable file is one error for the user
            raise DataError(f"data: cannot read {self.path}: {type(exc).__name__}: {exc}"
                            ) from exc

    def _file(self) -> Any:
        """The open HDF5 file of this process."""
        if self._h5 is None or self._pid != os.getpid():
            try:
                import h5py
            except ImportError as exc:
                raise DataError(f"data: reading {self.path} needs h5py: pip install "
                                "'symkit[hdf5]'") from exc
            self._h5, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._h5

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if self.kind == "h5":
            return self._file()[name]
        if name not in self._cache:
            try:
                if self.kind == "npy":
                    self._cache[name] = np.load(self.path / f"{name}.npy", mmap_mode="r",
                                                allow_pickle=False)
                else:
                    with np.load(self.path, allow_pickle=False) as npz:
                        self._cache[name] = npz[name]
            except Exception as exc:  # noqa: BLE001 - any unreadable array is one error
                hint = (f"; samples of different sizes stored as an array of arrays need "
                        f"pickle, which symkit never loads: {RAGGED_FIX}"
                        if "allow_pickle" in str(exc) else "")
                raise DataError(f"data: cannot read array '{name}' of {self.path}: "
                                f"{type(exc).__name__}: {exc}{hint}") from None
        return self._cache[name]

    def nonfinite_rows(self, name: str) -> np.ndarray:
        """The rows (leading indices) of array ``name`` that hold a NaN or an Inf.

        Read ``SCAN_BYTES`` at a time and remembered; integer and boolean arrays have none.

        Shapes:
            array ``(n, ...)`` -> ``(k,)`` int64, increasing.
        """
        if name not in self._nonfinite:
            a = self[name]
            found = [np.zeros(0, dtype=np.int64)]
            if np.issubdtype(a.dtype, np.inexact) and a.ndim > 0:
                row_bytes = a.dtype.itemsize * max(1, int(np.prod(a.shape[1:])))
                step = max(1, SCAN_BYTES // max(1, row_bytes))
                for start in range(0, len(a), step):
                    chunk = np.asarray(a[start:start + step])
                    bad = ~np.isfinite(chunk.reshape(len(chunk), -1)).all(axis=1)
                    found.append(np.flatnonzero(bad) + start)
            self._nonfinite[name] = np.concatenate(found)
        return self._nonfinite[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __getstate__(self) -> dict[str, Any]:  # data-loader workers reopen HDF5 themselves
        state = dict(self.__dict__)
        state["_h5"], state["_pid"] = None, None
        if self.kind not in ("pt", "ase"):  # read whole: no file to read again
            state["_cache"] = {}
        return state

    def __repr__(self) -> str:
        return f"ArraySource({str(self.path)!r}, {len(self)} arrays)"


def _read_pt(path: Path) -> dict[str, Any]:
    import torch

    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, Mapping):
        raise DataError(f"data: {path} holds a {type(obj).__name__}; a .pt data file must hold "
                        "a dict of tensors or arrays")
    out = {}
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            value = value.numpy()
        try:
            out[str(key)] = np.asarray(value)
        except ValueError as exc:  # a list of tensors of different sizes
            raise DataError(f"data: '{key}' of {path} is a {type(value).__name__} that is not "
                            f"one array ({exc}); for samples of different sizes, {RAGGED_FIX}"
                            ) from None
        if out[str(key)].dtype == object:
            raise DataError(f"data: '{key}' of {path} holds Python objects, not one array of "
                            f"numbers; for samples of different sizes, {RAGGED_FIX}")
    return out


def _read_ase(path: Path) -> tuple[dict[str, np.ndarray], frozenset[str], dict[str, str]]:
    """The arrays of an ase-readable file (module docs), the per-atom ones, and the keys left
    out with the reason."""
    try:
        import ase.io
    except ImportError as exc:
        raise DataError(f"data: reading {path} needs ase: pip install 'symkit[ase]'") from exc
    try:
        frames = ase.io.read(str(path), index=":")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one error for the user
        raise DataError(f"data: cannot read {path} with ase.io.read: {type(exc).__name__}: "
                        f"{exc}") from None
    frames = [frames] if isinstance(frames, ase.Atoms) else list(frames)
    if not frames:
        raise DataError(f"data: {path} holds no structure")
    atom_rows: dict[str, list[np.ndarray]] = {}
    structure_rows: dict[str, list[np.ndarray]] = {}
    seen: dict[str, list[int]] = {}  # key -> structures that have it
    text: set[str] = set()
    for i, atoms in enumerate(frames):
        per_atom = dict(atoms.arrays)
        per_structure: dict[str, Any] = {"cell": atoms.cell.array, "pbc": atoms.pbc}
        per_structure.update(atoms.info)
        results = atoms.calc.results if atoms.calc is not None else {}
        for key, value in results.items():
            (per_atom if key in _PER_ATOM_RESULTS else per_structure)[key] = value
        for rows, values in ((atom_rows, per_atom), (structure_rows, per_structure)):
            for key, value in values.items():
                value = np.asarray(value)
                if value.dtype.kind not in "biuf":
                    text.add(key)
                    continue
                rows.setdefault(key, []).append(value)
                seen.setdefault(key, []).append(i)
    n = len(frames)
    out = {ASE_COUNTS: np.array([len(a) for a in frames], dtype=np.int64)}
    absent = {key: "it holds text, not numbers" for key in text}
    for rows, node in ((atom_rows, True), (structure_rows, False)):
        for key, values in rows.items():
            if key in out:
                continue
            if len(values) < n:
                missing = sorted(set(range(n)) - set(seen[key]))
                more = " and others" if len(missing) > 1 else ""
                absent[key] = (f"only {len(values)} of its {n} structures have '{key}' (not "
                               f"structure {missing[0]}{more})")
                continue
            shapes = {v.shape[1:] if node else v.shape for v in values}
            if len(shapes) > 1:
                absent[key] = f"'{key}' has different shapes in different structures: {shapes}"
                continue
            out[key] = np.concatenate(values) if node else np.stack(values)
    for key in out:
        absent.pop(key, None)
    periodic = sum(bool(np.any(a.pbc)) for a in frames)
    if periodic:  # nothing in symkit applies periodic images: say so once, when read
        warnings.warn(
            f"data: {periodic} of the {n} structures of {path} are periodic (pbc); symkit's "
            "backbones and symmetrizers treat every structure as an isolated point set (no "
            "periodic images or minimum-image distances); the cell is the array 'cell'",
            UserWarning, stacklevel=2)
    return out, frozenset(k for k in atom_rows if k in out), absent


#: open sources by (resolved path, modification time, size), while a data set holds them
_OPEN: weakref.WeakValueDictionary[tuple, ArraySource] = weakref.WeakValueDictionary()


def open_source(path: str | os.PathLike) -> ArraySource:
    """The :class:`ArraySource` of ``path``, shared by the data sets that read the same file
    unchanged (the splits of one file: an ase file is parsed, and arrays read, once); a file
    written again since gets a new one.

    Raises:
        DataError: as :class:`ArraySource`.
    """
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return ArraySource(path)  # says that the path does not exist
    if resolved.is_dir():  # memory-mapped .npy files: nothing read whole, nothing to share
        return ArraySource(path)
    key = (str(resolved), stat.st_mtime_ns, stat.st_size)
    source = _OPEN.get(key)
    if source is None:
        source = _OPEN[key] = ArraySource(path)
    return source
