"""Samplers of points on 3D shapes, one function per shape class.

Every sampler is ``sampler(n, generator) -> (n, 3)`` float64 points (roughly uniform by area)
of one randomly proportioned instance of its class, fitting in the unit ball.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["SURFACES", "sample_triangles", "haar_rotation"]

Sampler = Callable[[int, torch.Generator], Tensor]


def _u(g: torch.Generator, *shape: int, low: float = 0.0, high: float = 1.0) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float64)


def sample_triangles(vertices: Tensor, faces: list[tuple[int, int, int]], n: int,
                     g: torch.Generator) -> Tensor:
    """Uniform points on a triangle mesh (faces picked by area, uniform barycentrics).

    Shapes:
        vertices: ``(V, 3)``; faces: ``F`` index triples -> ``(n, 3)``.
    """
    tri = vertices[torch.tensor(faces)]  # (F, 3, 3)
    area = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).norm(dim=-1)
    face = torch.multinomial(area, n, replacement=True, generator=g)
    a, b = _u(g, n, 1), _u(g, n, 1)
    flip = (a + b) > 1
    a, b = torch.where(flip, 1 - a, a), torch.where(flip, 1 - b, b)
    t = tri[face]
    return t[:, 0] + a * (t[:, 1] - t[:, 0]) + b * (t[:, 2] - t[:, 0])


def _pick(parts: list[tuple[float, Callable[[int], Tensor]]], n: int, g: torch.Generator
          ) -> Tensor:
    """Split ``n`` points among surface parts in proportion to their areas."""
    areas = torch.tensor([a for a, _ in parts], dtype=torch.float64)
    which = torch.multinomial(areas, n, replacement=True, generator=g)
    counts = torch.bincount(which, minlength=len(parts)).tolist()
    return torch.cat([fn(c) for (_, fn), c in zip(parts, counts)])


def _unit_sphere(n: int, g: torch.Generator) -> Tensor:
    v = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return v / v.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def _disk(n: int, g: torch.Generator, radius: float, z: float) -> Tensor:
    r, t = radius * _u(g, n).sqrt(), _u(g, n, high=2 * math.pi)
    return torch.stack([r * t.cos(), r * t.sin(), torch.full_like(r, z)], -1)


def _tube(n: int, g: torch.Generator, radius: float, z0: float, z1: float) -> Tensor:
    t, z = _u(g, n, high=2 * math.pi), _u(g, n, low=z0, high=z1)
    return torch.stack([radius * t.cos(), radius * t.sin(), z], -1)


def sphere(n: int, g: torch.Generator) -> Tensor:
    return _unit_sphere(n, g)


def ellipsoid(n: int, g: torch.Generator) -> Tensor:
    axes = torch.stack([torch.ones((), dtype=torch.float64), _u(g, low=0.5, high=0.7),
                        _u(g, low=0.25, high=0.4)])
    return _unit_sphere(n, g) * axes


def cube(n: int, g: torch.Generator) -> Tensor:
    s = 0.55
    v = torch.tensor([[x, y, z] for x in (-s, s) for y in (-s, s) for z in (-s, s)],
                     dtype=torch.float64)
    faces = [(0, 1, 3), (0, 3, 2), (4, 5, 7), (4, 7, 6), (0, 1, 5), (0, 5, 4),
             (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 3, 7), (1, 7, 5)]
    return sample_triangles(v, faces, n, g)


def cylinder(n: int, g: torch.Generator) -> Tensor:
    r, h = 0.45, float(_u(g, low=0.6, high=0.85))
    return _pick([(2 * math.pi * r * 2 * h, lambda c: _tube(c, g, r, -h, h)),
                  (math.pi * r * r, lambda c: _disk(c, g, r, h)),
                  (math.pi * r * r, lambda c: _disk(c, g, r, -h))], n, g)


def cone(n: int, g: torch.Generator) -> Tensor:
    r, h = float(_u(g, low=0.5, high=0.7)), 1.3

    def lateral(c: int) -> Tensor:
        s, t = _u(g, c).sqrt(), _u(g, c, high=2 * math.pi)  # s: distance from apex / slant
        return torch.stack([r * s * t.cos(), r * s * t.sin(), h / 2 - h * s], -1)

    return _pick([(math.pi * r * math.hypot(r, h), lateral),
                  (math.pi * r * r, lambda c: _disk(c, g, r, -h / 2))], n, g)


def torus(n: int, g: torch.Generator) -> Tensor:
    big, small = 0.7, float(_u(g, low=0.15, high=0.28))
    u, v = _u(g, 4 * n, high=2 * math.pi), _u(g, 4 * n, high=2 * math.pi)
    accept = _u(g, 4 * n) * (big + small) <= big + small * v.cos()  # area element
    u, v = u[accept][:n], v[accept][:n]
    ring = big + small * v.cos()
    return torch.stack([ring * u.cos(), ring * u.sin(), small * v.sin()], -1)


def capsule(n: int, g: torch.Generator) -> Tensor:
    r, half = 0.3, float(_u(g, low=0.4, high=0.6))

    def cap(c: int, sign: float) -> Tensor:
        p = _unit_sphere(c, g) * r
        p[:, 2] = sign * p[:, 2].abs() + sign * half
        return p

    return _pick([(2 * math.pi * r * 2 * half, lambda c: _tube(c, g, r, -half, half)),
                  (2 * math.pi * r * r, lambda c: cap(c, 1.0)),
                  (2 * math.pi * r * r, lambda c: cap(c, -1.0))], n, g)


def pyramid(n: int, g: torch.Generator) -> Tensor:
    s, h = 0.6, float(_u(g, low=0.9, high=1.2))
    v = torch.tensor([[-s, -s, -h / 3], [s, -s, -h / 3], [s, s, -h / 3], [-s, s, -h / 3],
                      [0, 0, 2 * h / 3]], dtype=torch.float64)
    faces = [(0, 1, 2), (0, 2, 3), (0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)]
    return sample_triangles(v, faces, n, g)


def tetrahedron(n: int, g: torch.Generator) -> Tensor:
    v = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]],
                     dtype=torch.float64) / math.sqrt(3)
    return sample_triangles(v, [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)], n, g)


def octahedron(n: int, g: torch.Generator) -> Tensor:
    v = torch.cat([torch.eye(3, dtype=torch.float64), -torch.eye(3, dtype=torch.float64)])
    faces = [(a, b, c) for a in (0, 3) for b in (1, 4) for c in (2, 5)]
    return sample_triangles(v, faces, n, g)


def helix(n: int, g: torch.Generator) -> Tensor:
    turns, r, h = float(_u(g, low=2.5, high=3.5)), 0.5, 1.6
    t = _u(g, n)
    core = torch.stack([r * (2 * math.pi * turns * t).cos(), r * (2 * math.pi * turns * t).sin(),
                        h * (t - 0.5)], -1)
    return core + 0.04 * torch.randn(n, 3, generator=g, dtype=torch.float64)


def plane(n: int, g: torch.Generator) -> Tensor:
    a, b = 0.8, float(_u(g, low=0.5, high=0.8))
    return torch.stack([_u(g, n, low=-a, high=a), _u(g, n, low=-b, high=b),
                        torch.zeros(n, dtype=torch.float64)], -1)


#: Class name -> sampler, in label order.
SURFACES: dict[str, Sampler] = {
    f.__name__: f for f in (sphere, ellipsoid, cube, cylinder, cone, torus, capsule, pyramid,
                            tetrahedron, octahedron, helix, plane)
}


def haar_rotation(g: torch.Generator) -> Tensor:
    """A rotation ``(3, 3)`` drawn from the Haar measure of SO(3) (QR of a Gaussian matrix)."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q
