"""Data sets of the core: samples read from the user's own files.

Registered (registry ``datasets``): ``arrays``, named arrays from ``.npz``, ``.npy`` folders,
``.pt``, HDF5 or ase (``.xyz``, ``.extxyz``, ``.traj``, ``.db``) files, fixed-size or
variable-size samples (see :mod:`symkit.data._arrays`).
"""

from symkit.data._arrays import ArrayField, Arrays, arrays, split_indices
from symkit.data._collate import padded_collate, ragged_collate
from symkit.data._readers import ArraySource, open_source

__all__ = ["ArrayField", "ArraySource", "Arrays", "arrays", "open_source", "padded_collate",
           "ragged_collate", "split_indices"]
