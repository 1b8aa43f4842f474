"""Issue 12, item 10: evaluation is a function of the sample.

With ``seed`` set, ``learned_augmentation`` and ``probabilistic`` draw each sample's randomness
from its own stream, keyed by ``(seed, number of valid nodes)``: a molecule gives the same output
alone, second in a dense (masked) batch or in a ragged batch, on every call; ``g . x`` gets the
draws of ``x``, so the fixed-seed probabilistic model stays exactly equivariant.
"""

from __future__ import annotations

import pytest
import torch

from symkit.symmetrizers.learned import keyed_draws

from ._molecules import EXACT, acted, build, moved, padded, ragged, sample_of, spread_error

MODELS = {"learned_augmentation": "so3", "probabilistic": "se3"}


def _rows(y, b, nodes):
    return {"e": y["e"][b:b + 1], "v": y["v"][b:b + 1, nodes], "y": y["y"][b:b + 1, nodes]}


@pytest.mark.parametrize("name", list(MODELS))
def test_same_output_alone_or_second_in_a_batch(name):
    model, _ = build(name, MODELS[name], seed=5, eval_samples=6)
    with torch.no_grad():
        alone = model(sample_of("ethanol"))
        batch = model(padded(["acetaldehyde", "ethanol"], 9))  # 7 atoms padded, then 9
        again = model(sample_of("ethanol"))
        rag = model(ragged(["formic_acid", "ethanol"]))
    assert spread_error(_rows(batch, 1, slice(0, 9)), alone) <= EXACT[torch.float64]
    assert all(torch.equal(alone[k], again[k]) for k in alone)  # reproducible
    rag_rows = {"e": rag["e"][1:2], "v": rag["v"][5:][None], "y": rag["y"][5:][None]}
    assert spread_error(rag_rows, alone) <= EXACT[torch.float64]


@pytest.mark.parametrize("name", list(MODELS))
def test_different_seeds_differ_and_no_seed_is_fresh(name):
    a, _ = build(name, MODELS[name], seed=5, eval_samples=2)
    b, _ = build(name, MODELS[name], seed=6, eval_samples=2)
    fresh, _ = build(name, MODELS[name], eval_samples=2)
    x = sample_of("ethanol")
    with torch.no_grad():
        assert not torch.allclose(a(x)["v"], b(x)["v"])
        assert not torch.allclose(fresh(x)["v"], fresh(x)["v"])


def test_fixed_seed_probabilistic_is_exact_on_molecules():
    model, g = build("probabilistic", "se3", seed=5, eval_samples=6)
    x = sample_of("ethanol")
    el = g.sample(1, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    with torch.no_grad():
        err = spread_error(model(moved(g, el, x)), acted(g, el, model(x)))
    assert err <= EXACT[torch.float64]


def test_keyed_draws_depend_on_seed_and_key_only():
    def draw(gen):
        return torch.randn(3, generator=gen, dtype=torch.float64)

    keys = torch.tensor([4, 9, 4])
    out = keyed_draws(1, keys, draw)
    assert torch.equal(out[0], out[2]) and not torch.equal(out[0], out[1])
    assert torch.equal(keyed_draws(1, torch.tensor([9]), draw)[0], out[1])
    assert not torch.equal(keyed_draws(2, keys, draw), out)
    assert keyed_draws(1, torch.zeros(0, dtype=torch.long), draw).shape == (0, 3)


def test_flagged_samples_are_a_function_of_the_sample_too():
    """Benzene is degenerate (random completion of its frame); with a seed, that randomness
    comes from its own stream as well: alone or second in a batch, the same output."""
    model, _ = build("probabilistic", "se3", seed=5, eval_samples=3)
    with torch.no_grad():
        alone = model(sample_of("benzene"))
        assert bool(model.flagged.all())
        batch = model(padded(["co2", "benzene"], 12))
        assert bool(model.flagged.all())
    assert spread_error(_rows(batch, 1, slice(0, 12)), alone) <= EXACT[torch.float64]
