"""Shared setup of the vision plugin's tests of learned image canonicalizers (the spatial
transformer, the equivariant transformer): digit batches, a CNN classifier behind a
canonicalizer, a few training steps, and ``symkit check`` on a shipped digits config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from symkit.registry import registry
from symkit.reps import image, scalar
from symkit.spec import Spec

#: one image in, class logits out
IMAGE_IN = Spec({"image": image()})
LOGITS_OUT = Spec({"logits": scalar()})
CONFIGS = Path(__file__).resolve().parents[3] / "configs"


@pytest.fixture
def digits() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``digits(n, rotation="none")``: the first ``n`` MNIST training digits (images
    ``(n, 1, H, W)``, labels ``(n,)``), rotated as the data set's ``rotation`` option says."""

    def load(n: int, rotation: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
        data = registry("datasets").build("vision::mnist", split="train",
                                          train_size=max(n, 16), rotation=rotation)
        return data.images[:n], data.labels[:n]

    return load


@pytest.fixture
def canonicalized_cnn() -> Callable[..., torch.nn.Module]:
    """``canonicalized_cnn(group, canonicalizer)``: ``canonicalization`` of a small
    ``vision::cnn_classifier`` (channels 8, 16) with the ``canonicalizer`` config node, seeded."""

    def build(group, canonicalizer: dict[str, Any]) -> torch.nn.Module:
        torch.manual_seed(0)
        backbone = registry("backbones").build("vision::cnn_classifier", channels=[8, 16])
        return registry("symmetrizers").build("canonicalization", backbone, group, IMAGE_IN,
                                              LOGITS_OUT, canonicalizer=canonicalizer)

    return build


@pytest.fixture
def train_briefly() -> Callable[..., tuple[list[float], float]]:
    """``train_briefly(model, images, labels, steps)``: Adam (lr 3e-3) on batches of 16 cycling
    over the first 64 digits; returns the losses and the largest change of a canonicalizer
    parameter (how far its network moved: gradients reach it through the resampling)."""

    def train(model, images, labels, steps: int) -> tuple[list[float], float]:
        before = [p.detach().clone() for p in model.canonicalizer.parameters()]
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        losses = []
        for step in range(steps):
            idx = torch.arange(16) + 16 * (step % 4)
            loss = torch.nn.functional.cross_entropy(model({"image": images[idx]})["logits"],
                                                     labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        moved = max((p - q).abs().max().item()
                    for p, q in zip(model.canonicalizer.parameters(), before))
        return losses, moved

    return train


@pytest.fixture
def check_digits_config(tmp_path, capsys) -> Callable[[str], tuple[dict, list[str]]]:
    """``check_digits_config(name)``: ``symkit check --json`` on ``configs/digits/<name>``
    shrunk to 16/8/8 samples and 2 elements, without tracking; returns the JSON result and the
    printed lines."""

    def check(name: str) -> tuple[dict, list[str]]:
        from symkit.cli import main

        cfg = yaml.safe_load((CONFIGS / "digits" / name).read_text())
        cfg["tracking"] = {"enabled": False}
        cfg["data"].update(train_size=16, valid_size=8, test_size=8)
        cfg["train"]["equivariance"] = {"n_elements": 2, "max_samples": 8}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(cfg))
        assert main(["check", str(path), "--json"]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        return json.loads(out[-1]), out

    return check
