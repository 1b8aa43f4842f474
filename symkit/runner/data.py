"""Data for a run: the ``data:`` node built once per split, and seeded loaders.

The dataset factory is called with ``split`` in ``train``/``valid``/``test``; items are dicts of
tensors collated by the data set's own ``collate(items)`` method when it has one
(variable-size samples, see :mod:`symkit.data`), else by
:func:`torch.utils.data.default_collate`. The training order is a pure
function of ``(seed, epoch)`` (and the rank under DDP), so a resumed run sees the same batches.

Data is checked at the boundary: the first batch of every split against the model's input spec
(:func:`check_inputs`), every split that can scan itself (``arrays``) for NaN/Inf in any field
when it is built (:func:`check_finite`), and every batch for NaN/Inf in its fields
(:func:`find_nonfinite`, which names the split, the sample index and the field).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from symkit.errors import DataError, SpecError
from symkit.runner.distributed import DistInfo
from symkit.runner.schema import SPLITS, TrainConfig

__all__ = ["SPLITS", "build_split", "train_loader", "eval_loader", "collate_of", "to_device",
           "first_batch", "check_inputs", "check_finite", "find_nonfinite"]


def build_split(node: Any, split: str, max_samples: int | None = None,
                dtype: str | None = None) -> Dataset:
    """The ``data`` node built for one split, capped at ``max_samples`` items.

    ``dtype``: the run's ``model.dtype`` when its config sets one; a data set whose factory
    takes a ``dtype`` option then reads its floating arrays at it, unless ``data.dtype`` is set.
    """
    from symkit.config import build

    node = _with_model_dtype(node, dtype)
    dataset = build(node, "datasets", key="data", context={"split": split})
    n = len(dataset)
    if n == 0:
        raise DataError(f"data: the {split} split is empty; a run needs samples in the train, "
                        "valid and test splits (arrays: data.splits: {valid: 0.1, test: 0.1} "
                        "cuts them out of one file)")
    if max_samples is not None and n > max_samples:
        dataset = Subset(dataset, range(max_samples))
    check_finite(dataset, split)
    return dataset


def _with_model_dtype(node: Any, dtype: str | None) -> Any:
    """``node`` with ``dtype`` added when it has none and its factory takes one."""
    import inspect

    from symkit.registry import registry

    if dtype is None or not isinstance(node, Mapping) or node.get("dtype") is not None:
        return node
    try:
        factory = registry("datasets").get(str(node.get("type"))).load()
        takes = "dtype" in inspect.signature(factory).parameters
    except Exception:  # noqa: BLE001 - an unknown type is reported by build() itself
        return node
    return {**node, "dtype": dtype} if takes else node


def check_finite(dataset: Dataset, split: str) -> None:
    """Refuse a split with NaN or Inf in any field, before anything is trained or evaluated,
    for data sets that can scan themselves (a ``find_nonfinite(positions, split=...)`` method
    returning a message or ``None``, like ``arrays``); the others are checked batch by batch
    (:func:`find_nonfinite`).

    Raises:
        DataError: naming the split, and the data set's own line (file, array, field, sample).
    """
    positions = None
    while isinstance(dataset, Subset):
        positions = (list(dataset.indices) if positions is None
                     else [dataset.indices[i] for i in positions])
        dataset = dataset.dataset
    scan = getattr(dataset, "find_nonfinite", None)
    problem = scan(positions, split=split) if callable(scan) else None
    if problem:
        raise DataError(problem)


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
        collate_fn=collate_of(dataset),
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
        num_workers=cfg.num_workers, collate_fn=collate_of(dataset),
    )


def collate_of(dataset: Dataset) -> Any:
    """The ``collate`` method of the data set under any :class:`Subset`, or ``None``."""
    return getattr(_innermost(dataset), "collate", None)


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def first_batch(dataset: Dataset, n: int) -> dict[str, torch.Tensor]:
    """The first ``n`` items of ``dataset`` collated into one batch."""
    loader = DataLoader(Subset(dataset, range(min(n, len(dataset)))), batch_size=n,
                        collate_fn=collate_of(dataset))
    batches: Iterator = iter(loader)
    return next(batches)


def check_inputs(model: Any, dataset: Dataset, split: str) -> None:
    """Check the first batch of ``split`` against ``model.in_spec`` (fields, shapes, dtypes),
    dense or ragged (:func:`symkit._sample_check.check_sample`).

    Raises:
        SpecError: naming the field, the split, the samples and (for data sets with a
            ``describe(field)`` method, like ``arrays``) the file and array it was read from.
        DataError: the first items cannot be collated into a batch.
    """
    spec, group = getattr(model, "in_spec", None), getattr(model, "group", None)
    if spec is None or group is None:
        return
    try:
        batch = first_batch(dataset, 2)
    except Exception as exc:  # noqa: BLE001 - e.g. items of different shapes or types
        raise DataError(
            f"data: cannot collate the first items of the {split} split into a batch: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    from symkit._sample_check import check_sample, model_dtype

    where = f"in the {split} split (samples 0-{_num_samples(batch) - 1})"
    try:
        check_sample(spec, group, batch, dtype=model_dtype(model))
    except SpecError as exc:
        _blame_group(group, spec, batch, exc.field, where)
        text = str(exc).removeprefix(f"{exc.field}: ")
        describe = getattr(_innermost(dataset), "describe", None)
        source = describe(exc.field) if callable(describe) and exc.field else None
        if source:
            where += f", read from {source}"
        raise SpecError(exc.field, f"{text} {where}; check the data against model.in_spec"
                        ) from None


def _blame_group(group: Any, spec: Any, batch: Mapping[str, Any], name: str | None,
                 where: str) -> None:
    """Raise a :class:`ConfigError` at ``model.group`` when field ``name`` fits the spec in
    another dimension than the group's and the same family of groups has that dimension
    (``o2`` on 3-D positions: ``o3`` exists), so the group is the likely typo."""
    import re

    from symkit.errors import ConfigError
    from symkit.registry import registry

    dim, x = getattr(group, "dim", None), batch.get(name) if name else None
    family = re.fullmatch(r"([A-Za-z]+)\((\d+)\)", repr(group))
    if (not isinstance(dim, int) or not isinstance(x, torch.Tensor) or name not in spec
            or family is None):
        return
    try:
        want = tuple(spec[name].rep.feature_shape(group))
    except Exception:  # noqa: BLE001 - a rep that cannot say: no blame
        return
    if not want or x.ndim < len(want) or dim not in want:
        return
    tail = tuple(x.shape[x.ndim - len(want):])
    have = {t for w, t in zip(want, tail) if w == dim and t != dim}
    if len(have) != 1 or any(w not in (None, dim) and w != t for w, t in zip(want, tail)):
        return
    (data_dim,) = have
    names = {e.name for e in registry("groups").entries()}
    same = f"{family.group(1).lower()}{data_dim}"
    if same not in names:
        return  # no group of that family fits: the data (or the spec) is the likely mistake
    others = sorted(n for n in names if re.fullmatch(rf"(s?[oe]|se){data_dim}", n))
    hint = ", ".join([same] + [n for n in others if n != same])
    raise ConfigError("model.group", f"{group!r} acts on {dim}-D vectors, but field '{name}' "
                      f"has {data_dim} components {where} (shape {tuple(x.shape)}); use a group "
                      f"of {data_dim}-D space (e.g. {hint}), or fix model.in_spec")


def find_nonfinite(batch: Mapping[str, Any], spec: Any, dataset: Dataset, split: str
                   ) -> str | None:
    """Why ``batch`` is unusable (a NaN/Inf in an input field of ``spec``, or in any other
    floating field, such as a target), or ``None``.

    Scans ``dataset`` only when the batch is bad, to name the sample index.
    """
    names = [*(spec or ()), *(k for k in batch if k not in (spec or ()))]
    for name in names:
        x = batch.get(name)
        if isinstance(x, torch.Tensor) and x.is_floating_point() and not x.isfinite().all():
            index = next((i for i in range(len(dataset)) if not _finite(dataset[i], name)), None)
            where = "a sample" if index is None else f"sample {_source_index(dataset, index)}"
            kind = "input field" if name in (spec or ()) else "field"
            return (f"data: {where} of the {split} split has NaN or Inf in {kind} '{name}'; "
                    "inputs and targets must be finite (clean or drop that sample)")
    return None


def _innermost(dataset: Dataset) -> Dataset:
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset


def _num_samples(batch: Mapping[str, Any]) -> int:
    """Samples in a batch: ``num_graphs`` of a ragged batch, else the leading size."""
    num = batch.get("num_graphs")
    if num is not None:
        return int(num.reshape(-1)[0]) if isinstance(num, torch.Tensor) else int(num)
    return batch_size(batch)


def batch_size(batch: Mapping[str, Any]) -> int:
    return next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))


def _finite(item: Any, name: str) -> bool:
    x = item.get(name) if isinstance(item, Mapping) else None
    return not isinstance(x, torch.Tensor) or not x.is_floating_point() or bool(x.isfinite().all())


def _source_index(dataset: Dataset, index: int) -> int:
    """The index in the data set that ``dataset`` (possibly nested subsets) was cut from."""
    while isinstance(dataset, Subset):
        index, dataset = dataset.indices[index], dataset.dataset
    return int(index)
