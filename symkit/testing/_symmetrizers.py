"""Conformance checks for symmetrizers: wrap a deliberately non-equivariant backbone, measure.

A symmetrizer must make *any* backbone equivariant, so the check uses :class:`FlatMLP`, an MLP
over all input fields flattened together (it mixes coordinates, nodes and channels, so it has no
symmetry of its own), and asserts ``f(g x) = g f(x)`` with :func:`assert_equivariant`: exact
kinds to ``rtol`` 1e-9 (float64) / 1e-5 (float32), for random elements of the whole group and of
each of its kinds (reflections, translations, ...); Monte-Carlo kinds in distribution: the error
of the mean of ``n`` forwards, relative to the spread of one forward's output (the mean of
randomly transformed outputs itself shrinks like the noise), falls like ``1 / sqrt(n)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from symkit.groups import Group
from symkit.reps import space_dim
from symkit.spec import Spec
from symkit.testing._equivariance import assert_equivariant, equivariance_error, num_nodes
from symkit.testing._outputs import output_problem

__all__ = ["FlatMLP", "QuarterTurns", "example_sample", "check_symmetrizer",
           "symmetrizer_is_exact"]


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


class QuarterTurns:
    """The elements of a plane group (SO(2), O(2)) that act on pixel grids exactly: rotations by
    multiples of 90 degrees and, with reflections, the axis reflections (the subgroup C4 / D4).

    Everything but sampling is the wrapped group's. Equivariance on images under SO(2) is only
    checkable exactly on this subgroup: any other angle resamples the image.
    """

    def __init__(self, group: Group):
        self._group = group

    def __getattr__(self, name: str):
        return getattr(self._group, name)

    def __repr__(self) -> str:
        return f"{self._group!r} (90-degree elements)"

    def sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        return self._signed(n, generator, None, dtype, device)

    def sample_kind(self, kind, n, *, generator=None, dtype=torch.float64, device=None):
        return self._signed(n, generator, 1 if kind == "rotation" else -1, dtype, device)

    def _signed(self, n, generator, det, dtype, device):
        k = torch.randint(4, (n,), generator=generator)
        c = torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=torch.float64)[k]
        s = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=torch.float64)[k]
        m = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        flip = (torch.randint(2, (n,), generator=generator) == 1) if det is None else (
            torch.full((n,), det == -1))
        if "reflection" not in self._group.kinds:
            flip = torch.zeros(n, dtype=torch.bool)
        m[flip] = m[flip] @ torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64))
        return m.to(dtype=dtype, device=device)


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


def _exact_by_kind(model: nn.Module, group: Group, in_spec: Spec, out_spec: Spec,
                   sample: Mapping[str, Tensor], *, dtype: torch.dtype, n_elements: int,
                   gen: torch.Generator, label: str) -> dict[str, float]:
    """:func:`assert_equivariant` for random elements of the whole group and of each kind;
    every kind is measured before failing, so that the failure names each failing kind (and
    the kinds that pass: "only reflections" is the diagnosis) and the worst sample."""
    rtol = 1e-9 if dtype == torch.float64 else 1e-5
    atol = 1e-12 if dtype == torch.float64 else 1e-6
    errors, failed = {}, {}
    with torch.no_grad():
        for kind in (None, *group.kinds):
            key = kind or "all"
            state = gen.get_state()
            try:
                err = assert_equivariant(model, group, in_spec, out_spec, sample, rtol=rtol,
                                         atol=atol, n_elements=n_elements, kind=kind,
                                         generator=gen)
                errors[key] = err.relative
            except AssertionError as e:
                gen.set_state(state)  # the same elements again, per sample
                failed[key] = (str(e), _worst_sample(model, group, in_spec, out_spec, sample,
                                                     kind, n_elements, gen))
    if failed:
        lines = "\n".join(f"  {k}: {why} (worst: sample {b})" for k, (why, b) in failed.items())
        passed = ", ".join(f"{k} ({v:.3g})" for k, v in errors.items()) or "none"
        raise AssertionError(f"{label} on {group!r} ({dtype}) is not equivariant for "
                             f"{', '.join(failed)} elements; passed: {passed}\n{lines}")
    return errors


def _worst_sample(model, group, in_spec, out_spec, sample, kind, n_elements, gen) -> int:
    """The batch row with the largest equivariance error over ``n_elements`` random elements
    (of ``kind``), each row measured alone."""
    size = next(sample[n] for n in in_spec if n in sample).shape[0]
    worst = []
    for b in range(size):
        row = {k: v[b:b + 1] if isinstance(v, Tensor) and v.ndim else v
               for k, v in sample.items()}
        state = gen.get_state()
        err = equivariance_error(model, group, in_spec, out_spec, row, n_elements=n_elements,
                                 kind=kind, generator=gen)
        gen.set_state(state)
        worst.append(err.relative)
    return max(range(size), key=lambda b: worst[b]) if size else 0


def check_symmetrizer(
    name: str | Callable[..., nn.Module], group: Group, in_spec: Spec, out_spec: Spec,
    sample: Mapping[str, Tensor], *, dtype: torch.dtype = torch.float64,
    params: Mapping[str, Any] | None = None, n_elements: int = 2, seed: int = 0,
    elements: Group | None = None,
) -> dict[str, float]:
    """Build a symmetrizer around a :class:`FlatMLP` and check its equivariance.

    Args:
        name: a registered symmetrizer name, or a factory
            ``(backbone, group, in_spec, out_spec, **params) -> model``.
        group, in_spec, out_spec: the symmetry and the actions on inputs and outputs.
        sample: a batch (:func:`example_sample`).
        params: keyword arguments of the factory (``{"canonicalizer": "pca"}``).
        elements: sample the checked elements from this group instead (a subgroup on which the
            input representation is exact, e.g. :class:`QuarterTurns` for images on SO(2)).

    Exact symmetrizers: :func:`assert_equivariant` over the whole group and each of its kinds
    (``rtol`` 1e-9 in float64, 1e-5 in float32, relative to the output's own spread).
    Monte-Carlo ones (``is_exact`` false): equivariance in distribution, the statistical check
    of :func:`symkit.testing.check_outcomes` (the mean squared error of the mean of ``n``
    forwards falls like ``1 / n``; a biased symmetrizer fails). An exact symmetrizer that
    flags a sample of ``sample`` (``model.flagged``) is checked per sample like the corpus:
    unflagged samples exact, flagged ones in distribution. Returns the measured errors.

    Before any equivariance check, every element the model averages must be a valid element
    of ``group`` for every sample (:func:`symkit.testing.element_problem`: finite, orthogonal,
    a permutation...), and the outputs of ``sample`` must have the layout of
    ``out_spec`` for that input and the input's floating dtype
    (:func:`symkit.testing._outputs.output_problem`: a node field keeps its node axis, float32
    stays float32).

    Raises:
        AssertionError: an invalid element (naming the sample, the slot and why); a wrong output
            shape or dtype (naming the field, the expected shape or dtype and what came); or not
            equivariant: every failing kind (``all``, ``rotation``, ``reflection``, ...) with
            its field and error and the worst sample, and the kinds that passed.
    """
    from symkit.plugins import ensure_loaded
    from symkit.registry import registry
    from symkit.testing._corpus import HardInput
    from symkit.testing._outcomes import check_outcomes, element_problem

    torch.manual_seed(seed)
    sample = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sample.items()}
    backbone = FlatMLP.for_sample(group, in_spec, out_spec, sample).to(dtype)
    if isinstance(name, str):
        ensure_loaded()
    factory = registry("symmetrizers").get(name).load() if isinstance(name, str) else name
    model = factory(backbone, group, in_spec, out_spec, **dict(params or {})).to(dtype).eval()
    gen = torch.Generator().manual_seed(seed)
    label = name if isinstance(name, str) else getattr(name, "__name__", "symmetrizer")
    if isinstance((params or {}).get("canonicalizer"), str):
        label = f"{label}[{params['canonicalizer']}]"
    problem = element_problem(model, group, sample)
    if problem is not None:
        raise AssertionError(f"{label} on {group!r} ({dtype}): {problem}")
    group_checked = group if elements is None else elements
    if symmetrizer_is_exact(model):  # (Monte-Carlo ones: check_outcomes checks every output)
        with torch.no_grad():
            y = model(sample)
        problem = output_problem(y, group, in_spec, out_spec, sample)
        if problem is not None:
            raise AssertionError(f"{label} on {group!r} ({dtype}): {problem}")
        flagged = getattr(model, "flagged", None)
        if flagged is None or not bool(flagged.any()):
            return _exact_by_kind(model, group_checked, in_spec, out_spec, sample, dtype=dtype,
                                  n_elements=n_elements, gen=gen, label=label)
    group = group_checked
    case = HardInput("random", sample, [False] * next(iter(sample.values())).shape[0])
    report = check_outcomes(model, group, in_spec, out_spec, case, n_elements=n_elements,
                            seed=seed, context=f"{label} on {group!r}")
    return {f"S_{n}": v for n, v in report.stat.items()}
