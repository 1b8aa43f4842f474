"""Array sources: every format, and lazy reading (memory-mapped .npy, sliced HDF5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symkit.data import ArraySource, arrays
from symkit.errors import DataError


def test_npy_folder_is_memory_mapped(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(12.0).reshape(4, 3))
    source = ArraySource(tmp_path)
    assert list(source) == ["x"]
    assert isinstance(source["x"], np.memmap)
    data = arrays(str(tmp_path), {"pos": "x"})
    assert torch.equal(data[2]["pos"], torch.tensor([6.0, 7.0, 8.0]))


def test_pt_dict_of_tensors(tmp_path):
    torch.save({"x": torch.ones(3, 2), "n": torch.tensor([1, 2, 3])}, tmp_path / "d.pt")
    data = arrays(str(tmp_path / "d.pt"), {"x": "x", "n": "n"})
    assert len(data) == 3 and data[1]["n"].dtype == torch.int64
    torch.save(torch.ones(2), tmp_path / "bad.pt")
    with pytest.raises(DataError, match="dict of tensors"):
        ArraySource(tmp_path / "bad.pt")


def test_hdf5_is_read_slice_by_slice(tmp_path):
    h5py = pytest.importorskip("h5py", reason="the optional extra symkit[hdf5]")
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["mol/R"] = np.arange(30.0).reshape(10, 3)
        f["mol/N"] = np.array([3, 3, 4])
    source = ArraySource(tmp_path / "d.h5")
    assert sorted(source) == ["mol/N", "mol/R"]
    assert isinstance(source["mol/R"], h5py.Dataset)  # not read into memory
    data = arrays(str(tmp_path / "d.h5"), {"pos": "mol/R"}, counts="mol/N")
    assert torch.equal(data[2]["pos"][0], torch.tensor([18.0, 19.0, 20.0]))
    import pickle

    again = pickle.loads(pickle.dumps(data))  # what a data-loader worker gets
    assert torch.equal(again[1]["pos"], data[1]["pos"])


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no file or folder"):
        ArraySource(tmp_path / "nope.npz")
