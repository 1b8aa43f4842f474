"""Farthest point sampling and radius graphs."""

from __future__ import annotations

import pytest
import torch
from symkit_pointcloud.ops import farthest_point_sampling, radius_graph


def test_fps_distinct_and_spread():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 500, 3, generator=g, dtype=torch.float64)
    idx = farthest_point_sampling(x, 32)
    assert idx.shape == (2, 32)
    for b in range(2):
        assert idx[b].unique().numel() == 32
        picked = x[b, idx[b]]
        d = torch.cdist(picked, picked) + torch.eye(32, dtype=x.dtype) * 10
        spread = d.min()
        rand = x[b, torch.randperm(500, generator=g)[:32]]
        d_rand = torch.cdist(rand, rand) + torch.eye(32, dtype=x.dtype) * 10
        assert spread > 2 * d_rand.min()  # far better spread than a random subset
        # covering radius: every point is close to some sample
        assert torch.cdist(x[b], picked).min(dim=1).values.max() < 0.5


def test_fps_greedy_rule_small_case():
    x = torch.tensor([[0.0, 0, 0], [1, 0, 0], [10, 0, 0], [5, 0, 0]])
    assert farthest_point_sampling(x, 3).tolist() == [0, 2, 3]


def test_fps_respects_mask():
    x = torch.randn(1, 20, 3)
    mask = torch.zeros(1, 20, dtype=torch.bool)
    mask[0, 5:9] = True
    idx = farthest_point_sampling(x, 6, mask=mask)
    assert sorted(idx[0, :4].tolist()) == [5, 6, 7, 8]
    assert idx[0, 4:].tolist() == [5, 5]  # exhausted: repeats the start point
    g = torch.Generator().manual_seed(0)
    idx = farthest_point_sampling(x, 4, mask=mask, random_start=True, generator=g)
    assert set(idx[0].tolist()) == {5, 6, 7, 8}


def brute_radius(x: torch.Tensor, r: float, loop: bool) -> set[tuple[int, int]]:
    n = x.shape[0]
    return {(j, i) for i in range(n) for j in range(n)
            if (loop or i != j) and float((x[i] - x[j]).norm()) <= r}


@pytest.mark.parametrize("loop", [False, True])
def test_radius_graph_matches_brute_force(loop):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 40, 3, generator=g, dtype=torch.float64)
    edges = radius_graph(x, 0.3, loop=loop, max_num_neighbors=40)
    got = {tuple(e) for e in edges.T.tolist()}
    second = {(j + 40, i + 40) for j, i in brute_radius(x[1], 0.3, loop)}
    want = brute_radius(x[0], 0.3, loop) | second
    assert got == want


def test_radius_graph_mask_ragged_and_cap():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(30, 3, generator=g, dtype=torch.float64)
    batch = torch.tensor([0] * 12 + [1] * 18)
    edges = radius_graph(x, 0.5, batch=batch, max_num_neighbors=30)
    assert torch.equal(batch[edges[0]], batch[edges[1]])
    second = {(j + 12, i + 12) for j, i in brute_radius(x[12:], 0.5, False)}
    want = brute_radius(x[:12], 0.5, False) | second
    assert {tuple(e) for e in edges.T.tolist()} == want
    mask = torch.ones(1, 30, dtype=torch.bool)
    mask[0, 10:] = False
    dense = radius_graph(x.unsqueeze(0), 0.5, mask=mask)
    assert bool((dense < 10).all())
    capped = radius_graph(x, 10.0, max_num_neighbors=3)
    assert torch.bincount(capped[1]).max() == 3
