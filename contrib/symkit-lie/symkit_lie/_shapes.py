"""A synthetic affine-invariant task: which template is this point set an affine image of?"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from symkit.errors import ConfigError
from symkit_lie._groups import Affine

__all__ = ["AffineShapes", "affine_shapes"]

_SEEDS = {"train": 0, "valid": 1, "test": 2}
_TEMPLATE_SEED = 1234


class AffineShapes(Dataset):
    """Point sets ``x_j = A p_j + t`` for a template ``p`` drawn from ``templates`` fixed ones.

    The templates are ``points`` standard Gaussian points in R^d (seed fixed, the same for every
    split), centred and whitened so that they differ only in their higher moments; each item
    picks a template uniformly, permutes its points, and maps them by a random element of
    Aff+(d) (``stretch``, ``translation_scale``: see :class:`~symkit_lie._groups.Affine`). The
    label is the template's index, an affine invariant.

    Items: ``pos`` ``(points, d)``, ``label`` ``()`` long.
    """

    def __init__(self, split: str, n: int = 512, templates: int = 4, points: int = 12,
                 d: int = 2, stretch: float = 0.5, translation_scale: float = 2.0,
                 dtype: str = "float32"):
        if split not in _SEEDS:
            raise ConfigError("data.split", f"must be one of {sorted(_SEEDS)}, got {split!r}")
        if templates < 2 or points < d + 2:
            raise ConfigError("data", f"need templates >= 2 and points >= d + 2, got "
                              f"templates={templates}, points={points}")
        base = torch.Generator().manual_seed(_TEMPLATE_SEED)
        tpl = torch.randn(templates, points, d, generator=base, dtype=torch.float64)
        tpl = tpl - tpl.mean(1, keepdim=True)
        lam, v = torch.linalg.eigh(tpl.transpose(1, 2) @ tpl / points)
        tpl = tpl @ (v / lam.sqrt()[:, None, :]) @ v.transpose(1, 2)
        g = torch.Generator().manual_seed(_SEEDS[split])
        label = torch.randint(0, templates, (n,), generator=g)
        order = torch.argsort(torch.rand(n, points, generator=g), dim=1)
        x = tpl[label].gather(1, order[..., None].expand(-1, -1, d))
        elem = Affine(d, stretch, translation_scale).sample(n, generator=g)
        x = x @ elem[:, :d, :d].transpose(1, 2) + elem[:, None, :d, d]
        self.pos: Tensor = x.to(getattr(torch, dtype))
        self.label: Tensor = label

    def __len__(self) -> int:
        return len(self.pos)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"pos": self.pos[i], "label": self.label[i]}


def affine_shapes(split: str = "train", n: int = 512, templates: int = 4, points: int = 12,
                  d: int = 2, stretch: float = 0.5, translation_scale: float = 2.0,
                  dtype: str = "float32") -> AffineShapes:
    """Point sets that are random affine images of ``templates`` fixed ones; label the template.

    Args:
        split: ``train``, ``valid`` or ``test`` (a different seed each); filled by the runner.
        n: number of point sets.
        templates: number of classes.
        points: points per set.
        d: dimension.
        stretch: scale of the positive-definite factor of the random affine maps.
        translation_scale: standard deviation of their translations.
        dtype: ``float32`` or ``float64``.
    """
    return AffineShapes(split, n, templates, points, d, stretch, translation_scale, dtype)
