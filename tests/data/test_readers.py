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


def _structures():
    """Water, methane, ethanol with energies and forces from a single-point calculator, a
    numeric and a text ``info`` entry, and a per-atom array of the file's own."""
    ase = pytest.importorskip("ase", reason="the optional extra symkit[ase]")
    from ase.build import molecule
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for i, name in enumerate(["H2O", "CH4", "CH3CH2OH"]):
        atoms = molecule(name)
        forces = -0.1 * (atoms.positions - atoms.positions.mean(0))
        atoms.calc = SinglePointCalculator(atoms, energy=-1.5 * (i + 1), forces=forces)
        atoms.info.update(temperature=300.0 + i, config_type="md")
        atoms.arrays["spin"] = np.arange(len(atoms), dtype=np.float64)
        out.append(atoms)
    assert isinstance(out[0], ase.Atoms)
    return out


@pytest.mark.parametrize("suffix", [".extxyz", ".xyz", ".traj", ".db"])
def test_ase_files_read_as_variable_size_arrays(tmp_path, suffix):
    import ase.io

    structures = _structures()
    path = tmp_path / f"mols{suffix}"
    ase.io.write(str(path), structures)
    source = ArraySource(path)
    assert {"positions", "numbers", "forces", "energy", "n_atoms", "cell", "pbc"} <= set(source)
    assert source["n_atoms"].tolist() == [3, 5, 9]
    assert "config_type" not in source
    if suffix in (".extxyz", ".xyz"):  # formats that keep info and per-atom arrays
        assert "text" in source.absent["config_type"]
        assert source["temperature"].tolist() == [300.0, 301.0, 302.0]
        assert "spin" in source.node_arrays
    data = arrays(str(path), {"pos": "positions", "z": "numbers", "energy": "energy",
                              "forces": "forces"}, dtype="float64")  # counts: n_atoms
    assert len(data) == 3 and data.node_fields == {"pos", "z", "forces"}
    item = data[2]
    ethanol = structures[2]
    torch.testing.assert_close(item["pos"], torch.from_numpy(ethanol.positions))
    torch.testing.assert_close(item["forces"], torch.from_numpy(ethanol.get_forces()))
    assert item["z"].dtype == torch.int64 and item["z"].tolist() == ethanol.numbers.tolist()
    assert item["energy"].item() == pytest.approx(-4.5)


def test_ase_per_structure_arrays_are_not_taken_for_atoms_when_the_lengths_agree(tmp_path):
    """Two one-atom structures: 2 atoms and 2 energies. The file says which is which."""
    aseio = pytest.importorskip("ase.io", reason="the optional extra symkit[ase]")
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for i, symbol in enumerate(["He", "Ne"]):
        atoms = Atoms(symbol, positions=[[0.0, 0.0, float(i)]])
        atoms.calc = SinglePointCalculator(atoms, energy=float(i), forces=[[0.0, 0.0, 1.0]])
        frames.append(atoms)
    aseio.write(str(tmp_path / "atoms.extxyz"), frames)
    data = arrays(str(tmp_path / "atoms.extxyz"), {"pos": "positions", "energy": "energy"})
    assert data.node_fields == {"pos"}
    assert data[1]["energy"].shape == () and data[1]["pos"].shape == (1, 3)


def test_an_ase_key_that_some_structures_lack_is_named_with_the_structure(tmp_path):
    import ase.io

    structures = _structures()
    del structures[1].info["temperature"]
    ase.io.write(str(tmp_path / "mols.extxyz"), structures)
    with pytest.raises(DataError, match=r"no array 'temperature' \(field 't'\): only 2 of its 3 "
                                        r"structures have 'temperature' \(not structure 1\)"):
        arrays(str(tmp_path / "mols.extxyz"), {"pos": "positions", "t": "temperature"})


def test_an_unreadable_ase_file_is_one_data_error(tmp_path):
    pytest.importorskip("ase", reason="the optional extra symkit[ase]")
    (tmp_path / "bad.xyz").write_text("three\nnot a comment line\nH 0 0\n")
    with pytest.raises(DataError, match="cannot read .*bad.xyz with ase.io.read"):
        ArraySource(tmp_path / "bad.xyz")
    (tmp_path / "empty.extxyz").write_text("")
    with pytest.raises(DataError, match="empty.extxyz"):
        ArraySource(tmp_path / "empty.extxyz")


def test_the_splits_of_one_ase_file_read_it_once(tmp_path, monkeypatch):
    """train, valid and test of one file (``data.splits``) share one parse of it (ase parses the
    whole file: a large trajectory took three times as long, and three copies of memory); a
    file written again is read again."""
    import ase.io

    from symkit.data import _readers

    reads = []
    real = _readers._read_ase
    monkeypatch.setattr(_readers, "_read_ase", lambda path: reads.append(path) or real(path))
    path = tmp_path / "mols.extxyz"
    ase.io.write(str(path), _structures())
    fields = {"pos": "positions", "energy": "energy"}
    splits = [arrays(str(path), fields, split=s, splits={"valid": 0.34, "test": 0.34})
              for s in ("train", "valid", "test")]
    assert sorted(len(d) for d in splits) == [1, 1, 1] and len(reads) == 1
    ase.io.write(str(path), _structures()[:2])
    assert len(arrays(str(path), fields)) == 2 and len(reads) == 2


def test_periodic_structures_are_read_with_a_warning_that_nothing_applies_images(tmp_path):
    import warnings

    aseio = pytest.importorskip("ase.io", reason="the optional extra symkit[ase]")
    from ase.build import bulk

    structures = _structures()
    crystal = bulk("Cu", "fcc", a=3.6)  # periodic, one atom
    aseio.write(str(tmp_path / "mixed.extxyz"), [*structures[:2], crystal])
    with pytest.warns(UserWarning, match=r"1 of the 3 structures of .*mixed.extxyz are periodic"):
        source = ArraySource(tmp_path / "mixed.extxyz")
    assert source["pbc"].tolist()[2] == [True, True, True]
    aseio.write(str(tmp_path / "molecules.extxyz"), structures)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # molecules only: no warning
        ArraySource(tmp_path / "molecules.extxyz")
