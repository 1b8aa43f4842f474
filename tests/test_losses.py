"""The generic losses added for energies and forces: ``weighted_sum`` and ``mae_per_node``."""

from __future__ import annotations

import pytest
import torch

from symkit.config import build
from symkit.errors import ConfigError, SpecError


def _batch():
    g = torch.Generator().manual_seed(0)
    return ({"e": torch.randn(4, generator=g), "f": torch.randn(4, 5, 3, generator=g)},
            {"e": torch.randn(4, generator=g), "f": torch.randn(4, 5, 3, generator=g),
             "pos": torch.zeros(4, 5, 3)})


def test_weighted_sum_is_the_weighted_sum_of_its_terms():
    out, batch = _batch()
    loss = build({"type": "weighted_sum", "terms": {
        "energy": {"weight": 0.5, "loss": {"type": "mse", "output": "e", "target": "e"}},
        "forces": {"weight": 2, "loss": {"type": "mae", "output": "f", "target": "f"}},
    }}, "losses", key="loss")
    want = 0.5 * (out["e"] - batch["e"]).square().mean() + 2 * (out["f"] - batch["f"]).abs().mean()
    assert torch.allclose(loss(out, batch), want, rtol=1e-6)


@pytest.mark.parametrize(("terms", "where"), [
    ({}, r"loss\.terms"),
    ({"energy": {"weight": "big", "loss": {"type": "mse", "output": "e"}}},
     r"loss\.terms\.energy\.weight"),
    ({"energy": {"loss": {"type": "mse", "output": "e"}}}, r"loss\.terms\.energy"),
    ({"energy": {"weight": 1.0, "loss": {"type": "msee", "output": "e"}}},
     r"loss\.terms\.energy\.loss"),
])
def test_weighted_sum_errors_name_the_term(terms, where):
    with pytest.raises(ConfigError, match=where):
        build({"type": "weighted_sum", "terms": terms}, "losses", key="loss")


def test_mae_per_node_divides_by_the_node_count():
    out, batch = _batch()
    fn = build({"type": "mae_per_node", "output": "e", "target": "e"}, "metrics", key="metric")
    assert torch.allclose(fn(out, batch), ((out["e"] - batch["e"]).abs() / 5).mean())
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[0, 2:] = False  # sample 0 has 2 real nodes
    got = fn(out, {**batch, "mask": mask})
    count = torch.tensor([2.0, 5, 5, 5])
    assert torch.allclose(got, ((out["e"] - batch["e"]).abs() / count).mean())
    # a ragged batch: nodes of all samples concatenated, batch[i] names the sample of node i
    graph = torch.tensor([0, 0, 1, 1, 1, 1, 2, 3, 3, 3])
    ragged = {"e": batch["e"], "pos": torch.zeros(10, 3), "batch": graph, "num_graphs": 4}
    count = torch.tensor([2.0, 4, 1, 3])
    assert torch.allclose(fn(out, ragged), ((out["e"] - batch["e"]).abs() / count).mean())


@pytest.mark.parametrize("name", ["mse", "mae", "mae_per_node"])
def test_an_output_and_target_of_other_shapes_are_refused_not_broadcast(name):
    """Atomic energies ``(B, N, 1)`` against a per-molecule target ``(B,)`` would broadcast to
    ``(B, N, B)`` (every atom against every molecule): refused, naming both fields and shapes;
    shapes that differ only by axes of size 1 pair their values one to one."""
    fn = build({"type": name, "output": "energy", "target": "E"}, "losses", key="loss")
    batch = {"E": torch.tensor([0.0, 1.0, 5.0]), "pos": torch.zeros(3, 4, 3)}
    with pytest.raises(SpecError, match=r"E: the target has shape \(3,\) but the output "
                                        r"'energy' has \(3, 4, 1\)"):
        fn({"energy": torch.ones(3, 4, 1)}, batch)
    y = torch.tensor([1.0, 2.0, 3.0])
    same = fn({"energy": y}, batch)
    kept = fn({"energy": y}, {**batch, "E": batch["E"].reshape(3, 1, 1)})
    assert float(kept) == float(same)
