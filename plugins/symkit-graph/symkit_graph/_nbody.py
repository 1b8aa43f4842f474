"""The charged 5-body data set (EGNN / Frame Averaging protocol), shipped with the plugin."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from symkit.errors import ConfigError

__all__ = ["NBody", "nbody", "load_arrays", "SPLITS"]

SPLITS = ("train", "valid", "test")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@lru_cache(maxsize=len(SPLITS))
def load_arrays(split: str) -> dict[str, np.ndarray]:
    """The raw float64 arrays of one split, read (once) from the package's
    ``data/charged5.npz``. Treat them as read-only."""
    if split not in SPLITS:
        raise ConfigError("split", f"unknown split '{split}'; use one of {list(SPLITS)}")
    with resources.files("symkit_graph.data").joinpath("charged5.npz").open("rb") as f:
        with np.load(f) as npz:
            return {k: npz[f"{split}_{k}"] for k in ("loc_t30", "vel_t30", "loc_t40", "charges")}


class NBody(Dataset):
    """Five charged particles: from positions and velocities at frame 30 predict the positions at
    frame 40 (Kipf et al. 2018; Satorras et al. 2021). 3000 / 2000 / 2000 samples.

    Items (no batch dimension):
        pos: ``(5, 3)`` positions at frame 30; vel: ``(5, 3)`` velocities at frame 30;
        charge: ``(5, 1)`` charges +1/-1; target: ``(5, 3)`` positions at frame 40.
    """

    def __init__(self, split: str = "train", max_samples: int | None = None,
                 dtype: str = "float32"):
        if dtype not in _DTYPES:
            raise ConfigError("dtype", f"unknown dtype '{dtype}'; use one of {list(_DTYPES)}")
        if max_samples is not None and max_samples <= 0:
            raise ConfigError("max_samples", f"must be positive, got {max_samples}")
        arrays = load_arrays(split)
        sl = slice(None, max_samples)

        def tensor(a: np.ndarray) -> Tensor:
            return torch.tensor(a[sl], dtype=_DTYPES[dtype])  # a copy, never the cache

        self.split = split
        self.fields = {
            "pos": tensor(arrays["loc_t30"]),
            "vel": tensor(arrays["vel_t30"]),
            "charge": tensor(arrays["charges"][..., None]),
            "target": tensor(arrays["loc_t40"]),
        }

    def __len__(self) -> int:
        return self.fields["pos"].shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: v[i] for k, v in self.fields.items()}


def nbody(split: str = "train", max_samples: int | None = None, dtype: str = "float32") -> NBody:
    """Charged 5-body data set: fields pos, vel, charge (inputs) and target (positions later).

    Args:
        split: ``train`` (3000), ``valid`` (2000) or ``test`` (2000).
        max_samples: keep only the first samples of the split.
        dtype: ``float32`` or ``float64``.
    """
    return NBody(split, max_samples, dtype)
