"""In-process fake parts for runner tests: a toy data set. Also a command-line entry for
subprocess tests:

    python tests/runner/runner_fakes.py [--hash-dir DIR] symkit-args...
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

import torch
from torch import nn
from torch.utils.data import Dataset

from symkit.registry import registry

SCOPE = "runnertest"
TOY = f"{SCOPE}::toy"
TWO_HEADS = f"{SCOPE}::two_heads"


class ToyData(Dataset):
    """``x ~ N(0, I_dim)``, target ``|x|^2`` (rotation invariant); a different seed per split.
    ``overflow``: targets of 1e30, finite data whose float32 MSE overflows to inf."""

    def __init__(self, split: str, n: int = 64, dim: int = 3, slow: float = 0.0,
                 overflow: bool = False):
        seed = {"train": 0, "valid": 1, "test": 2}[split]
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, dim, generator=g)
        self.y = (self.x**2).sum(-1, keepdim=True)
        if overflow:
            self.y[:] = 1e30
        self.slow = slow

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self.slow:
            time.sleep(self.slow)
        return {"x": self.x[i], "target": self.y[i]}


def toy(split: str, n: int = 64, dim: int = 3, slow: float = 0.0, overflow: bool = False
        ) -> ToyData:
    """Toy regression: predict ``|x|^2`` from ``x``."""
    return ToyData(split, n, dim, slow, overflow)


class TwoHeads(nn.Module):
    """Writes ``target`` and an auxiliary ``aux`` from its own head: when the loss reads only
    ``target``, the ``aux`` head gets no gradient (DDP needs ``find_unused_parameters``)."""

    def __init__(self, dim: int = 3, hidden: int = 8):
        super().__init__()
        self.body = nn.Linear(dim, hidden)
        self.head = nn.Linear(hidden, 1)
        self.aux = nn.Linear(hidden, 1)

    def forward(self, sample: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = torch.tanh(self.body(sample["x"] ** 2))
        return {"target": self.head(h), "aux": self.aux(h)}


def two_heads(dim: int = 3, hidden: int = 8) -> TwoHeads:
    """A backbone with an output head the loss may not use."""
    return TwoHeads(dim, hidden)


def install() -> None:
    """Register the toy data set and the two-headed backbone (idempotent)."""
    if TOY not in registry("datasets"):
        registry("datasets").add("toy", toy, scope=SCOPE)
    if TWO_HEADS not in registry("backbones"):
        registry("backbones").add("two_heads", two_heads, scope=SCOPE)


def uninstall() -> None:
    if TOY in registry("datasets"):
        registry("datasets").remove(TOY)
    if TWO_HEADS in registry("backbones"):
        registry("backbones").remove(TWO_HEADS)


def toy_config(tmp_path, **train) -> dict:
    """A tiny run config on the toy data with an MLP (no symmetrizer)."""
    return {
        "experiment": "runner-tests",
        "data": {"type": TOY, "n": 48},
        "model": {
            "group": "so3",
            "in_spec": {"x": "vector"},
            "out_spec": {"target": "scalar"},
            "backbone": {"type": "mlp", "writes": {"target": [1]}, "hidden": [16]},
        },
        "loss": {"type": "mse", "output": "target"},
        "metric": {"type": "mae", "output": "target", "mode": "min"},
        "optimizer": {"type": "adam", "lr": 0.01},
        "scheduler": {"type": "cosine"},
        "train": {"epochs": 3, "batch_size": 16, "seed": 0, "progress": False,
                  "checkpoint_dir": str(tmp_path / "runs"),
                  "equivariance": {"n_elements": 2, "max_samples": 8}, **train},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    }


def param_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str]) -> int:
    install()
    if argv[:1] == ["--hash-dir"]:
        from symkit.runner.trainer import train

        out, config, *overrides = argv[1:]
        result = train(config, overrides)
        rank = os.environ.get("RANK", "0")
        with open(os.path.join(out, f"rank{rank}.txt"), "w") as f:
            f.write(param_hash(result.model))
        return 0
    from symkit.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
