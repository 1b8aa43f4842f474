"""The Lorentz group O(1,3) and its subgroups O+(1,3) and SO+(1,3), acting on four-vectors.

``L`` is a Lorentz transformation when ``L^T eta L = eta`` with the Minkowski metric
``eta = diag(1, -1, -1, -1)`` (signature +---, components ``(E, p_x, p_y, p_z)``). It then
preserves the Minkowski product ``<a, b> = a_0 b_0 - a_1 b_1 - a_2 b_2 - a_3 b_3``, so
invariant masses ``m^2 = <p, p>``. Every element factors as ``C B R``: a component ``C`` in
``{1, P, T, PT}`` (parity ``P = diag(1,-1,-1,-1)``, time reversal ``T = diag(-1,1,1,1)``), a pure
boost ``B`` and a spatial rotation ``R``.

The group is not compact, so it has no Haar probability measure. :meth:`Lorentz.sample` draws
``g = C B(eta n) R`` with ``R`` Haar on SO(3), ``n`` uniform on the sphere and rapidity
``eta ~ Uniform(0, max_rapidity)``: a probability measure invariant under rotations on either
side (``g -> R' g R''``) but not under boosts. In these coordinates the (infinite) Haar measure
has density ``sinh(eta)^2``; a bounded rapidity keeps sampled elements well conditioned
(entries grow like ``cosh(eta)``, and so do rounding errors).
"""

from __future__ import annotations

import torch
from torch import Tensor

from symkit.groups import Group, haar_orthogonal

__all__ = ["Lorentz", "lorentz", "METRIC", "minkowski_dot", "boost_matrix", "COMPONENTS"]

#: The Minkowski metric diag(1, -1, -1, -1).
METRIC = (1.0, -1.0, -1.0, -1.0)
#: Which connected components each variant contains (as diagonal sign patterns).
COMPONENTS = {
    "proper": ((1, 1, 1, 1),),                                      # SO+(1,3)
    "orthochronous": ((1, 1, 1, 1), (1, -1, -1, -1)),               # O+(1,3): adds parity
    "full": ((1, 1, 1, 1), (1, -1, -1, -1), (-1, 1, 1, 1), (-1, -1, -1, -1)),  # O(1,3)
}


def minkowski_dot(a: Tensor, b: Tensor) -> Tensor:
    """``<a, b> = a_0 b_0 - a_s . b_s`` over the last dimension. Shapes: ``(..., 4) -> (...)``."""
    return a[..., 0] * b[..., 0] - (a[..., 1:] * b[..., 1:]).sum(-1)


def boost_matrix(u: Tensor) -> Tensor:
    """The pure boost taking the rest vector ``(1, 0, 0, 0)`` to ``(gamma, u)``.

    ``u = gamma * beta`` is the spatial part of the four-velocity, ``gamma = sqrt(1 + |u|^2)``;
    ``B = [[gamma, u^T], [u, I + u u^T / (1 + gamma)]]`` (symmetric, ``B^-1 = eta B eta``).

    Shapes:
        u: ``(n, 3)``; returns ``(n, 4, 4)``.
    """
    gamma = torch.sqrt(1 + (u * u).sum(-1))
    out = u.new_empty(u.shape[0], 4, 4)
    out[:, 0, 0] = gamma
    out[:, 0, 1:] = u
    out[:, 1:, 0] = u
    eye = torch.eye(3, dtype=u.dtype, device=u.device)
    out[:, 1:, 1:] = eye + u[:, :, None] * u[:, None, :] / (1 + gamma)[:, None, None]
    return out


def _embed_rotation(r: Tensor) -> Tensor:
    out = torch.zeros(r.shape[0], 4, 4, dtype=r.dtype, device=r.device)
    out[:, 0, 0] = 1.0
    out[:, 1:, 1:] = r
    return out


