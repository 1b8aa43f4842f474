"""Conformance checks for symmetrizers: wrap a deliberately non-equivariant backbone, measure.

A symmetrizer must make *any* backbone equivariant, so the check uses :class:`FlatMLP`, an MLP
over all input fields flattened together (it mixes coordinates, nodes and channels, so it has no
symmetry of its own), and asserts ``f(g x) = g f(x)`` with :func:`assert_equivariant`: exact
kinds to ``rtol`` 1e-9 (float64) / 1e-5 (float32), for random elements of the whole group and of
each of its kinds (reflections, translations, ...); Monte-Carlo kinds by checking that the
absolute error falls as the number of samples ``K`` grows (the relative error need not: the
average of a non-equivariant vector output over random rotations itself shrinks like the noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from symkit.groups import Group
from symkit.reps import space_dim
from symkit.spec import Spec
from symkit.testing._equivariance import assert_equivariant, equivariance_error, num_nodes

__all__ = ["FlatMLP", "example_sample", "check_symmetrizer", "symmetrizer_is_exact"]


def _out_shape(spec: Spec, name: str, group: Group, nodes: int, channels: int) -> tuple[int, ...]:
    field = spec[name]
    d = space_dim(group) or 3
    feat = tuple(d if w is None else w for w in field.rep.feature_shape(group))
    return ((nodes,) if field.nodes else ()) + (channels,) + feat


class FlatMLP(nn.Module):
    """A non-equivariant test backbone: ``y = MLP(concat of all input fields, flattened)``.

    Args:
        in_shapes: per-sample shape of each input field (without the batch dimension).
        out_shapes: per-sample shape of each output field.
        hidden: hidden width.

    Shapes:
        inputs ``{name: (B, *in_shapes[name])}`` -> outputs ``{name: (B, *out_shapes[name])}``.
    """

    def __init__(
        self, in_shapes: Mapping[str, tuple[int, ...]], out_shapes: Mapping[str, tuple[int, ...]],
        hidden: int = 32,
    ):
        super().__init__()
        self.in_shapes, self.out_shapes = dict(in_shapes), dict(out_shapes)
        n_in = sum(math.prod(s) for s in self.in_shapes.values())
        n_out = sum(math.prod(s) for s in self.out_shapes.values())
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, n_out),
        )

    @classmethod
    def for_sample(
        cls, group: Group, in_spec: Spec, out_spec: Spec, sample: Mapping[str, Tensor], *,
        channels: int = 2, hidden: int = 32,
    ) -> FlatMLP:
        """Sized from a sample: node outputs get the sample's node count, ``channels`` each."""
        nodes = next((sample[n].shape[1] for n, f in in_spec.items() if f.nodes), 1)
        return cls(
            {n: tuple(sample[n].shape[1:]) for n in in_spec},
            {n: _out_shape(out_spec, n, group, nodes, channels) for n in out_spec},
            hidden,
        )

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x = torch.cat([sample[n].flatten(1).to(self.net[0].weight.dtype)
                       for n in self.in_shapes], dim=1)
        y = self.net(x)
        out, start = {}, 0
        for name, shape in self.out_shapes.items():
            size = math.prod(shape)
            out[name] = y[:, start:start + size].reshape(-1, *shape)
            start += size
        return out


def example_sample(
    group: Group, in_spec: Spec, *, batch: int = 4, nodes: int = 5,
    dtype: torch.dtype = torch.float64, generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """Random inputs: node fields ``(B, N, *feature)`` (no channels), others ``(B, 2, *feature)``.

    Integer-valued reps are not handled; images get a 6 x 6 grid.
    """
    n = num_nodes(group) or nodes
    d = space_dim(group) or 3
    out = {}
    for name, field in in_spec.items():
        feat = tuple((6 if field.rep.feature_ndim > 1 else d) if w is None else w
                     for w in field.rep.feature_shape(group))
        lead = (batch, n) if field.nodes else (batch, 2)
        out[name] = torch.randn(*lead, *feat, dtype=dtype, generator=generator)
    return out


def symmetrizer_is_exact(model: nn.Module) -> bool:
    """Whether a symmetrizer in its current mode is exact (not Monte-Carlo)."""
    return bool(getattr(model, "is_exact", True))


def check_symmetrizer(
    name: str, group: Group, in_spec: Spec, out_spec: Spec, sample: Mapping[str, Tensor], *,
    dtype: torch.dtype = torch.float64, params: Mapping[str, Any] | None = None,
    n_elements: int = 2, seed: int = 0,
) -> dict[str, float]:
    """Build the registered symmetrizer ``name`` around a :class:`FlatMLP`, check equivariance.

    Exact symmetrizers: :func:`assert_equivariant` over the whole group and each of its kinds
    (``rtol`` 1e-9 in float64, 1e-5 in float32). Monte-Carlo ones: the error with
    ``eval_samples = 64`` must be below 0.6 x the error with ``eval_samples = 4`` (expected
    ratio ``1/4``, absolute errors). Returns the measured errors.
    """
    from symkit.registry import registry

    torch.manual_seed(seed)
    sample = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sample.items()}
    backbone = FlatMLP.for_sample(group, in_spec, out_spec, sample).to(dtype)
    factory = registry("symmetrizers").get(name).load()
    model = factory(backbone, group, in_spec, out_spec, **dict(params or {})).eval()
    gen = torch.Generator().manual_seed(seed)
    if symmetrizer_is_exact(model):
        rtol = 1e-9 if dtype == torch.float64 else 1e-5
        atol = 1e-12 if dtype == torch.float64 else 1e-6
        errors = {}
        with torch.no_grad():
            for kind in (None, *group.kinds):
                err = assert_equivariant(
                    model, group, in_spec, out_spec, sample, rtol=rtol, atol=atol,
                    n_elements=n_elements, kind=kind, generator=gen,
                )
                errors[kind or "all"] = err.relative
        return errors
    errors = {}
    with torch.no_grad():
        for k in (4, 64):
            model.eval_samples = k
            torch.manual_seed(seed)
            errors[f"K={k}"] = equivariance_error(
                model, group, in_spec, out_spec, sample, n_elements=n_elements, generator=gen,
            ).absolute
    assert errors["K=64"] < 0.6 * errors["K=4"], (
        f"{name} on {group!r}: the Monte-Carlo error does not fall with K: {errors}"
    )
    return errors
