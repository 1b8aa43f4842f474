"""``constrained_augmentation``: MH samples the tilted law, the dual variable tracks the
constraint, the trainer sees the Lagrangian, and evaluation is a Haar average."""

from __future__ import annotations

import pytest
import torch

from symkit.errors import ConfigError
from symkit.losses import mse
from symkit.registry import registry
from symkit.symmetrizers.learned import metropolis_hastings
from symkit.testing._symmetrizers import FlatMLP

from ..._cases import OUT_SPECS, group, point_sample, point_spec


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_metropolis_hastings_samples_the_tilted_law(temperature):
    """Six states with energies E: the chains' states follow exp(E / T) / Z."""
    energies = torch.tensor([0.0, 1.0, 0.5, 2.0, 0.2, 1.5], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    n = 20000
    start = torch.zeros(n, dtype=torch.long)
    states, e, rate = metropolis_hastings(
        lambda s: energies[s], lambda m: torch.randint(6, (m,), generator=gen), start,
        energies[start], steps=25, temperature=temperature, generator=gen)
    freq = torch.bincount(states, minlength=6).double() / n
    target = torch.softmax(energies / temperature, 0)
    assert (freq - target).abs().max() < 0.015, (freq, target)
    assert torch.equal(e, energies[states]) and 0 < rate < 1


def _model(gname="so2", **options):
    g = group(gname)
    sample = point_sample(d=g.dim, batch=4)
    torch.manual_seed(0)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["invariant"], sample).double()
    model = registry("symmetrizers").build(
        "constrained_augmentation", backbone, g, point_spec(), OUT_SPECS["invariant"],
        **{"loss": {"type": "mse", "output": "e"}, **options}).double()
    sample["target"] = torch.zeros(4, 2, dtype=torch.float64)
    return model, sample


@pytest.mark.parametrize(("epsilon", "moves"), [(0.0, "up"), (100.0, "down")])
def test_dual_ascent_follows_the_constraint(epsilon, moves):
    model, sample = _model(epsilon=epsilon, dual_lr=0.1, dual_init=0.5)
    model.train()
    model(sample)
    m = model.metrics()
    augmented = m["augmented_loss"]
    extra = model.extra_losses()["augmentation_constraint"]
    # the Lagrangian uses gamma before the step; the step is projected onto gamma >= 0
    assert torch.isclose(extra, torch.tensor(0.5 * (augmented - epsilon), dtype=extra.dtype))
    expected = max(0.0, 0.5 + 0.1 * (augmented - epsilon))
    assert abs(float(model.dual) - expected) < 1e-9 and m["dual_variable"] == float(model.dual)
    assert (float(model.dual) > 0.5) == (moves == "up")
    extra.backward()  # the constraint's gradient reaches the backbone
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())


def test_without_targets_nothing_is_constrained():
    model, sample = _model()
    del sample["target"]
    model.train()(sample)
    assert model.extra_losses() == {} and float(model.dual) == 0.0


def test_evaluation_is_a_haar_average_or_the_bare_backbone():
    model, sample = _model(eval_samples=0)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(sample)["e"], model.backbone(sample)["e"])
        model.eval_samples = 5
        assert model.num_elements() == 5 and not torch.equal(model(sample)["e"],
                                                             model.backbone(sample)["e"])
    assert model.is_exact is False and model.extra_losses() == {}


def test_refusals():
    with pytest.raises(ConfigError, match="compact"):
        _model("se2")
    with pytest.raises(ConfigError, match="temperature"):
        _model(temperature=0.0)
    model, sample = _model(loss=None)
    with pytest.raises(ConfigError, match="loss"):
        model.train()(sample)


def test_the_sampler_prefers_hard_augmentations():
    """At a low temperature the sampled elements have a higher loss than Haar draws."""
    model, sample = _model(temperature=0.05, mcmc_steps=8)
    model.train()
    torch.manual_seed(1)
    model(sample)
    tilted = model.metrics()["augmented_loss"]
    loss = mse("e")
    haar = []
    with torch.no_grad():
        for _ in range(20):
            g = model.group.sample(4, dtype=torch.float64)
            haar.append(float(loss(model._through(g, sample), sample)))
    assert tilted > sum(haar) / len(haar), (tilted, haar)


def test_the_trainer_logs_the_dual_variable(tmp_path):
    from pathlib import Path

    from symkit.runner import checkpoint as ckpt
    from symkit.runner.trainer import train

    config = Path(__file__).resolve().parents[3] / "configs" / "digits" / "constrained_aug_cnn.yaml"
    result = train(config, ["train.epochs=2", "train.max_samples=8", "train.batch_size=4",
                            "train.eval_batch_size=8", "train.progress=false",
                            "train.equivariance.n_elements=1", "train.equivariance.max_samples=2",
                            "tracking.enabled=false", f"train.checkpoint_dir={tmp_path}",
                            "model.symmetrizer.dual_lr=0.1"])
    state = torch.load(result.run_dir / ckpt.LAST, map_location="cpu", weights_only=False)
    rows = [row for _, row in state["history"]]
    assert all("model.dual_variable" in r and "model.constraint_slack" in r for r in rows)
    assert rows[-1]["model.dual_variable"] > 0  # the constraint was violated and gamma rose
    assert float(result.model.dual) > 0
