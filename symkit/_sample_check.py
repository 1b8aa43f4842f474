"""Checking a batch against a model's input spec, in either batch layout, before the math runs.

Dense batches go through :meth:`symkit.spec.Spec.check`. Ragged batches (a 1-D integer
``batch`` field naming each node's sample) are checked here: node fields ``(total_nodes, ...,
*feature_shape)`` with one row per entry of ``batch``, other fields ``(B, ...)``. Both layouts
also need one floating dtype for all floating input fields, matching the model's parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from symkit.errors import SpecError

__all__ = ["check_sample", "check_model_input", "install_input_check",
           "register_sample_adapter", "as_sample"]

#: Functions turning a foreign batch object into a sample dict (``None``: not theirs).
_ADAPTERS: list[Any] = []


def register_sample_adapter(adapter: Any) -> None:
    """Let symmetrized models accept another batch type: ``adapter(obj)`` returns the sample
    dict of ``obj``, or ``None`` when ``obj`` is not its type. The ``pyg`` plugin registers one
    for PyG ``Data``/``Batch``. Registering the same function twice is a no-op."""
    if adapter not in _ADAPTERS:
        _ADAPTERS.append(adapter)


def as_sample(obj: Any) -> Any:
    """``obj`` itself when it is a mapping, else the first registered adapter's dict."""
    if isinstance(obj, Mapping):
        return obj
    for adapter in _ADAPTERS:
        sample = adapter(obj)
        if sample is not None:
            return sample
    return obj


def _ragged_batch(sample: Mapping[str, Any]) -> Tensor | None:
    batch = sample.get("batch")
    if isinstance(batch, Tensor) and batch.ndim == 1 and not batch.is_floating_point():
        return batch
    return None


def check_sample(spec: Any, group: Any, sample: Any, *, dtype: torch.dtype | None = None
                 ) -> None:
    """Raise :class:`SpecError` naming the field when ``sample`` does not fit ``spec``.

    Args:
        spec: the input :class:`~symkit.spec.Spec`.
        group: the group the spec's representations act on.
        sample: a batch dict, dense or ragged.
        dtype: the floating dtype the model computes in (``None``: not checked).

    Raises:
        SpecError: a missing field, a non-tensor, a wrong shape, or a wrong dtype; the message
            names the field and the expected shape.
    """
    if not isinstance(sample, Mapping):
        raise SpecError(None, f"expected a sample dict of tensors with fields {sorted(spec)}, "
                        f"got {type(sample).__name__}")
    batch = _ragged_batch(sample)
    if batch is None:
        spec.check(group, sample)
    else:
        _check_ragged(spec, group, sample, batch)
    _check_dtypes(spec, group, sample, dtype)


def _check_ragged(spec: Any, group: Any, sample: Mapping[str, Any], batch: Tensor) -> None:
    total = batch.shape[0]
    for name, field in spec.items():
        want = field.rep.feature_shape(group)
        expected = ("(total_nodes, ..." if field.nodes else "(B, ...") + "".join(
            f", {'*' if w is None else w}" for w in want) + ")"
        if name not in sample:
            raise SpecError(name, f"missing field (expected shape {expected}); the spec "
                            f"expects {sorted(spec)}")
        x = sample[name]
        if not isinstance(x, Tensor):
            raise SpecError(name, f"expected a tensor of shape {expected}, got "
                            f"{type(x).__name__}")
        if not (x.is_floating_point() or field.rep.is_invariant(group)):
            raise SpecError(name, f"expected a floating-point tensor of shape {expected} for "
                            f"{field.rep!r}, got dtype {x.dtype}")
        tail = tuple(x.shape[x.ndim - len(want):]) if want else ()
        if x.ndim < 1 + len(want) or any(w is not None and w != t for w, t in zip(want, tail)):
            raise SpecError(name, f"expected shape {expected}, got {tuple(x.shape)}")
        if field.nodes and x.shape[0] != total:
            raise SpecError(name, f"expected shape {expected} with one row per entry of "
                            f"'batch' ({total} nodes), got {tuple(x.shape)}")


def _check_dtypes(spec: Any, group: Any, sample: Mapping[str, Any],
                  dtype: torch.dtype | None) -> None:
    first: tuple[str, torch.dtype] | None = None
    for name in spec:
        x = sample[name]
        if not x.is_floating_point():
            continue
        if first is None:
            first = (name, x.dtype)
            if dtype is not None and x.dtype != dtype:
                want = str(x.dtype).replace("torch.", "")
                yaml = (f"; in a run config: model.dtype: {want}"
                        if want in ("float32", "float64") else "")
                raise SpecError(name, f"has dtype {x.dtype} but the model computes in {dtype}; "
                                f"cast the input, or the model (model.to({x.dtype}){yaml})")
        elif x.dtype != first[1]:
            raise SpecError(name, f"has dtype {x.dtype} but field '{first[0]}' has "
                            f"{first[1]}; all floating input fields need one dtype")


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The floating dtype of the model's first initialized parameter (``None``: none)."""
    from torch.nn.parameter import is_lazy

    for p in model.parameters():
        if p.is_floating_point() and not is_lazy(p):
            return p.dtype
    return None


def check_model_input(model: nn.Module, sample: Any) -> None:
    """:func:`check_sample` against ``model.in_spec``, ``model.group`` and its dtype."""
    check_sample(model.in_spec, model.group, sample, dtype=model_dtype(model))


def _pre_hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
    if not args:
        return None
    sample = as_sample(args[0])
    if module.__dict__.get("check_inputs", True):
        check_model_input(module, sample)
    return None if sample is args[0] else ((sample, *args[1:]), kwargs)


def install_input_check(model: nn.Module) -> nn.Module:
    """Check every input of ``model`` against its spec before ``forward`` runs, after turning
    foreign batch objects into sample dicts (:func:`register_sample_adapter`).

    A forward pre-hook, so it works for every symmetrizer unchanged; set
    ``model.check_inputs = False`` to skip it (e.g. in a tight inner loop).
    """
    if not getattr(model, "_symkit_input_check", False):
        model.register_forward_pre_hook(_pre_hook, with_kwargs=True)
        model._symkit_input_check = True
    return model
