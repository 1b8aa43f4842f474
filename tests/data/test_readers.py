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


def test_nonfinite_rows_read_in_chunks(tmp_path, monkeypatch):
    from symkit.data import _readers

    x = np.zeros((10, 2, 3))
    x[3, 1, 2], x[8, 0, 0] = np.nan, -np.inf
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "n.npy", np.arange(10))
    monkeypatch.setattr(_readers, "SCAN_BYTES", 3 * x[0].nbytes)  # chunks of 3 rows
    source = ArraySource(tmp_path)
    assert source.nonfinite_rows("x").tolist() == [3, 8]
    assert source.nonfinite_rows("n").tolist() == []


def test_ragged_samples_stored_as_object_arrays_say_how_to_store_them(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.zeros((3, 3)), np.zeros((5, 3))]
    np.savez(tmp_path / "m.npz", R=ragged, E=np.zeros(2))
    with pytest.raises(DataError, match=r"cannot read array 'R' of .*m\.npz: .*pickle.*"
                                        r"concatenate .*data\.counts"):
        arrays(str(tmp_path / "m.npz"), {"pos": "R", "energy": "E"})
    torch.save({"R": [torch.zeros(3, 3), torch.zeros(5, 3)]}, tmp_path / "m.pt")
    with pytest.raises(DataError, match=r"'R' of .*m\.pt is a list that is not one array.*"
                                        r"concatenate .*data\.counts"):
        ArraySource(tmp_path / "m.pt")
    torch.save({"R": [1.0, None]}, tmp_path / "none.pt")
    with pytest.raises(DataError, match=r"'R' of .*none\.pt holds Python objects"):
        ArraySource(tmp_path / "none.pt")
