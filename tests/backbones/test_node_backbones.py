"""DeepSets and the set transformer: masks and permutation symmetry."""

from __future__ import annotations

import pytest
import torch

from symkit.groups import Symmetric
from symkit.registry import registry
from symkit.reps import Scalar
from symkit.spec import Field, Spec
from symkit.testing import assert_equivariant

N = 6
PARAMS = {
    "deepsets": {"hidden": 16},
    "deepsets_mean": {"hidden": 16, "pool": "mean"},
    "set_transformer": {"dim": 16, "heads": 2},
}


def make(name: str, dtype=torch.float64):
    torch.manual_seed(0)
    kind = name.removesuffix("_mean")
    model = registry("backbones").build(
        kind, reads=["x"], writes={"node": [-1, 2], "pooled": [3]}, **PARAMS[name]
    )
    model(sample(2, torch.float32))  # materialize the lazy layers
    return model.to(dtype).eval()


def sample(b: int, dtype=torch.float64, n: int = N) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(b + n)
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[:, n - 2:] = False
    return {"x": torch.randn(b, n, 4, generator=g, dtype=dtype), "mask": mask}


@pytest.mark.parametrize("name", list(PARAMS))
def test_padding_does_not_change_outputs(name):
    model = make(name)
    padded = sample(7)
    with torch.no_grad():
        out = model(padded)
        trimmed = model({"x": padded["x"][:, : N - 2]})  # no mask: only the valid nodes
        padded["x"][:, N - 2:] = 1e3 * torch.randn(7, 2, 4, dtype=torch.float64)
        garbage = model(padded)
    for other in (trimmed, garbage):
        torch.testing.assert_close(out["pooled"], other["pooled"], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(
            out["node"][:, : N - 2], other["node"][:, : N - 2], rtol=1e-10, atol=1e-10
        )
    assert (out["node"][:, N - 2:] == 0).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(PARAMS))
def test_permutation_symmetry(name, dtype):
    """Per-node outputs are permutation equivariant, pooled outputs invariant (masks too)."""
    model = make(name, dtype)
    node = Field(Scalar(), nodes=True)
    in_spec = Spec({"x": node, "mask": node})
    out_spec = Spec({"node": node, "pooled": Field(Scalar())})
    with torch.no_grad():
        assert_equivariant(model, Symmetric(N), in_spec, out_spec, sample(7, dtype),
                           generator=torch.Generator().manual_seed(1))
