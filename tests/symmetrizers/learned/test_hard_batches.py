"""Issue 12, items 6-9 (and half precision): masks, ragged batches, empty inputs, NaN samples.

Padding must not be read: ethanol padded to 12 rows gives the same output whatever the padding
values, and the output of the unpadded molecule. A ragged batch of two different molecules
gives each molecule's own output. Empty batches and samples without nodes do not crash; a
non-finite sample raises a ``SampleError`` naming its index.
"""

from __future__ import annotations

import pytest
import torch

from symkit.errors import SampleError

from ._molecules import EXACT, IN_SPEC, build, padded, ragged, sample_of, spread_error

#: every learned symmetrizer with point inputs -> (group, params) where ethanol is exact
POINT_MODELS = {
    "learned_canonicalization": ("se3", {}),
    "probabilistic": ("se3", {"seed": 3, "eval_samples": 4}),
    "mds_invariant": ("se3", {}),
    "orbit_distance": ("se3", {}),
    "learned_augmentation": ("so3", {"seed": 3, "eval_samples": 4}),
    "soft_equivariance": ("se3", {}),
}
MASKED = ["mds_invariant", "learned_canonicalization", "orbit_distance", "probabilistic"]


def _rows(y: dict, index: int, nodes: slice) -> dict:
    """Sample ``index``'s outputs: its energy row and the node rows ``nodes``."""
    return {"e": y["e"][index:index + 1], "v": y["v"][nodes][None] if y["v"].ndim == 3
            else y["v"][index:index + 1, nodes], "y": y["y"][nodes][None] if y["y"].ndim == 3
            else y["y"][index:index + 1, nodes]}


@pytest.mark.parametrize("name", MASKED + ["learned_augmentation", "soft_equivariance"])
def test_padding_is_never_read(name):
    """Item 6: two paddings of ethanol (9 atoms -> 12 rows) and the unpadded molecule agree."""
    gname, params = POINT_MODELS[name]
    model, _ = build(name, gname, **params)
    with torch.no_grad():
        a = model(padded(["ethanol"], 12, seed=0))
        b = model(padded(["ethanol"], 12, seed=1))
        alone = model(sample_of("ethanol"))
    valid = slice(0, 9)
    assert spread_error(_rows(a, 0, valid), _rows(b, 0, valid)) <= EXACT[torch.float64]
    assert spread_error(_rows(a, 0, valid), alone) <= EXACT[torch.float64]
    assert not bool(model.flagged.any())


@pytest.mark.parametrize("name", list(POINT_MODELS))
def test_ragged_batch_equals_each_molecule_alone(name):
    """Item 7: ethanol and formic acid as one ragged batch (``batch`` vector, node rows)."""
    gname, params = POINT_MODELS[name]
    model, _ = build(name, gname, **params)
    with torch.no_grad():
        y = model(ragged(["ethanol", "formic_acid"]))
        first, second = model(sample_of("ethanol")), model(sample_of("formic_acid"))
    assert y["e"].shape == (2, 2) and y["v"].shape == (14, 2, 3)
    assert spread_error(_rows(y, 0, slice(0, 9)), first) <= EXACT[torch.float64]
    assert spread_error(_rows(y, 1, slice(9, 14)), second) <= EXACT[torch.float64]


@pytest.mark.parametrize("name", list(POINT_MODELS))
def test_ragged_nodes_need_not_be_sorted(name):
    gname, params = POINT_MODELS[name]
    model, _ = build(name, gname, **params)
    sample = ragged(["ethanol", "formic_acid"])
    perm = torch.randperm(14, generator=torch.Generator().manual_seed(0))
    shuffled = {**sample, **{k: sample[k][perm] for k in ("h", "pos", "batch")}}
    with torch.no_grad():
        y, ys = model(sample), model(shuffled)
    assert torch.allclose(ys["e"], y["e"], rtol=1e-9, atol=1e-12)
    assert torch.allclose(ys["v"], y["v"][perm], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(POINT_MODELS))
