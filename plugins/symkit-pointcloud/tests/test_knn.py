"""kNN: pure-torch path vs brute force, masks, ragged batches and the torch-cluster dispatch."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest
import torch
from symkit_pointcloud.ops import _accel, knn, knn_cluster, knn_torch

HAS_CLUSTER = importlib.util.find_spec("torch_cluster") is not None


def brute_force(x: torch.Tensor, k: int, loop: bool = True) -> torch.Tensor:
    """Sorted neighbour distances of every point by explicit loops. Shapes: (N, D) -> (N, k)."""
    n = x.shape[0]
    out = torch.empty(n, k, dtype=x.dtype)
    for i in range(n):
        d = sorted(float((x[i] - x[j]).norm()) for j in range(n) if loop or j != i)
        out[i] = torch.tensor(d[:k], dtype=x.dtype)
    return out


def neighbour_dist(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Distances to the indexed neighbours. Shapes: x (N, D) or (B, N, D); idx (..., N, k)."""
    if x.ndim == 3:
        return torch.stack([neighbour_dist(xb, ib) for xb, ib in zip(x, idx)])
    return (x.unsqueeze(-2) - x[idx]).norm(dim=-1)


@pytest.fixture
def use_fallback(monkeypatch):
    monkeypatch.setattr(_accel, "_cached", None)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("loop", [True, False])
def test_fallback_matches_brute_force(use_fallback, dtype, loop):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 40, 3, generator=g, dtype=dtype)
    idx = knn(x, 6, loop=loop)
    assert idx.shape == (2, 40, 6)
    for b in range(2):
        torch.testing.assert_close(neighbour_dist(x[b], idx[b]), brute_force(x[b], 6, loop))
    if not loop:
        assert not (idx == torch.arange(40).view(1, -1, 1)).any()


def test_mask_excludes_padding(use_fallback):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 30, 3, generator=g, dtype=torch.float64)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[0, 20:] = False
    mask[1, 3:] = False  # only 3 real points: fewer than k
    idx, valid = knn(x, 5, mask=mask, return_valid=True)
    torch.testing.assert_close(neighbour_dist(x[0, :20], idx[0, :20]), brute_force(x[0, :20], 5))
    assert bool(mask[0][idx[0, :20]].all())
    assert valid[1, :3].sum(-1).tolist() == [3, 3, 3]
    own = torch.arange(30).view(-1, 1).expand(30, 5)
    assert torch.equal(idx[1][~valid[1]], own[~valid[1]])  # missing slots repeat the query
    assert not valid[0, 20:].any()


def test_ragged_batch_matches_dense(use_fallback):
    g = torch.Generator().manual_seed(2)
    sizes = [7, 12, 5]
    parts = [torch.randn(s, 3, generator=g, dtype=torch.float64) for s in sizes]
    x = torch.cat(parts)
    batch = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    perm = torch.randperm(x.shape[0], generator=g)  # unsorted batch vector
    idx = knn(x[perm], 4, batch=batch[perm])
    assert torch.equal(batch[perm][idx], batch[perm].unsqueeze(-1).expand(-1, 4))
    start = 0
    for part in parts:
        rows = torch.nonzero((perm >= start) & (perm < start + len(part))).flatten()
        got = neighbour_dist(x[perm], idx)[rows]
        want = brute_force(part, 4)[perm[rows] - start]
        torch.testing.assert_close(got, want)
        start += len(part)


def fake_cluster_module() -> types.ModuleType:
    """A stand-in for torch_cluster.knn (brute force, edges returned in shuffled order)."""
    module = types.ModuleType("torch_cluster")
    module.calls = 0

    def fake_knn(x, y, k, batch_x, batch_y):
        module.calls += 1
        d = torch.cdist(y, x).masked_fill(batch_y.view(-1, 1) != batch_x.view(1, -1), float("inf"))
        best, col = d.topk(min(k, x.shape[0]), largest=False)
        row = torch.arange(y.shape[0]).view(-1, 1).expand_as(col)
        keep = torch.isfinite(best)
        edges = torch.stack([row[keep], col[keep]])
        return edges[:, torch.randperm(edges.shape[1])]

    module.knn = fake_knn
    return module


@pytest.mark.parametrize("loop", [True, False])
def test_accelerated_conversion_agrees_with_fallback(loop):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 25, 3, generator=g, dtype=torch.float64)
    mask = torch.rand(3, 25, generator=g) > 0.3
    mask[2, 2:] = False
    fast = knn_cluster(fake_cluster_module(), x, mask, 5, loop)
    slow = knn_torch(x, mask, 5, loop)
    assert torch.equal(fast[1], slow[1])
    torch.testing.assert_close(neighbour_dist(x, fast[0]) * fast[1],
                               neighbour_dist(x, slow[0]) * slow[1])


def test_dispatch_uses_cluster_when_importable(monkeypatch):
    fake = fake_cluster_module()
    monkeypatch.setattr(_accel, "_cached", fake)
    assert _accel.backend() == "torch-cluster"
    knn(torch.randn(1, 10, 3), 3)
    assert fake.calls == 1


def test_dispatch_picks_fallback_when_missing(monkeypatch):
    monkeypatch.setattr(_accel, "_cached", _accel._UNSET)
    monkeypatch.setitem(sys.modules, "torch_cluster", None)  # import raises ModuleNotFoundError
    assert _accel.torch_cluster() is None
    assert _accel.backend() == "torch"


def test_broken_extension_warns_and_falls_back(monkeypatch):
    monkeypatch.setattr(_accel, "_cached", _accel._UNSET)
    broken = types.ModuleType("torch_cluster")  # imports, but has no ops

    monkeypatch.setitem(sys.modules, "torch_cluster", broken)
    with pytest.warns(RuntimeWarning, match="torch-cluster is installed but unusable"):
        assert _accel.torch_cluster() is None
    assert knn(torch.randn(1, 8, 3), 2).shape == (1, 8, 2)


@pytest.mark.skipif(not HAS_CLUSTER, reason="torch-cluster not installed")
def test_real_torch_cluster_is_used_and_agrees(monkeypatch):
    monkeypatch.setattr(_accel, "_cached", _accel._UNSET)
    module = _accel.torch_cluster()
    assert module is not None and _accel.backend() == "torch-cluster"
    calls = []
    original = module.knn
    monkeypatch.setattr(module, "knn", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    x = torch.randn(2, 64, 3, dtype=torch.float64)
    mask = torch.rand(2, 64) > 0.2
    idx, valid = knn(x, 8, mask=mask, return_valid=True)
    assert calls
    ref, ref_valid = knn_torch(x, mask, 8)
    assert torch.equal(valid, ref_valid)
    torch.testing.assert_close(neighbour_dist(x, idx) * valid, neighbour_dist(x, ref) * ref_valid)
