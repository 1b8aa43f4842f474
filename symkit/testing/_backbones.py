"""``check_backbone``: the conformance check of a backbone (a registered one or any module).

A backbone knows nothing about symmetry, but a symmetrizer trusts its outputs to have the
layout of the model's output spec: it transforms ``g . y`` field by field and averages copies
row by row. A backbone that returns a node field without its node axis, one row too few, a
float64 output for float32 inputs, or reads the padding of a masked batch makes every model
built on it wrong (or crash deep inside the average). This check runs the backbone on one
input in several layouts and names the first field and layout at fault:

* the batch ``sample`` (default :func:`symkit.testing.example_sample`, ``B = 3``);
* each sample alone (a batch of one): its outputs must equal its row of the batch;
* the batch padded with two random node rows and a ``mask`` (when ``in_spec`` has node
  fields; ``masks=False`` for a backbone over a fixed node count): outputs of the valid rows
  must not change;
* an empty batch (``B = 0``).

On each, the outputs must have the layout and dtype of :func:`output_problem`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from symkit.groups import Group
from symkit.spec import Spec
from symkit.testing._outputs import output_problem

__all__ = ["check_backbone"]


def _build(backbone: str | nn.Module, params: Mapping[str, Any] | None, dtype) -> nn.Module:
    if isinstance(backbone, nn.Module):
        return backbone.to(dtype).eval()
    from symkit.plugins import ensure_loaded
    from symkit.registry import registry

    ensure_loaded()
    return registry("backbones").build(backbone, **dict(params or {})).to(dtype).eval()


def _padded(sample: Mapping[str, Tensor], in_spec: Spec, extra: int, gen) -> dict[str, Tensor]:
    out = dict(sample)
    n = None
    for name, field in in_spec.items():
        if field.nodes and name in sample:
            x = sample[name]
            n = x.shape[1]
            pad = torch.randn((x.shape[0], extra, *x.shape[2:]), generator=gen,
                              dtype=torch.float64).to(x.dtype) * 10
            out[name] = torch.cat([x, pad], dim=1)
    b = next(iter(sample.values())).shape[0]
    mask = torch.zeros(b, n + extra, dtype=torch.bool)
    mask[:, :n] = True
    return out | {"mask": mask}


def _differ(a: Tensor, b: Tensor, rtol: float) -> float:
    a, b = a.detach().to(torch.float64), b.detach().to(torch.float64)
    scale = max(a.norm().item(), b.norm().item())
    diff = (a - b).norm().item()
    return 0.0 if diff == 0 else (diff / scale if scale > 0 else float("inf"))


def _run(model: nn.Module, inp: Mapping[str, Tensor], where: str, group: Group,
         in_spec: Spec, out_spec: Spec) -> Mapping[str, Tensor]:
    """``model(inp)`` with its output layout and dtype checked; failures name ``where``."""
    try:
        with torch.no_grad():
            y = model(inp)
    except Exception as e:  # noqa: BLE001 - reported with the layout that crashed
        raise AssertionError(f"{where}: crashed with {type(e).__name__}: {e}") from e
    if not isinstance(y, Mapping):
        raise AssertionError(f"{where}: must return a dict of output fields, got "
                             f"{type(y).__name__}")
    problem = output_problem(y, group, in_spec, out_spec, inp)
    if problem is not None:
        raise AssertionError(f"{where}: {problem}")
    return y


def check_backbone(
    backbone: str | nn.Module, group: Group, in_spec: Spec, out_spec: Spec,
    sample: Mapping[str, Tensor] | None = None, *, params: Mapping[str, Any] | None = None,
    dtypes: tuple[torch.dtype, ...] = (torch.float64, torch.float32), masks: bool = True,
    seed: int = 0,
) -> None:
    """Check a backbone's outputs: layout, dtype, batch independence and masks.

    Args:
        backbone: a registered backbone name (built with ``params``) or a module.
        group: the group of the models it will serve (sets feature sizes, e.g. ``d = 3``).
        in_spec, out_spec: the fields it reads and the fields it must write.
        sample: an input batch (default: :func:`symkit.testing.example_sample`, ``B = 3``).
        params: the factory's options (``{"reads": [...], "writes": {...}}``).
        dtypes: each is checked with its own copy of the backbone.
        masks: check the padded batch (when ``in_spec`` has node fields). ``False`` only for a
            backbone over a fixed number of nodes (the flat ``mlp``), which no padded batch can
            feed; a symmetrizer then never gives it one either.

    Raises:
        AssertionError: one line naming the backbone, the dtype, the input layout (``batch``,
            ``sample b alone``, ``padded``, ``empty batch``), the output field and the expected
            shape, dtype or the difference.
    """
    from symkit.testing._symmetrizers import example_sample

    label = backbone if isinstance(backbone, str) else type(backbone).__name__
    for dtype in dtypes:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = _build(backbone, params, dtype)
        x = example_sample(group, in_spec, batch=3, generator=gen) if sample is None else sample
        x = {k: v.to(dtype) if v.is_floating_point() else v for k, v in x.items()}
        rtol = 1e-9 if dtype == torch.float64 else 1e-4
        d = str(dtype).removeprefix("torch.")

        def run(inp, layout, model=model, where=f"backbone {label} [{d}]"):
            return _run(model, inp, f"{where} on the {layout}", group, in_spec, out_spec)

        y = run(x, "batch")
        size = next(x[n] for n in in_spec if n in x).shape[0]
        for b in range(size):
            alone = run({k: v[b:b + 1] for k, v in x.items()}, f"sample {b} alone")
            for name in out_spec:
                err = _differ(alone[name][0], y[name][b], rtol)
                if not err <= rtol:
                    raise AssertionError(
                        f"backbone {label} [{d}]: output field '{name}' of sample {b} depends on "
                        f"the rest of the batch: relative difference {err:.3g} from the sample "
                        f"alone (rtol {rtol:.3g})")
        if masks and any(f.nodes for f in in_spec.values()):
            padded = _padded(x, in_spec, 2, gen)
            n = padded["mask"].shape[1] - 2
            y_pad = run(padded, "padded batch (2 random rows per sample, mask)")
            for name, field in out_spec.items():
                got = y_pad[name][:, :n] if field.nodes else y_pad[name]
                err = _differ(got, y[name], rtol)
                if not err <= rtol:
                    raise AssertionError(
                        f"backbone {label} [{d}]: output field '{name}' changes with the padding "
                        f"of a masked batch (relative difference {err:.3g}, rtol {rtol:.3g}): "
                        f"the 'mask' (B, N) bool must hide padding rows")
        run({k: v[:0] for k, v in x.items()}, "empty batch (B = 0)")
