"""Every learned part builds from YAML-shaped config through the registry."""

from __future__ import annotations

import pytest
import torch

from symkit.config import build
from symkit.errors import ConfigError
from symkit.registry import registry
from symkit.testing._symmetrizers import FlatMLP

from ..._cases import OUT_SPECS, group, point_sample, point_spec

NODES = {
    "learned_canonicalization": {"canonicalizer": {"type": "learned_point_frame", "hidden": 16,
                                                   "prior_weight": 0.1}},
    "probabilistic": {"canonicalizer": {"type": "learned_point_frame", "noise_dim": 2},
                      "train_samples": 2, "eval_samples": 4, "seed": 0},
    "learned_augmentation": {"mode": "global", "init_width": 1.0, "width_weight": 0.01},
    "mds_invariant": {"field": "pos"},
    "soft_equivariance": {"weights": {"rotation": 1.0, "translation": 0.1}},
    "orbit_distance": {"orbit_weight": 0.5, "hidden": 16},
}


@pytest.mark.parametrize("name", sorted(NODES))
def test_builds_from_config(name):
    g = group("e3")
    sample = point_sample(batch=2)
    backbone = FlatMLP.for_sample(g, point_spec(), OUT_SPECS["equivariant"], sample).double()
    context = {"group": g, "in_spec": point_spec(), "out_spec": OUT_SPECS["equivariant"],
               "backbone": backbone}
    model = build({"type": name, **NODES[name]}, "symmetrizers", key="model.symmetrizer",
                  context=context).double()
    y = model.train()(sample)
    assert y["v"].shape == (2, 6, 2, 3)
    assert isinstance(model.extra_losses(), dict) and isinstance(model.metrics(), dict)


def test_every_learned_canonicalizer_is_registered():
    names = registry("canonicalizers").names("learned_*")
    assert {n.split("::")[-1] for n in names} == {
        "learned_group_cnn", "learned_image_frame", "learned_point_frame", "learned_sort",
        "learned_orbit_scores"}


def test_unknown_option_names_the_key():
    with pytest.raises(ConfigError, match="model.symmetrizer"):
        build({"type": "orbit_distance", "orbit_wieght": 1.0}, "symmetrizers",
              key="model.symmetrizer",
              context={"group": group("o3"), "in_spec": point_spec(),
                       "out_spec": OUT_SPECS["invariant"], "backbone": torch.nn.Identity()})
