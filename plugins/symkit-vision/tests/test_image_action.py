"""How exact is the core ``image`` rep on digits? Exact for 90 degrees; measured for 45.

The resampling error reported in the README comes from ``test_two_45_degree_turns_vs_90``.
"""

from __future__ import annotations

import math

import torch
from symkit_vision.datasets import load_raw

from symkit.registry import registry


def so2_matrix(angle: float, n: int) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64).expand(n, 2, 2).clone()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_90_degrees_is_exact_rot90():
    group, rep = registry("groups").build("so2"), registry("reps").build("image")
    x = load_raw()[0][:20]
    assert torch.equal(rep.act(group, so2_matrix(math.pi / 2, 20), x), torch.rot90(x, 1, (-2, -1)))
    c4 = registry("groups").build("c4")
    quarter = torch.ones(20, dtype=torch.long)
    assert torch.equal(rep.act(c4, quarter, x), torch.rot90(x, 1, (-2, -1)))


def test_two_45_degree_turns_vs_90(capsys):
    """Relative L2 error ``|R45(R45 x) - rot90(x)| / |rot90(x)|`` over 500 digits (float64)."""
    group, rep = registry("groups").build("so2"), registry("reps").build("image")
    x = load_raw()[0][:500].double()
    g = so2_matrix(math.pi / 4, x.shape[0])
    twice = rep.act(group, g, rep.act(group, g, x))
    exact = torch.rot90(x, 1, (-2, -1))
    error = relative_error(twice, exact)
    one_turn = relative_error(rep.act(group, g, x), x)  # scale: how much 45 degrees changes x
    with capsys.disabled():
        print(f"\n[image rep] relative error of two 45-degree turns vs rot90 on 500 digits: "
              f"{error:.4f} (a single 45-degree turn changes a digit by {one_turn:.3f})")
    assert 0 < error < 0.5 * one_turn
