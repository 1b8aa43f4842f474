"""``model.forces``: forces ``-dE/dpos`` computed inside the forward, for every symmetrizer.

Float64 forces equal central finite differences of the model's own energy (relative 1e-6), also
when the caller runs under ``torch.no_grad`` (evaluation); the derivative keeps its graph only
when gradients are enabled (training), so a force loss reaches the weights; for the exactly
invariant symmetrizers they rotate as vectors; the float32 run keeps them within 1e-4.
"""

from __future__ import annotations

import pytest
import torch

from symkit._forces import ConservativeForces
from symkit.errors import ConfigError
from symkit.model import build_model
from symkit.testing import assert_equivariant

SYMMETRIZERS = {
    "none": (None, "e3"),
    "frame_averaging": ({"type": "frame_averaging", "field": "pos"}, "e3"),
    "canonicalization": ({"type": "canonicalization"}, "e3"),
    "group_averaging": ({"type": "group_averaging", "eval_samples": 16}, "o3"),
}
EXACT = ("frame_averaging", "canonicalization")


def _model(name: str, forces=None, dtype=torch.float64):
    symmetrizer, group = SYMMETRIZERS[name]
    torch.manual_seed(0)
    model = build_model({
        "group": group,
        "in_spec": {"pos": {"rep": "point", "nodes": True}},
        "out_spec": {"e": "scalar"},
        "backbone": {"type": "mlp", "writes": {"e": [1]}, "hidden": [16, 16],
                     "activation": "tanh"},
        "symmetrizer": symmetrizer,
        "forces": forces or {"energy": "e", "output": "f"},
    })
    return model.to(dtype).eval()


def _pos(dtype=torch.float64, batch=2):
    return torch.randn(batch, 6, 3, generator=torch.Generator().manual_seed(1), dtype=dtype)


def _energy(model, pos):
    torch.manual_seed(2)  # Monte-Carlo averaging: the same Haar samples at every call
    return model({"pos": pos})["e"].sum()


@pytest.mark.parametrize("name", list(SYMMETRIZERS))
def test_forces_match_finite_differences(name):
    model = _model(name)
    assert isinstance(model, ConservativeForces)
    pos = _pos()
    torch.manual_seed(2)
    with torch.no_grad():
        out = model({"pos": pos})
    assert out["e"].shape == (2,) and out["f"].shape == (2, 6, 3)
    assert not out["f"].requires_grad and not out["e"].requires_grad
    fd = torch.zeros_like(pos)
    step = 1e-6
    with torch.no_grad():
        for idx in torch.cartesian_prod(*(torch.arange(s) for s in pos.shape)):
            e = torch.zeros_like(pos)
            e[tuple(idx)] = step
            fd[tuple(idx)] = -(_energy(model, pos + e) - _energy(model, pos - e)) / (2 * step)
    rel = float((out["f"] - fd).norm() / fd.norm())
    assert rel < 1e-6, f"{name}: forces differ from finite differences by {rel:.3g}"


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_forces_are_equivariant(name, dtype):
    model = _model(name, dtype=dtype)
    assert dict(model.out_spec)["f"].nodes and not dict(model.out_spec)["e"].nodes
    rtol = 1e-9 if dtype == torch.float64 else 1e-4
    assert_equivariant(model, model.group, model.in_spec, model.out_spec,
                       {"pos": _pos(dtype)}, rtol=rtol)


def test_training_keeps_the_graph_of_the_derivative():
    model = _model("frame_averaging").train()
    out = model({"pos": _pos()})
    assert out["f"].requires_grad
    out["f"].square().sum().backward()
    # every weight matrix gets a gradient (the energy's constant offset cannot: forces ignore it)
    grads = {n: p.grad for n, p in model.named_parameters() if n.endswith("weight")}
    assert all(g is not None and float(g.abs().max()) > 0 for g in grads.values()), grads.keys()


def test_gradient_with_respect_to_given_positions():
    """A caller's ``pos`` that already requires grad is differentiated as given."""
    model = _model("canonicalization")
    pos = _pos().requires_grad_(True)
    f = model({"pos": pos})["f"]
    (hess_row,) = torch.autograd.grad(f[0, 0, 0], pos)
    assert hess_row.shape == pos.shape and bool(torch.isfinite(hess_row).all())


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"model\.forces\.energy"):
        _model("none", forces={"energy": "energy"})
    with pytest.raises(ConfigError, match=r"model\.forces\.outptu"):
        _model("none", forces={"energy": "e", "outptu": "f"})
    with pytest.raises(ConfigError, match=r"model\.forces"):
        _model("none", forces=[1])


@pytest.mark.parametrize("name", list(SYMMETRIZERS))
def test_the_wrapper_keeps_the_models_claim_and_flags(name):
    """`symkit check` reads `is_exact`; evaluation and the conformance suite read `flagged`."""
    model = _model(name)
    inner = model.model
    assert model.is_exact == bool(getattr(inner, "is_exact", False))
    assert model.is_exact == (name in EXACT)
    line = torch.zeros(2, 6, 3, dtype=torch.float64)
    line[0, :, 0] = torch.arange(6.0)  # sample 0 is linear: its frame is not unique
    line[1] = _pos(batch=1)[0]
    model({"pos": line})
    flagged = getattr(inner, "flagged", None)
    if flagged is None:
        assert model.flagged is None
    else:
        assert model.flagged is flagged
    if name == "frame_averaging":
        assert model.flagged.tolist() == [True, False]