class Lorentz(Group):
    """Lorentz transformations ``L`` (``L^T eta L = eta``) of Minkowski space R^(1,3).

    Args:
        component: ``proper`` (SO+(1,3): rotations and boosts), ``orthochronous`` (O+(1,3):
            adds parity) or ``full`` (O(1,3): adds time reversal too).
        max_rapidity: sampled boosts have rapidity uniform in ``[0, max_rapidity]``.

    Kinds: ``rotation`` (spatial rotations, Haar on SO(3)) and, unless proper, ``reflection``
    (parity or time reversal times a rotation, ``det = -1``). ``sample_kind("boost")`` draws
    pure boosts; it is not in :attr:`kinds`, whose names symkit fixes, so ask for it by name.

    Shapes:
        element batch: ``(n, 4, 4)`` float; ``matrix``: the same tensor.
    """

    dim = 4
    extra_kinds = ("boost",)
    #: not compact: averaging over samples of it is not equivariant, even in expectation
    compact = False

    def __init__(self, component: str = "proper", max_rapidity: float = 1.0):
        if component not in COMPONENTS:
            raise ValueError(f"lorentz: component must be one of {sorted(COMPONENTS)}, "
                             f"got {component!r}")
        if not max_rapidity >= 0:
            raise ValueError(f"lorentz: max_rapidity must be >= 0, got {max_rapidity!r}")
        self.component, self.max_rapidity = component, float(max_rapidity)
        self.kinds = ("rotation",) if component == "proper" else ("rotation", "reflection")

    # -- structure ----------------------------------------------------------------------------
    def identity(self, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return torch.eye(4, dtype=dtype, device=device).expand(n, -1, -1).clone()

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return a @ b

    def inverse(self, a: Tensor) -> Tensor:
        """``L^-1 = eta L^T eta``: exact, no matrix inversion."""
        eta = torch.tensor(METRIC, dtype=a.dtype, device=a.device)
        return eta[:, None] * a.transpose(-1, -2) * eta

    def matrix(self, g: Tensor) -> Tensor:
        return g

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, n, *, generator=None, dtype=torch.float64, device=None) -> Tensor:
        """``C B(eta n) R``: component uniform, boost and rotation as in the module docs."""
        signs = self._signs(COMPONENTS[self.component], n, generator)
        g = signs[:, :, None] * (self._boosts(n, generator) @ self._rotations(n, generator))
        return g.to(dtype=dtype, device=device)

    def sample_kind(self, kind, n, *, generator=None, dtype=torch.float64, device=None):
        if kind == "rotation":
            g = self._rotations(n, generator)
        elif kind == "boost":
            g = self._boosts(n, generator)
        elif kind == "reflection" and kind in self.kinds:
            flips = [c for c in COMPONENTS[self.component] if c[0] * c[1] < 0]  # det -1
            g = self._signs(flips, n, generator)[:, :, None] * self._rotations(n, generator)
        else:
            return super().sample_kind(kind, n)
        return g.to(dtype=dtype, device=device)

    @staticmethod
    def _device(generator):
        return generator.device if generator is not None else torch.device("cpu")

    def _rotations(self, n, generator) -> Tensor:
        return _embed_rotation(haar_orthogonal(n, 3, generator, det=1))

    def _boosts(self, n, generator) -> Tensor:
        dev = self._device(generator)
        direction = torch.randn(n, 3, generator=generator, dtype=torch.float64, device=dev)
        direction = direction / direction.norm(dim=-1, keepdim=True)
        rapidity = self.max_rapidity * torch.rand(
            n, 1, generator=generator, dtype=torch.float64, device=dev
        )
        return boost_matrix(torch.sinh(rapidity) * direction)

    def _signs(self, components, n, generator) -> Tensor:
        table = torch.tensor(components, dtype=torch.float64, device=self._device(generator))
        pick = torch.randint(0, len(components), (n,), generator=generator, device=table.device)
        return table[pick]

    def __repr__(self) -> str:
        name = {"proper": "SO+(1,3)", "orthochronous": "O+(1,3)", "full": "O(1,3)"}
        return f"{name[self.component]}[max_rapidity={self.max_rapidity:g}]"


def lorentz(component: str = "proper", max_rapidity: float = 1.0) -> Lorentz:
    """The Lorentz group acting on four-vectors ``(E, p_x, p_y, p_z)``: SO+(1,3) by default.

    Args:
        component: ``proper`` (SO+(1,3)), ``orthochronous`` (O+(1,3), adds parity) or
            ``full`` (O(1,3), adds time reversal).
        max_rapidity: boosts are sampled with rapidity uniform in ``[0, max_rapidity]``.
    """
    return Lorentz(component, max_rapidity)
