"""PyG graphs through symkit's symmetrizers, PyG models from YAML, and PyG data folders."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("torch_geometric", reason="symkit-pyg depends on torch_geometric")
from symkit_pyg import PyGBackbone, edges_for, fully_connected, to_sample  # noqa: E402
from torch_geometric.data import Batch, Data  # noqa: E402
from torch_geometric.nn import GIN  # noqa: E402

import symkit  # noqa: E402
from symkit.errors import SpecError  # noqa: E402
from symkit.symmetrizers import Copies, batch_layout  # noqa: E402

IN = {"pos": {"rep": "point", "nodes": True}, "x": {"rep": "scalar", "nodes": True}}
OUT = {"vel": {"rep": "vector", "nodes": True}, "energy": "scalar"}


def graphs(sizes=(4, 6, 5), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in sizes:
        edge = torch.randint(0, n, (2, 3 * n), generator=g)
        out.append(Data(x=torch.randn(n, 2, generator=g, dtype=dtype),
                        pos=torch.randn(n, 3, generator=g, dtype=dtype) * 2,
                        edge_index=edge, edge_attr=torch.randn(3 * n, 1, generator=g),
                        y=torch.randn(1, generator=g)))
    return Batch.from_data_list(out)


def random_e3(b, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(b, 3, 3, generator=g, dtype=torch.float64))
    return q.to(dtype), torch.randn(b, 3, generator=g, dtype=torch.float64).to(dtype)


def transformed(batch, rot, shift):
    moved = batch.clone()
    r, t = rot[batch.batch], shift[batch.batch]
    moved.pos = torch.einsum("nij,nj->ni", r, batch.pos) + t
    return moved


def test_to_sample_keeps_nodes_graphs_and_edges():
    batch = graphs()
    sample = to_sample(batch)
    assert sample["pos"].shape == (15, 3) and sample["y"].shape == (3,)
    assert sample["num_graphs"] == 3 and torch.equal(sample["batch"], batch.batch)
    index, attr = edges_for(sample["edges"], sample["node_id"], sample["batch"])
    assert torch.equal(index, batch.edge_index) and torch.equal(attr, batch.edge_attr)
    single = to_sample(batch.get_example(1))
    assert single["num_graphs"] == 1 and single["pos"].shape == (6, 3)
    assert to_sample({"pos": 1}) is None


def test_edges_follow_the_copies_of_a_symmetrizer():
    batch, k = graphs(), 3
    sample = to_sample(batch)
    copies = Copies(sample, batch_layout(sample, symkit.Spec({})), k)
    for chunk in copies.chunks(4):  # 9 copies in chunks of 4, 4, 1
        index, attr = edges_for(chunk["edges"], chunk["node_id"], chunk["batch"])
        node = chunk["node_id"]
        # every rebuilt edge joins the copies of the original edge's two ends, in one copy
        assert torch.equal(chunk["batch"][index[0]], chunk["batch"][index[1]])
        pairs = {tuple(e) for e in batch.edge_index.T.tolist()}
        assert {(int(node[s]), int(node[d])) for s, d in index.T.tolist()} <= pairs
        per_copy = torch.bincount(chunk["batch"][index[0]], minlength=chunk["num_graphs"])
        graph = batch.batch[node[torch.searchsorted(chunk["batch"], torch.arange(
            chunk["num_graphs"]))]]
        assert torch.equal(per_copy, torch.bincount(batch.batch[batch.edge_index[0]])[graph])
        assert attr.shape == (index.shape[1], 1)


def test_fully_connected_pairs_within_each_graph():
    batch = torch.tensor([0, 0, 1, 1, 1])
    edges = fully_connected(batch)
    assert edges.shape == (2, 2 + 6)
    assert {tuple(e) for e in edges.T.tolist()} == {(0, 1), (1, 0), (2, 3), (2, 4), (3, 2),
                                                  (3, 4), (4, 2), (4, 3)}


@pytest.mark.parametrize("symmetrizer", ["frame_averaging", "canonicalization"])
def test_pyg_model_and_batch_through_frame_averaging_float32(symmetrizer):
    torch.manual_seed(0)
    gin = GIN(in_channels=5, hidden_channels=32, num_layers=2, out_channels=4)
    options = {"field": "pos"} if symmetrizer == "frame_averaging" else {"canonicalizer": "pca"}
    model = symkit.symmetrize(PyGBackbone(gin, ["x", "pos"], {"vel": [-1, 3], "energy": [1]}),
                              group="e3", in_spec=IN, out_spec=OUT, symmetrizer=symmetrizer,
                              **options)
    batch = graphs()
    y = model(batch)
    assert y["vel"].shape == (15, 3) and y["energy"].shape == (3, 1)
    rot, shift = random_e3(3, 1, torch.float32)
    y_moved = model(transformed(batch, rot, shift))
    want = torch.einsum("nij,nj->ni", rot[batch.batch], y["vel"])
    vel_err = (y_moved["vel"] - want).norm() / want.norm()
    energy_err = (y_moved["energy"] - y["energy"]).norm() / y["energy"].norm()
    assert vel_err <= 1e-5 and energy_err <= 1e-5, (float(vel_err), float(energy_err))
    plain = PyGBackbone(gin, ["x", "pos"], {"vel": [-1, 3], "energy": [1]})
    raw_err = (plain(to_sample(transformed(batch, rot, shift)))["energy"]
               - plain(to_sample(batch))["energy"]).norm() / y["energy"].norm()
    assert raw_err > 1e-2  # the GIN alone is not invariant: the symmetrizer did the work


def test_registered_pyg_model_from_yaml_with_its_kwargs():
    torch.manual_seed(0)
    model = symkit.build_model({
        "group": "e3", "in_spec": IN, "out_spec": OUT,
        "backbone": {"type": "pyg::gin", "reads": ["x", "pos"], "hidden_channels": 16,
                     "num_layers": 2, "jk": "cat", "pool": "sum",
                     "writes": {"vel": [-1, 3], "energy": [1]}},
        "symmetrizer": {"type": "frame_averaging", "field": "pos"}})
    inner = model.backbone.model
    assert type(inner).__name__ == "GIN" and inner.num_layers == 2 and inner.jk_mode == "cat"
    batch = graphs(dtype=torch.float32)
    y = model(batch)
    rot, shift = random_e3(3, 2, torch.float32)
    y_moved = model(transformed(batch, rot, shift))
    assert torch.allclose(y_moved["energy"], y["energy"], rtol=1e-5, atol=1e-5)
    with pytest.raises(SpecError, match="pos: expected shape"):
        bad = graphs()
        bad.pos = bad.pos[:, :2]
        model(bad)


def test_processed_pyg_root_folder_trains(tmp_path):
    from torch_geometric.data import InMemoryDataset

    class Mine(InMemoryDataset):
        """What a user has: their own data set class, processed once into ROOT/processed."""

        def __init__(self, root):
            super().__init__(root)
            self.load(self.processed_paths[0])

        @property
        def processed_file_names(self):
            return ["data.pt"]

        def process(self):
            data = [graphs((5,), seed=i).get_example(0) for i in range(20)]
            self.save(data, self.processed_paths[0])

    Mine(str(tmp_path / "mine"))
    from symkit.config import build

    node = {"type": "pyg::folder", "root": str(tmp_path / "mine"),
            "splits": {"valid": 0.2, "test": 0.2}}
    data = {s: build(node, "datasets", key="data", context={"split": s})
            for s in ("train", "valid", "test")}
    assert [len(d) for d in data.values()] == [12, 4, 4]
    model = symkit.build_model({
        "group": "e3", "in_spec": IN, "out_spec": {"energy": "scalar"},
        "backbone": {"type": "pyg::gcn", "reads": ["x", "pos"], "hidden_channels": 8,
                     "num_layers": 2, "writes": {"energy": []}},
        "symmetrizer": {"type": "frame_averaging", "field": "pos"}})
    loader = torch.utils.data.DataLoader(data["train"], batch_size=4,
                                         collate_fn=data["train"].collate)
    model(next(iter(loader)))  # materialize the lazy layers
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for batch in loader:
        assert batch["num_graphs"] == 4 and batch["y"].shape == (4,)
        loss = (model(batch)["energy"] - batch["y"]).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert len(losses) == 3 and all(map(torch.isfinite, torch.tensor(losses)))
    from symkit.runner.evaluation import ragged_equivariance

    test = data["test"].collate([data["test"][i] for i in range(4)])
    errors = ragged_equivariance(model, test, 2, torch.Generator().manual_seed(0))
    assert errors["all"] < 1e-5, errors


def test_arrays_ragged_batches_use_fully_connected_graphs(tmp_path):
    import numpy as np

    from symkit.data import arrays

    rng = np.random.default_rng(0)
    counts = np.array([3, 5, 4])
    np.savez(tmp_path / "m.npz", R=rng.normal(size=(12, 3)), Z=rng.normal(size=(12, 1)),
             N=counts)
    data = arrays(str(tmp_path / "m.npz"), {"pos": "R", "x": "Z"}, counts="N")
    batch = data.collate([data[i] for i in range(3)])
    torch.manual_seed(0)
    model = symkit.build_model({
        "group": "e3", "in_spec": IN, "out_spec": {"vel": {"rep": "vector", "nodes": True}},
        "backbone": {"type": "pyg::graph_sage", "reads": ["x", "pos"], "hidden_channels": 8,
                     "num_layers": 2, "writes": {"vel": [-1, 3]}},
        "symmetrizer": {"type": "frame_averaging", "field": "pos"}})
    from symkit.runner.evaluation import ragged_equivariance

    assert model(batch)["vel"].shape == (12, 3)
    errors = ragged_equivariance(model, batch, 2, torch.Generator().manual_seed(0))
    assert errors["all"] < 1e-5, errors
