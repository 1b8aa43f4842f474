"""A synthetic "jets" data set: sets of particle four-momenta, target their invariant mass."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from symkit_lorentz._group import Lorentz, minkowski_dot

__all__ = ["Jets", "jets"]

_SEEDS = {"train": 0, "valid": 1, "test": 2}


class Jets(Dataset):
    """Events of ``particles`` on-shell particles, each seen from a random Lorentz frame.

    In the event's rest frame particle ``i`` has mass ``m_i ~ Uniform(0, 0.5)`` and spatial
    momentum ``k_i ~ N(0, I)``, re-centred so the spatial momenta sum to zero; the whole
    event is then transformed by a random element of SO+(1,3) (rotation times a boost of
    rapidity up to ``max_rapidity``). Target: the invariant mass ``M = sqrt(<P, P>)`` of the
    total four-momentum ``P`` (a Lorentz invariant).

    Items: ``p`` ``(particles, 4)`` as ``(E, p_x, p_y, p_z)``, ``target`` ``(1,)``.
    """

    def __init__(self, split: str, n: int = 1000, particles: int = 6,
                 max_rapidity: float = 1.0, dtype: str = "float32"):
        g = torch.Generator().manual_seed(_SEEDS[split])
        k = torch.randn(n, particles, 3, generator=g, dtype=torch.float64)
        k = k - k.mean(1, keepdim=True)
        m = 0.5 * torch.rand(n, particles, 1, generator=g, dtype=torch.float64)
        p = torch.cat([torch.sqrt(m**2 + (k**2).sum(-1, keepdim=True)), k], dim=-1)
        frame = Lorentz("proper", max_rapidity).sample(n, generator=g)
        p = torch.einsum("bij,bnj->bni", frame, p)
        total = p.sum(1)
        self.p: Tensor = p.to(getattr(torch, dtype))
        self.target: Tensor = minkowski_dot(total, total).sqrt()[:, None].to(self.p.dtype)

    def __len__(self) -> int:
        return len(self.p)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"p": self.p[i], "target": self.target[i]}


def jets(split: str = "train", n: int = 1000, particles: int = 6, max_rapidity: float = 1.0,
         dtype: str = "float32") -> Jets:
    """Particle four-momenta ``p`` (N, 4) seen from random frames; target the invariant mass.

    Args:
        split: ``train``, ``valid`` or ``test`` (a different seed each); filled by the runner.
        n: number of events.
        particles: particles per event.
        max_rapidity: largest rapidity of the random frame of each event.
        dtype: ``float32`` or ``float64``.
    """
    return Jets(split, n, particles, max_rapidity, dtype)
