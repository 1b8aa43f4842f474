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


def _config(name: str) -> dict:
    symmetrizer, group = SYMMETRIZERS[name]
    return {
        "group": group,
        "in_spec": {"pos": {"rep": "point", "nodes": True}, "z": {"rep": "scalar", "nodes": True}},
        "out_spec": {"e": "scalar"},
        "backbone": {"type": "mlp", "writes": {"e": [1]}, "hidden": [8]},
        "symmetrizer": symmetrizer,
    }


def _charged(name: str, forces):
    return build_model({**_config(name), "forces": forces})


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
    with pytest.raises(ConfigError, match=r"model\.forces\.pos: 'positions' is not in "
                                          r"model\.in_spec \(\['pos'\]\)"):
        _model("none", forces={"energy": "e", "pos": "positions", "output": "f"})
    with pytest.raises(ConfigError, match=r"model\.forces\.pos: 'z' .* must be a point or "
                                          r"vector field with a node axis"):
        _charged("none", forces={"energy": "e", "pos": "z", "output": "f"})
    # the written force field must be a new name: not the energy, not another declared output
    with pytest.raises(ConfigError, match=r"model\.forces\.output: 'e' is already in "
                                          r"model\.out_spec"):
        _model("none", forces={"energy": "e", "output": "e"})
    model = _charged("none", forces={"energy": "e"})  # default output 'forces'
    with pytest.raises(ConfigError, match=r"model\.forces\.output: 'forces' is already in "
                                          r"model\.out_spec \(\['e', 'forces'\]\); "
                                          r"model\.forces writes it"):
        build_model({**_config("none"), "out_spec": {"e": "scalar", "forces": {
            "rep": "vector", "nodes": True}}, "forces": {"energy": "e"}})
    assert model.output == "forces"


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



def _node_energy_model(name: str, batching: str):
    """Atomic energies ``(B, N, 1)`` (padded: deepsets) or ``(total_nodes, 1)`` (ragged: a per-atom
    MLP): the molecule's energy is their sum."""
    symmetrizer, group = SYMMETRIZERS[name]
    backbone = ({"type": "mlp", "writes": {"e": [1]}, "hidden": [16, 16], "activation": "tanh"}
                if batching == "ragged" else
                {"type": "deepsets", "writes": {"e": [-1, 1]}, "hidden": 16})
    torch.manual_seed(0)
    return build_model({
        "group": group,
        "in_spec": {"pos": {"rep": "point", "nodes": True}},
        "out_spec": {"e": {"rep": "scalar", "nodes": True}},
        "backbone": backbone,
        "symmetrizer": symmetrizer,
        "forces": {"energy": "e", "output": "f"},
    }).to(torch.float64).eval()


def _batch(mols, batching):
    if batching == "ragged":
        graph = torch.cat([torch.full((len(m),), b) for b, m in enumerate(mols)])
        return {"pos": torch.cat(mols), "batch": graph, "num_graphs": len(mols)}
    pos = torch.zeros(len(mols), max(map(len, mols)), 3, dtype=torch.float64)
    mask = torch.zeros(pos.shape[:2], dtype=torch.bool)
    for b, m in enumerate(mols):
        pos[b, :len(m)], mask[b, :len(m)] = m, True
    return {"pos": pos, "mask": mask}


@pytest.mark.parametrize("name", list(SYMMETRIZERS))
@pytest.mark.parametrize("batching", ["ragged", "padded"])
def test_atomic_energies_sum_per_molecule_in_ragged_and_padded_batches(name, batching):
    """Molecules of 3 and 5 atoms batched together get each its own energy ``(B,)`` (the sum of
    its atoms' energies, padding rows excluded) and forces, as when each is alone."""
    model = _node_energy_model(name, batching)
    mols = [_pos(batch=1)[0, :3], _pos(batch=1)[0, 1:6] + 1.0]
    alone = []
    for m in mols:
        torch.manual_seed(2)
        with torch.no_grad():
            alone.append(model(_batch([m], batching)))
        assert alone[-1]["e"].shape == (1,), f"{batching}: energy {tuple(alone[-1]['e'].shape)}"
    sample = _batch(mols, batching)
    torch.manual_seed(2)
    with torch.no_grad():
        out = model(sample)
    assert out["e"].shape == (2,), f"{batching}: energy shape {tuple(out['e'].shape)}"
    if name == "group_averaging":  # Monte-Carlo: other Haar samples per molecule in a batch
        return
    for b, one in enumerate(alone):
        torch.testing.assert_close(out["e"][b], one["e"][0], rtol=1e-9, atol=1e-9)
        f = (out["f"][sample["batch"] == b] if batching == "ragged" else
             out["f"][b, :len(mols[b])])
        torch.testing.assert_close(f, one["f"].reshape(f.shape), rtol=1e-9, atol=1e-9)
    if batching == "padded":
        assert float(out["f"][0, 3:].abs().max()) == 0.0  # padding atoms feel no force
