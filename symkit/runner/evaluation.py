"""Evaluation: the data-set mean of the loss and the task metric, and the equivariance error.

Losses and metrics are batch means, so their batch-size-weighted average is the data-set mean;
under DDP the sums are added over ranks, which makes the result exact and rank-independent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from symkit.errors import DataError
from symkit.runner.data import check_inputs, find_nonfinite, first_batch, to_device
from symkit.runner.distributed import DistInfo, all_reduce_sum
from symkit.runner.schema import EquivarianceConfig

__all__ = ["evaluate", "measure_equivariance", "ragged_equivariance", "flagged_samples",
           "batch_size"]

LossFn = Callable[[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]], torch.Tensor]


def batch_size(batch: Mapping[str, torch.Tensor]) -> int:
    return next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, loss_fn: LossFn, metric_fn: LossFn, dist: DistInfo,
    *, split: str = "evaluation",
) -> dict[str, float]:
    """``{"loss": mean loss, "metric": mean task metric}`` over the loader (all ranks).

    Raises:
        DataError: a batch has NaN or Inf in an input field (naming ``split`` and the sample).
        TrainingError: the model's forward pass raised anything but a symkit error (one line
            naming ``split``).
    """
    from symkit.runner.preflight import call

    was_training = model.training
    model.eval()
    loss_sum = metric_sum = count = 0.0
    for batch in loader:
        batch = to_device(batch, dist.device)
        problem = find_nonfinite(batch, getattr(model, "in_spec", None), loader.dataset, split)
        if all_reduce_sum(dist, [float(problem is not None)])[0] > 0:
            raise DataError(problem or "data: another process found NaN or Inf in its inputs")
        outputs = call("model", "the model's forward pass", model, batch,
                       where=f"a batch of the {split} split")
        n = batch_size(batch)
        loss_sum += float(loss_fn(outputs, batch)) * n
        metric_sum += float(metric_fn(outputs, batch)) * n
        count += n
    model.train(was_training)
    loss_sum, metric_sum, count = all_reduce_sum(dist, [loss_sum, metric_sum, count])
    return {"loss": loss_sum / max(count, 1), "metric": metric_sum / max(count, 1)}


@torch.no_grad()
def measure_equivariance(
    model: nn.Module, dataset: Dataset, cfg: EquivarianceConfig, *, seed: int = 0,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Relative equivariance error by element kind (and ``all``) on held-out samples.

    Uses :func:`symkit.testing.equivariance_report` with ``cfg.n_elements`` random elements of
    each kind the model's group has, on the first ``cfg.max_samples`` items of ``dataset``,
    leaving out the samples the model flags (:func:`flagged_samples`) in dense and ragged
    batches alike.
    """
    from symkit.runner.preflight import call, check_outputs
    from symkit.testing import equivariance_report

    was_training = model.training
    model.eval()
    check_inputs(model, dataset, cfg.split)
    device = device or torch.device("cpu")
    first = to_device(first_batch(dataset, min(2, cfg.max_samples)), device)
    check_outputs(model, call("model", "the model's forward pass", model, first,
                              where=f"the first {cfg.split} samples measured for equivariance"))
    sample = to_device(first_batch(dataset, cfg.max_samples), device)
    problem = find_nonfinite(sample, model.in_spec, dataset, cfg.split)
    if problem:
        raise DataError(problem)
    generator = torch.Generator(device=device or "cpu").manual_seed(seed)
    sample = _unflagged(model, sample)
    if isinstance(sample.get("batch"), torch.Tensor) and not sample["batch"].is_floating_point():
        errors = ragged_equivariance(model, sample, cfg.n_elements, generator)
        model.train(was_training)
        return errors
    report = equivariance_report(
        model, model.group, model.in_spec, model.out_spec, sample,
        n_elements=cfg.n_elements, generator=generator,
    )
    model.train(was_training)
    return {kind: float(err.relative) for kind, err in report.items()}


def flagged_samples(model: nn.Module, sample: Mapping[str, torch.Tensor]) -> int:
    """How many samples of the batch ``model`` flags (``model.flagged`` after a forward pass:
    degenerate inputs, equivariant in distribution only); 0 for a model without flags."""
    flagged = _flags(model, sample)
    return 0 if flagged is None else int(flagged.sum())


def _flags(model: nn.Module, sample: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
    with torch.no_grad():
        model(dict(sample))
    flagged = getattr(model, "flagged", None)
    return flagged.to(torch.bool) if isinstance(flagged, torch.Tensor) else None


def _unflagged(model: nn.Module, sample: Mapping[str, torch.Tensor]) -> dict:
    """The batch without the samples the model flags (:func:`flagged_samples`), so the measured
    error is that of the exact claim; the whole batch when every sample is flagged (the error
    then shows it). Dense or ragged (:func:`~symkit.symmetrizers._batching.select_samples`)."""
    from symkit.symmetrizers._batching import select_samples

    flagged = _flags(model, sample)
    if flagged is None or not bool(flagged.any()) or bool(flagged.all()):
        return dict(sample)
    return select_samples(sample, ~flagged)


def ragged_equivariance(model: nn.Module, sample: Mapping[str, torch.Tensor], n_elements: int,
                        generator: torch.Generator) -> dict[str, float]:
    """Relative error ``max ||f(g . x) - g . f(x)|| / ||g . f(x)||`` over ``n_elements``
    random elements per kind (and ``all``), for a ragged batch: one element per sample, acting
    on every node of that sample. Transforms run in float64 and are cast back.
    """
    group, batch = model.group, sample["batch"]
    size = int(sample.get("num_graphs", int(batch.max()) + 1 if batch.numel() else 0))
    y = {k: v.detach().double() for k, v in model(dict(sample)).items()}
    errors = {}
    for kind in [*group.kinds, "all"]:
        worst = 0.0
        for _ in range(n_elements):
            if kind == "all":
                g = group.sample(size, generator=generator, dtype=torch.float64,
                                 device=batch.device)
            else:
                g = group.sample_kind(kind, size, generator=generator, dtype=torch.float64,
                                      device=batch.device)
            g_node = group.index(g, batch)
            gx = _act_ragged(model.in_spec, group, g, g_node, sample, batch.shape[0])
            y_gx = model(gx)
            gy = _act_ragged(model.out_spec, group, g, g_node, y, batch.shape[0])
            for name in model.out_spec:
                ref = gy[name].double()
                diff = (y_gx[name].detach().double() - ref).norm().item()
                worst = max(worst, diff / max(ref.norm().item(), 1e-30))
        errors[kind] = worst
    return errors


def _act_ragged(spec, group, g, g_node, sample, num_nodes: int) -> dict[str, torch.Tensor]:
    out = dict(sample)
    for name, field in spec.items():
        x = sample.get(name)
        if not isinstance(x, torch.Tensor):
            continue
        node_level = field.nodes and x.shape[0] == num_nodes
        y = field.rep.act(group, g_node if node_level else g, x.double())
        out[name] = y.to(x.dtype)
    return out
