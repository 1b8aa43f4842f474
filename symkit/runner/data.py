"""Data for a run: the ``data:`` node built once per split, and seeded loaders.

The dataset factory is called with ``split`` in ``train``/``valid``/``test``; items are dicts of
tensors collated by :func:`torch.utils.data.default_collate`. The training order is a pure
function of ``(seed, epoch)`` (and the rank under DDP), so a resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from symkit.errors import DataError
from symkit.runner.distributed import DistInfo
from symkit.runner.schema import TrainConfig

__all__ = ["SPLITS", "build_split", "train_loader", "eval_loader", "to_device", "first_batch"]

SPLITS = ("train", "valid", "test")


def build_split(node: Any, split: str, max_samples: int | None = None) -> Dataset:
    """The ``data`` node built for one split, capped at ``max_samples`` items."""
    from symkit.config import build

    dataset = build(node, "datasets", key="data", context={"split": split})
    n = len(dataset)
    if n == 0:
        raise DataError(f"data: the {split} split is empty")
    if max_samples is not None and n > max_samples:
        dataset = Subset(dataset, range(max_samples))
    return dataset


def _seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63)


def train_loader(dataset: Dataset, cfg: TrainConfig, dist: DistInfo, epoch: int) -> DataLoader:
    """Shuffled batches for one epoch; each rank gets its own shard under DDP."""
    generator = torch.Generator().manual_seed(_seed(cfg.seed, epoch))
    sampler = None
    if dist.enabled:
        sampler = DistributedSampler(
            dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=cfg.seed
        )
        sampler.set_epoch(epoch)
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=generator,
        num_workers=cfg.num_workers,
        drop_last=False,
    )


def eval_loader(dataset: Dataset, cfg: TrainConfig, dist: DistInfo) -> DataLoader:
    """In-order batches; under DDP rank ``r`` takes items ``r, r + W, ...`` (no padding)."""
    if dist.enabled:
        dataset = Subset(dataset, range(dist.rank, len(dataset), dist.world_size))
    return DataLoader(
        dataset, batch_size=cfg.eval_batch_size or cfg.batch_size, shuffle=False,
        num_workers=cfg.num_workers,
    )


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def first_batch(dataset: Dataset, n: int) -> dict[str, torch.Tensor]:
    """The first ``n`` items of ``dataset`` collated into one batch."""
    loader = DataLoader(Subset(dataset, range(min(n, len(dataset)))), batch_size=n)
    batches: Iterator = iter(loader)
    return next(batches)
