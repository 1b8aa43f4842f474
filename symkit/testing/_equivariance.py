"""Measuring equivariance: ``f(g . x)`` against ``g . f(x)``, and rep homomorphism checks.

All transforms run in ``transform_dtype`` (float64 by default), so the measured error is that
of ``fn`` alone, not of the group action.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from symkit.groups._base import Element, Group
from symkit.reps._base import Rep
from symkit.reps._point import Point
from symkit.spec import Field, Spec
from symkit.symmetrizers._frames import EXACT_RTOL

__all__ = [
    "EquivarianceError",
    "FieldError",
    "equivariance_error",
    "assert_equivariant",
    "equivariance_report",
    "check_rep_homomorphism",
    "default_rtol",
    "example_input",
    "check_rep_conformance",
    "num_nodes",
    "output_spread",
]

Sample = Mapping[str, Tensor]
_TINY = 1e-30
_ATOL = {torch.float64: 1e-12, torch.float32: 1e-6, torch.float16: 1e-3, torch.bfloat16: 1e-3}


class FieldError(NamedTuple):
    """One output field's error.

    ``relative = ||diff|| / spread(g . f(x))`` (see :func:`output_spread`) and
    ``absolute = max |diff|``.
    """

    relative: float
    absolute: float


@dataclass
class EquivarianceError:
    """Worst error of ``f(g . x)`` against ``g . f(x)`` over ``n_elements`` random elements.

    Attributes:
        relative: max over rounds and fields of ``||diff|| / max(spread(g . f(x)), tiny)``,
            relative to the spread of the output itself (:func:`output_spread`).
        absolute: max over rounds and fields of ``max |diff|``.
        per_field: the same two numbers for each output field.
        n_elements: number of rounds (one random element per batch row each).
        kind: element kind sampled (``None``: the whole group).
    """

    relative: float
    absolute: float
    per_field: dict[str, FieldError] = field(default_factory=dict)
    n_elements: int = 0
    kind: str | None = None

    @property
    def worst_field(self) -> str | None:
        """The output field with the largest relative error."""
        return max(self.per_field, key=lambda k: self.per_field[k].relative, default=None)

    def __str__(self) -> str:
        fields = ", ".join(f"{k}: rel {e.relative:.3g} abs {e.absolute:.3g}"
                           for k, e in self.per_field.items())
        return (f"equivariance error ({self.kind or 'all'}, {self.n_elements} elements): "
                f"relative {self.relative:.3g}, absolute {self.absolute:.3g} [{fields}]")


def _cast(sample: Sample, dtypes: Mapping[str, torch.dtype] | torch.dtype) -> dict[str, Tensor]:
    """Floating tensors cast to one dtype (or each to ``dtypes[name]``); others unchanged."""
    out = dict(sample)
    for name, x in sample.items():
        if isinstance(x, Tensor) and x.is_floating_point():
            out[name] = x.to(dtypes if isinstance(dtypes, torch.dtype) else dtypes[name])
    return out


def _dtypes(sample: Sample) -> dict[str, torch.dtype]:
    return {k: v.dtype for k, v in sample.items() if isinstance(v, Tensor)}


def _batch_size(spec: Spec, sample: Sample) -> int:
    for name in spec:
        if name in sample:
            return sample[name].shape[0]
    raise ValueError(f"the sample has none of the input spec's fields {list(spec)}")


def _sample_elements(group, n, kind, generator, dtype, device) -> Element:
    if kind is None or kind == "all":
        return group.sample(n, generator=generator, dtype=dtype, device=device)
    return group.sample_kind(kind, n, generator=generator, dtype=dtype, device=device)


def output_spread(ref: Tensor, rep: Rep) -> float:
    """The scale an output's error is relative to: ``||ref||``, except for points.

    A point field moves with the sampled translation, which is no part of the output's scale:
    measured against ``||R y + t||`` a wrong output reads small whenever ``|t|`` is large. For
    points the spread is the norm of ``ref`` centred, per sample, on its mean point (when a
    sample has more than one point; a single point keeps ``||ref||``).

    Shapes:
        ref: ``(B, ..., d)`` for points, ``(B, ...)`` otherwise.
    """
    if isinstance(rep, Point) and ref.ndim >= 3 and ref[0].numel() > ref.shape[-1]:
        pts = ref.reshape(ref.shape[0], -1, ref.shape[-1])
        return (pts - pts.mean(1, keepdim=True)).norm().item()
    return ref.norm().item()


def equivariance_error(
    fn: Callable[[dict[str, Tensor]], Mapping[str, Tensor]],
    group: Group,
    in_spec: Spec,
    out_spec: Spec,
    sample: Sample,
    *,
    n_elements: int = 4,
    kind: str | None = None,
    generator: torch.Generator | None = None,
    transform_dtype: torch.dtype = torch.float64,
) -> EquivarianceError:
    """Measure how far ``fn`` is from ``fn(g . x) = g . fn(x)``.

    Each round draws one element per batch row (of one ``kind`` if given, see
    :data:`symkit.groups.KINDS`), transforms the input in ``transform_dtype``, casts it back to the
    sample's dtypes, calls ``fn``, and compares with the transformed reference output over the
    fields of ``out_spec``.

    Args:
        fn: maps a sample dict to an output dict (a model's ``forward``).
        group, in_spec, out_spec: the symmetry and how it acts on inputs and outputs.
        sample: a batch, ``{name: (B, ...)}``.

    Returns:
        an :class:`EquivarianceError` with the worst relative and absolute errors.
    """
    dtypes = _dtypes(sample)
    n = _batch_size(in_spec, sample)
    device = sample[next(k for k in in_spec if k in sample)].device
    x_hi = _cast(sample, transform_dtype)
    y_hi = _cast({k: v.detach() for k, v in fn(dict(sample)).items()}, transform_dtype)
    per_field = {name: FieldError(0.0, 0.0) for name in out_spec}
    for _ in range(n_elements):
        g = _sample_elements(group, n, kind, generator, transform_dtype, device)
        gx = _cast(in_spec.act(group, g, x_hi), dtypes)
        y_of_gx = fn(gx)
        g_y = out_spec.act(group, g, y_hi)
        for name in out_spec:
            ref = g_y[name].to(transform_dtype)
            diff = y_of_gx[name].detach().to(transform_dtype) - ref
            rel = diff.norm().item() / max(output_spread(ref, out_spec[name].rep), _TINY)
            ab = diff.abs().max().item() if diff.numel() else 0.0
            old = per_field[name]
            per_field[name] = FieldError(_nanmax(old.relative, rel), _nanmax(old.absolute, ab))
    return EquivarianceError(
        relative=max((e.relative for e in per_field.values()), default=0.0),
        absolute=max((e.absolute for e in per_field.values()), default=0.0),
        per_field=per_field,
        n_elements=n_elements,
        kind=kind,
    )


def _nanmax(a: float, b: float) -> float:
    return math.inf if math.isnan(a) or math.isnan(b) else max(a, b)


def default_rtol(sample: Sample) -> tuple[float, float]:
    """Default ``(rtol, atol)`` from the sample's lowest floating precision."""
    floats = [x.dtype for x in sample.values() if isinstance(x, Tensor) and x.is_floating_point()]
    dtype = min(floats, key=lambda d: torch.finfo(d).bits, default=torch.float64)
    return EXACT_RTOL.get(dtype, 1e-5), _ATOL.get(dtype, 1e-6)


def assert_equivariant(
    fn: Callable[[dict[str, Tensor]], Mapping[str, Tensor]],
    group: Group,
    in_spec: Spec,
    out_spec: Spec,
    sample: Sample,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    **kwargs,
) -> EquivarianceError:
    """Raise ``AssertionError`` unless every output field has ``relative <= rtol`` or
    ``absolute <= atol``.

    Defaults by the sample's dtype: float64 ``rtol=1e-9, atol=1e-12``; float32 ``rtol=1e-5,
    atol=1e-6``. Other keyword arguments go to :func:`equivariance_error`.
    """
    d_rtol, d_atol = default_rtol(sample)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    err = equivariance_error(fn, group, in_spec, out_spec, sample, **kwargs)
    for name, e in err.per_field.items():
        if not (e.relative <= rtol or e.absolute <= atol):
            raise AssertionError(
                f"not equivariant under {group!r}: field '{name}' has relative error "
                f"{e.relative:.3g} (rtol {rtol:.3g}) and absolute error {e.absolute:.3g} "
                f"(atol {atol:.3g}); {err}"
            )
    return err


def equivariance_report(
    fn: Callable[[dict[str, Tensor]], Mapping[str, Tensor]],
    group: Group,
    in_spec: Spec,
    out_spec: Spec,
    sample: Sample,
    **kwargs,
) -> dict[str, EquivarianceError]:
    """:func:`equivariance_error` for each kind in ``group.kinds`` separately, plus ``"all"``."""
    report = {
        kind: equivariance_error(fn, group, in_spec, out_spec, sample, kind=kind, **kwargs)
        for kind in group.kinds
    }
    report["all"] = equivariance_error(fn, group, in_spec, out_spec, sample, **kwargs)
    return report


def check_rep_homomorphism(
    rep: Rep | Field,
    group: Group,
    x: Tensor,
    *,
    dtype: torch.dtype = torch.float64,
    atol: float = 1e-12,
    generator: torch.Generator | None = None,
) -> float:
    """Check ``rho(g h) x = rho(g) rho(h) x`` and ``rho(e) x = x`` for random ``g, h``.

    Errors are relative to ``max(1, max|result|)``. ``rep`` may be a :class:`Field` (then node
    permutations are included). Returns the worst error; raises ``AssertionError`` above ``atol``.

    Shapes:
        x: ``(n, ..., *rep.feature_shape(group))``.
    """
    act = rep.act
    x = x.to(dtype)
    n = x.shape[0]
    g = group.sample(n, generator=generator, dtype=dtype, device=x.device)
    h = group.sample(n, generator=generator, dtype=dtype, device=x.device)
    checks = {
        "rho(gh) x vs rho(g) rho(h) x": (act(group, group.compose(g, h), x),
                                         act(group, g, act(group, h, x))),
        "rho(e) x vs x": (act(group, group.identity(n, dtype=dtype, device=x.device), x), x),
        "rho(g^-1) rho(g) x vs x": (act(group, group.inverse(g), act(group, g, x)), x),
    }
    worst = 0.0
    for what, (a, b) in checks.items():
        if a.shape != b.shape:
            raise AssertionError(f"{rep!r} on {group!r}: {what}: shapes {a.shape} != {b.shape}")
        scale = max(1.0, a.abs().max().item(), b.abs().max().item()) if a.numel() else 1.0
        err = (a - b).abs().max().item() / scale if a.numel() else 0.0
        if not err <= atol:
            raise AssertionError(
                f"{rep!r} is not a homomorphism on {group!r} ({dtype}): {what} differ by "
                f"{err:.3g} (relative to max(1, max|result|)), atol {atol:.3g}"
            )
        worst = max(worst, err)
    return worst


def num_nodes(group: Group) -> int | None:
    """Number of nodes that the permutation factors of ``group`` act on, else ``None``."""
    for factor in group.factors():
        if "permutation" in factor.kinds:
            return factor.permutation(factor.identity(1)).shape[1]
    return None


def example_input(
    rep: Rep, group: Group, n: int = 3, *, channels: int = 2, size: int = 6,
    nodes: int | None = None, dtype: torch.dtype = torch.float64,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A random ``(n, [nodes,] channels, *feature_shape)`` tensor for ``rep`` on ``group``.

    Unknown feature sizes (``None``) become ``size`` (so images are square).
    """
    feat = tuple(size if w is None else w for w in rep.feature_shape(group))
    lead = (n,) if nodes is None else (n, nodes)
    return torch.randn(*lead, channels, *feat, dtype=dtype, generator=generator)


def check_rep_conformance(rep: Rep, group: Group, *, seed: int = 0) -> None:
    """Rep homomorphism (with node permutations) in float64 (atol 1e-12) and float32 (1e-5).

    Uses exact elements only where the rep is exact on ``group``
    (:meth:`symkit.reps.Rep.is_exact`); inexact actions are not checked here.
    """
    if not rep.supports(group) or not rep.is_exact(group):
        return
    nodes = num_nodes(group)
    target = Field(rep, nodes=nodes is not None)
    for dtype, atol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        gen = torch.Generator().manual_seed(seed)
        x = example_input(rep, group, nodes=nodes, dtype=dtype, generator=gen)
        check_rep_homomorphism(target, group, x, dtype=dtype, atol=atol, generator=gen)