def test_empty_inputs(name):
    """Item 8: a batch of 0 samples, samples with 0 nodes (dense and ragged)."""
    gname, params = POINT_MODELS[name]
    model, _ = build(name, gname, **params)
    with torch.no_grad():
        y = model({"h": torch.zeros(0, 9, dtype=torch.float64),
                   "pos": torch.zeros(0, 9, 3, dtype=torch.float64)})
        assert y["e"].shape == (0, 2) and y["v"].shape == (0, 9, 2, 3)
        y = model({"h": torch.zeros(2, 0, dtype=torch.float64),
                   "pos": torch.zeros(2, 0, 3, dtype=torch.float64)})
        assert y["e"].shape == (2, 2) and bool(torch.isfinite(y["e"]).all())
        empty = {"h": torch.zeros(0, dtype=torch.float64),
                 "pos": torch.zeros(0, 3, dtype=torch.float64),
                 "batch": torch.zeros(0, dtype=torch.long), "num_graphs": 2}
        y = model(empty)
        assert y["e"].shape == (2, 2) and y["v"].shape == (0, 2, 3)
        # a ragged batch whose second graph has no nodes: the first is unaffected
        mixed = {**ragged(["ethanol"]), "num_graphs": 2}
        y, alone = model(mixed), model(sample_of("ethanol"))
        assert spread_error(_rows(y, 0, slice(0, 9)), alone) <= EXACT[torch.float64]
        assert bool(torch.isfinite(y["e"]).all())


@pytest.mark.parametrize("name", list(POINT_MODELS))
def test_nan_sample_names_its_index(name):
    """Item 9: a NaN in the second sample names sample 1 and the field; NaN padding is fine."""
    gname, params = POINT_MODELS[name]
    model, _ = build(name, gname, **params)
    sample = padded(["ethanol", "ethanol"], 9)
    sample["pos"][1, 3, 0] = float("nan")
    with pytest.raises(SampleError, match="sample 1") as info:
        model(sample)
    assert info.value.index == 1 and info.value.field == "pos"
    rag = ragged(["formic_acid", "ethanol"])
    rag["h"][7] = float("inf")
    with pytest.raises(SampleError) as info:
        model(rag)
    assert info.value.index == 1 and info.value.field == "h"
    pad = padded(["ethanol"], 12)
    pad["pos"][0, 10] = float("nan")  # padding: never read
    with torch.no_grad():
        assert bool(torch.isfinite(model(pad)["e"]).all())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
@pytest.mark.parametrize("name", list(POINT_MODELS))
def test_half_precision_inputs(name, dtype):
    """Half precision does not crash: frames are computed in float64 and cast back."""
    gname, params = POINT_MODELS[name]
    model, _ = build(name, gname, dtype=dtype, **params)
    sample = {k: v.to(dtype) for k, v in sample_of("ethanol").items()}
    with torch.no_grad():
        y = model(sample)
    assert y["e"].dtype == dtype and all(bool(torch.isfinite(v).all()) for v in y.values())


def test_in_spec_is_what_is_checked():
    assert set(IN_SPEC) == {"h", "pos"}


@pytest.mark.parametrize("name", list(POINT_MODELS))
def test_training_forward_on_hard_batches(name):
    """Training mode (extra losses included) on ragged, padded and empty batches, with a
    degenerate molecule in the batch: finite input gradients and metrics."""
    gname, params = POINT_MODELS[name]
    model, _ = build(name, gname, **{k: v for k, v in params.items() if k != "seed"})
    model.train()
    batches = [ragged(["ethanol", "benzene"]), padded(["ethanol", "co2"], 12),
               {"h": torch.zeros(0, 5, dtype=torch.float64),
                "pos": torch.zeros(0, 5, 3, dtype=torch.float64)}]
    for sample in batches:
        pos = sample["pos"].clone().requires_grad_(True)
        y = model({**sample, "pos": pos})
        loss = sum(v.pow(2).sum() for v in y.values()) + sum(model.extra_losses().values())
        loss.backward()
        assert pos.grad is not None and bool(torch.isfinite(pos.grad).all())
        assert "degenerate_fraction" in model.metrics()
