"""``complete_frame``, ``cross_complement`` and ``polar_frame``: exact where the vectors
determine a frame, flagged and orthogonal (Haar completion) where they do not."""

from __future__ import annotations

import pytest
import torch

from symkit.symmetrizers.learned import complete_frame, cross_complement, polar_frame

from ..._cases import group


def _orthonormal(q: torch.Tensor) -> bool:
    eye = torch.eye(q.shape[-1], dtype=q.dtype)
    return bool((q.transpose(-1, -2) @ q - eye).abs().max() < 1e-12)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
def test_cross_complement_completes_a_rotation(d):
    q = group("so", d).sample(4, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
    assert torch.allclose(cross_complement(q[..., : d - 1]), q[..., -1], atol=1e-12)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_rank_deficient_vectors_are_flagged_and_completed(d):
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(6, d, d, generator=gen, dtype=torch.float64)
    scale = v.norm(dim=1)
    rank = torch.tensor([d, d - 1, d - 2, 1, 0, d]).clamp_min(0)
    for b in range(6):  # columns beyond the rank: combinations of the first ones (+ 1e-18)
        r = int(rank[b])
        for k in range(r, d):
            v[b, :, k] = (v[b, :, :r] @ torch.randn(r, generator=gen, dtype=torch.float64)
                          if r else torch.zeros(d, dtype=torch.float64)) + 1e-18
    for proper in (False, True):
        q, flagged = complete_frame(v, scale, proper=proper, tol=1e-7, generator=gen)
        assert _orthonormal(q)
        limit = d - 1 if proper else d
        assert flagged.tolist() == (rank < limit).tolist()
        if proper:
            assert torch.allclose(torch.linalg.det(q), torch.ones(6, dtype=torch.float64))


def test_proper_frame_of_coplanar_vectors_is_exact():
    """Mirror-symmetric input: three coplanar vectors determine a rotation exactly."""
    gen = torch.Generator().manual_seed(1)
    v = torch.randn(4, 3, 3, generator=gen, dtype=torch.float64)
    v[:, 2] = 0.0  # all in the z = 0 plane
    v[:, 2, 2] = 1e-17  # rounding noise off the plane
    r = group("so3").sample(4, generator=gen, dtype=torch.float64)
    q, flagged = complete_frame(v, v.norm(dim=1), proper=True, tol=1e-7)
    q_rot, flagged_rot = complete_frame(r @ v, v.norm(dim=1), proper=True, tol=1e-7)
    assert not bool(flagged.any()) and not bool(flagged_rot.any())
    assert torch.allclose(q_rot, r @ q, atol=1e-12)


@pytest.mark.parametrize("proper", [False, True])
def test_polar_frame_ranks(proper):
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(4, 3, 3, generator=gen, dtype=torch.float64)
    u, _, vh = torch.linalg.svd(a)
    sigma = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1e-17], [3.0, 1e-17, 0.0],
                          [0.0, 0.0, 0.0]], dtype=torch.float64)
    m = u @ torch.diag_embed(sigma) @ vh
    scale = torch.ones(4, 3, dtype=torch.float64)
    q, flagged = polar_frame(m, scale, proper=proper, tol=1e-7, generator=gen)
    assert _orthonormal(q)
    assert flagged.tolist() == ([False, True, True, True] if not proper
                                else [False, False, True, True])
    r = group("so3").sample(4, generator=gen, dtype=torch.float64)
    q_rot, _ = polar_frame(r @ m, scale, proper=proper, tol=1e-7, generator=gen)
    exact = ~flagged
    assert torch.allclose(q_rot[exact], (r @ q)[exact], atol=1e-10)


@pytest.mark.parametrize("proper", [False, True], ids=["O3", "SO3"])
def test_the_haar_completion_never_leaves_an_axis_out(proper):
    """No vector at all (a sample without points): every axis is a Gaussian candidate, and one
    nearly in the span of the earlier axes is rejected (about 1 in 1000 for O(3)'s last axis).
    The completion still gives an orthonormal frame for every row: a zero axis is no element of
    the group (the conformance checks catch it on the empty samples of the corpus)."""
    v = torch.zeros(20000, 3, 3, dtype=torch.float64)
    q, flagged = complete_frame(v, None, proper=proper, tol=1e-7,
                                generator=torch.Generator().manual_seed(0))
    err = (q.transpose(-1, -2) @ q - torch.eye(3, dtype=q.dtype)).abs().flatten(1).amax(1)
    assert int((err > 1e-12).sum()) == 0 and bool(flagged.all())
