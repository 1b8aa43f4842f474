"""Fixtures of the symmetrizer tests; the shared cases live in ``tests/_cases.py``."""

from __future__ import annotations

import pytest
import torch

from .._cases import OUT_SPECS

torch.set_num_threads(1)  # tiny tensors: threads only add contention


@pytest.fixture(params=["invariant", "equivariant"])
def out_spec(request):
    return OUT_SPECS[request.param]
