"""The three allowed outcomes of a symmetrizer on one input, checked per sample.

For a symmetrized model ``f`` over ``G`` and a batch, every sample must end in one of:

(a) **exact**: ``f(g x) = g f(x)`` for random ``g`` of the whole group and of each of its kinds
    (rotation, reflection, translation, ...), to ``rtol`` (1e-9 float64, 1e-5 float32, 1e-2
    half) *relative to the spread of the output itself* (point outputs are centred first), or
    to the size of what was averaged when that is larger (see *Scale* below);
(b) **flagged**: the model marks the sample in ``model.flagged`` (a degenerate input, a
    non-trivial stabilizer) and is equivariant *in distribution*: the error of the mean of ``n``
    forwards falls like ``1 / sqrt(n)`` (Monte-Carlo symmetrizers, ``is_exact`` false, are
    checked this way on every sample);
(c) **error**: the forward raises :class:`~symkit.errors.SampleError` naming the sample.

Anything else (a wrong output that nobody flagged, a crash with another exception, a NaN
output, an output that changes with the rest of the batch or with padding) fails. So does an
element that is no element of ``G`` (a NaN, a non-orthogonal matrix; :func:`element_problem`),
for every sample that is not rejected, empty ones included, even where no output depends on it.

Scale: an average ``f(x) = sum_k w_k y_k`` (``y_k = g_k . backbone(g_k^-1 . x)``) can cancel:
the per-molecule dipole of methane is forced to 0 by its point group, and its computed value is
rounding of the ``y_k``. Measured against its own size, that rounding reads as an error of order
1 (rounding over rounding). Each sample's error is therefore relative to
``max(spread(g f(x)), sum_k w_k spread(y_k))`` (``model.copy_outputs``, see
:meth:`symkit.symmetrizers.Symmetrizer.copy_outputs`; an invariant of the orbit, by the
triangle inequality never below the output's own spread): the size of the numbers whose
cancellation produced the result. A symmetrizer that forgets to rotate a copy is wrong by that
size and still fails. Models without ``copy_outputs`` keep the output's own spread.

Statistics: with ``S_n`` the mean squared relative error (summed over output fields) of the
mean of ``n`` forwards, an output equivariant in distribution has ``E S_n = V / n`` and a biased
one ``E S_n = B + V / n``; the check asks ``S_16 <= S_1 / 6`` (expected ``S_1 / 16``), which
fails a bias ``B`` above about ``V / 8`` (a fifth of the single-draw variance gives an expected
fall of 4.6). ``S_1`` and ``S_16`` are *paired*: for each of 24 random elements, 16 single
forwards on each side give 16 single errors (``S_1``) and the error of their means
(``S_16``), on at most one sample of the input. Unbiased, the squared error of the mean is
``|sum e_i|^2 / 16^2`` of the same draws, so a rare large draw (a frame of probability
``1 / 500``) moves both alike, and the fall is an F statistic:
``S_1 / S_16 - 1 = 15 F(15 k, k)`` for Gaussian errors with ``k = 24 d`` degrees of freedom
(``d`` the effective dimension of one element's error, at least 1). It fails when
``F < 1 / 3``: probability ``5e-6`` at ``d = 1``, ``3e-10`` at ``d = 2`` (unpaired means over
8 elements, as before: ``4e-3`` at ``d = 1``, and worse with rare draws). With a fixed seed the
check is reproducible.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from symkit.errors import SampleError
from symkit.groups import DirectProduct, Group
from symkit.reps import Point
from symkit.spec import Spec, act_on_mask, moves_mask
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._frames import EXACT_RTOL
from symkit.testing._corpus import HardInput, remove_sample
from symkit.testing._group_axioms import _leaves, invalid_elements
from symkit.testing._outputs import output_problem

__all__ = ["OutcomeReport", "check_outcomes", "element_problem", "exact_rtol",
           "per_sample_error"]

#: ``n`` of the two means compared by the statistical check, and the required fall of ``S_n``
STAT_N, STAT_FALL = (1, 16), 6.0
#: most samples, and the random elements, the statistical check uses per input (each element:
#: ``max(STAT_N)`` single forwards per side; see the module docs for the false-failure rate)
STAT_ROWS, STAT_ELEMENTS = 1, 24


def exact_rtol(dtype: torch.dtype) -> float:
    """Relative tolerance of the exact outcome for inputs of ``dtype``: symkit's one table
    (:data:`symkit.symmetrizers._frames.EXACT_RTOL`: 1e-9 float64, 1e-5 float32, 1e-2 half),
    but never under 4 units of the dtype's precision (bfloat16: 4 x 2^-7 = 3.1e-2): rounding
    ``g . x`` to the dtype and rounding the output already cost ``eps / 2`` each, so 1e-2
    (1.3 eps of bfloat16) would fail an exact symmetrizer on rounding alone."""
    eps = float(torch.finfo(dtype).eps) if dtype.is_floating_point else 0.0
    return max(EXACT_RTOL.get(dtype, 1e-5), 4 * eps)


@dataclass
class OutcomeReport:
    """What happened on one input.

    Attributes:
        name: the input's name.
        outcomes: per original sample, ``"exact"``, ``"flagged"`` or ``"error"``.
        errors: worst relative error of the unflagged samples per kind (``"all"``, ...).
        stat: for flagged samples, ``{n: S_n}`` (mean squared relative error of the mean of
            ``n`` forwards).
    """

    name: str
    outcomes: list[str] = field(default_factory=list)
    errors: dict[str, float] = field(default_factory=dict)
    stat: dict[int, float] = field(default_factory=dict)


def is_ragged(sample: Mapping[str, Tensor]) -> bool:
    """Whether ``sample`` is a ragged batch (a long ``batch`` vector over the nodes)."""
    b = sample.get("batch")
    return isinstance(b, Tensor) and b.ndim == 1 and not b.is_floating_point()


def _size(sample: Mapping[str, Tensor], in_spec: Spec) -> int:
    if is_ragged(sample):
        return int(sample["num_graphs"])
    return sample[next(n for n in in_spec if n in sample)].shape[0]


def _split(y: Tensor, nodes: bool, sample: Mapping[str, Tensor], size: int) -> list[Tensor]:
    """Per-sample pieces of an output field (valid nodes only), as float64."""
    y = y.detach().to(torch.float64)
    if nodes and is_ragged(sample):
        return [y[sample["batch"] == b] for b in range(size)]
    mask = sample.get("mask")
    if nodes and mask is not None:
        return [y[b][mask[b].bool()] for b in range(size)]
    return [y[b] for b in range(size)]


def _spread(t: Tensor, rep) -> float:
    """The norm of ``t``, or for points with more than one point the norm of the points
    centred on their mean (a translation is no part of the scale)."""
    if isinstance(rep, Point) and t.numel() > t.shape[-1]:
        pts = t.reshape(-1, t.shape[-1])
        t = pts - pts.mean(0)
    return t.norm().item()


def per_sample_error(ref: Tensor, y: Tensor, rep, scale_of: Tensor | None = None,
                     floor: float = 0.0) -> float:
    """``||y - ref|| / max(spread(scale_of), floor)`` (``scale_of`` defaults to ``ref``; see
    :func:`_spread`). ``floor``: the size of what was averaged into the output (module
    docstring, *Scale*), ``0`` for none.
    """
    diff = (y - ref).norm().item()
    scale = max(_spread(ref if scale_of is None else scale_of, rep), floor)
    if diff == 0.0:
        return 0.0
    return diff / scale if scale > 0 else float("inf")


def _act(spec: Spec, group: Group, g, sample: Mapping[str, Tensor], layout=None) -> dict:
    """``g . sample`` (one element per sample; per node in ragged node fields, ``layout`` being
    the input batch), computed in float64 and cast back. A node permutation (``S_N``) moves the
    padding ``mask`` with the nodes: it is part of the sample, not of the spec."""
    out = dict(sample)
    layout = sample if layout is None else layout
    ragged = is_ragged(layout)
    g_node = group.index(g, layout["batch"]) if ragged else None
    for name, f in spec.items():
        if name not in sample:
            continue
        x = sample[name].to(torch.float64)
        y = f.rep.act(group, g_node, x) if ragged and f.nodes else f.act(group, g, x)
        out[name] = y.to(sample[name].dtype)
    if moves_mask(sample, spec) and not ragged:
        out["mask"] = act_on_mask(group, g, sample["mask"])
    return out


def _fmt(values: Mapping) -> str:
    return "{" + ", ".join(f"{k}: {v:.3g}" for k, v in values.items()) + "}"


def _scaled(group: Group, scale: float) -> Group:
    """``group`` whose sampled translations are ``scale`` times larger (the same group): the
    standard deviation is ``translation_scale`` (E(d), SE(d)) or ``scale`` (T(d)); in a direct
    product, that of each factor (``S_N x E(3)``)."""
    if scale == 1.0:
        return group
    if isinstance(group, DirectProduct):
        factors = [_scaled(f, scale) for f in group.factors()]
        if all(a is b for a, b in zip(factors, group.factors())):
            return group
        return DirectProduct(factors)
    for attr in ("translation_scale", "scale"):
        if isinstance(getattr(group, attr, None), float):
            out = copy.copy(group)
            setattr(out, attr, getattr(group, attr) * scale)
            return out
    return group


def _flags(model, size: int) -> Tensor:
    flagged = getattr(model, "flagged", None)
    if flagged is None:
        return torch.zeros(size, dtype=torch.bool)
    return flagged.detach().reshape(-1).bool().cpu()


class _Run:
    """Forwards of ``model`` with the (a)/(b)/(c) bookkeeping of one input."""

    def __init__(self, model, group, in_spec, out_spec, case: HardInput, context: str):
        self.model, self.group, self.in_spec, self.out_spec = model, group, in_spec, out_spec
        self.case, self.context = case, context

    def fail(self, message: str) -> None:
        raise AssertionError(f"{self.context} on input '{self.case.name}': {message}")

    def forward(self, sample, *, what: str) -> dict[str, Tensor]:
        try:
            with torch.no_grad():
                y = dict(self.model(sample))
        except SampleError:
            raise
        except Exception as e:  # noqa: BLE001 - anything but a SampleError is a failure
            self.fail(f"{what} crashed with {type(e).__name__}: {e} (allowed: an output, or a "
                      f"SampleError naming the sample)")
        problem = output_problem(y, self.group, self.in_spec, self.out_spec, sample)
        if problem is not None:
            self.fail(f"{what}: {problem}")
        return y

    def pieces(self, y: Mapping[str, Tensor], sample, size: int) -> dict[str, list[Tensor]]:
        out = {}
        for name, f in self.out_spec.items():
            if name not in y:
                self.fail(f"output field '{name}' is missing (got {sorted(y)})")
            out[name] = _split(y[name], f.nodes, sample, size)
        return out

    def errors(self, ref: dict[str, list[Tensor]], y: dict[str, list[Tensor]],
               scale_of: dict[str, list[Tensor]] | None = None,
               floors: dict[str, list[float]] | None = None) -> list[float]:
        """Per sample, the worst field's :func:`per_sample_error` (``floors``: per field and
        sample, the size of what was averaged, :meth:`copy_scales`)."""
        size = len(next(iter(ref.values()), []))
        scale_of = ref if scale_of is None else scale_of
        return [max((per_sample_error(ref[n][b], y[n][b], self.out_spec[n].rep, scale_of[n][b],
                                      floors[n][b] if floors else 0.0)
                     for n in self.out_spec), default=0.0) for b in range(size)]

    def copy_scales(self, sample, size: int) -> dict[str, list[float]]:
        """Per output field and sample, ``sum_k w_k spread(y_k)`` over the copies that the
        model averages (``model.copy_outputs``; zeros for a model without it): an invariant of
        the orbit, the scale of an output that cancels (module docstring, *Scale*)."""
        floors = {n: [0.0] * size for n in self.out_spec}
        copies = getattr(self.model, "copy_outputs", None)
        try:
            with _same_random_state(self.model):
                parts = copies(sample) if callable(copies) else None
        except Exception as e:  # noqa: BLE001 - the forward of x itself did not fail
            self.fail(f"the copies of the forward (copy_outputs) crashed with "
                      f"{type(e).__name__}: {e}")
        for w, y in parts or ():
            pieces = self.pieces(y, sample, size)
            w = w.detach().to(torch.float64).cpu().tolist()
            for n, f in self.out_spec.items():
                for b in range(size):
                    floors[n][b] += abs(w[b]) * _spread(pieces[n][b], f.rep)
        return floors


def element_problem(model, group: Group, sample: Mapping[str, Tensor],
                    names: list[int] | None = None) -> str | None:
    """Why the elements that ``model`` averages for ``sample`` are not all valid, else ``None``.

    ``model.elements(sample)`` (a :class:`~symkit.symmetrizers.Symmetrizer` that defines it;
    other models are not checked) must give ``B * K`` elements of ``group``, each finite and
    valid (:func:`~symkit.testing._group_axioms.invalid_elements`, to the rounding of the
    elements' dtype, :func:`exact_rtol`), and finite weights ``(B, K)``: for *every* sample and
    slot, weight 0 included, also where no output depends on them (a sample without points). The
    message names the first bad sample (``names[b]``, default ``b``) and slot. Runs with the
    random streams left as they were.
    """
    if not isinstance(model, Symmetrizer) or type(model).elements is Symmetrizer.elements:
        return None
    with _same_random_state(model), torch.no_grad():
        g, weights = model.elements(sample)
    b, k = weights.shape
    name = (lambda i: names[i]) if names is not None else (lambda i: i)
    finite = torch.isfinite(weights.detach()).all(1).cpu()
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0])
        return f"sample {name(i)}: its weights {weights[i].tolist()} are not finite"
    floats = [t for t in _leaves(g) if t.is_floating_point()]
    atol = exact_rtol(floats[0].dtype) if floats else 0.0
    bad = invalid_elements(group, g, atol)
    if not bad:
        return None
    i, why = next(iter(bad.items()))
    return (f"sample {name(i // k)}: element {i % k} (of K = {k} per sample, model.elements) "
            f"is not a valid element of {group!r}: {why}")


@contextlib.contextmanager
def _same_random_state(model):
    """Leave torch's global random state and every ``generator`` of ``model``'s modules as they
    were: measuring the scale draws nothing from the streams of the checked forwards."""
    gens = {id(g): g for m in (model.modules() if hasattr(model, "modules") else ())
            if isinstance(g := getattr(m, "generator", None), torch.Generator)}
    states = {k: g.get_state() for k, g in gens.items()}
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            for k, g in gens.items():
                g.set_state(states[k])


def check_outcomes(
    model: Callable, group: Group, in_spec: Spec, out_spec: Spec, case: HardInput, *,
    n_elements: int = 2, seed: int = 0, rtol: float | None = None, context: str = "model",
) -> OutcomeReport:
    """Check that every sample of ``case`` is exact, flagged and equivariant in distribution, or
    rejected with a :class:`~symkit.errors.SampleError` naming it (see the module docstring).

    Args:
        model: a symmetrized model (``model.flagged`` read after each forward when present;
            ``model.is_exact`` false means every sample is checked in distribution).
        group, in_spec, out_spec: the symmetry and the actions on inputs and outputs.
        case: the input (:func:`symkit.testing.hard_inputs`).
        n_elements: random elements per kind.
        rtol: relative tolerance of the exact outcome (default: by the input dtype).
        context: how failures name the model.

    Raises:
        AssertionError: a sample is silently wrong; the message names the input, the sample,
            the kind of element and the error.
    """
    group = _scaled(group, case.scale)
    run = _Run(model, group, in_spec, out_spec, case, context)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    sample = dict(case.sample)
    dtype = next(sample[n].dtype for n in in_spec if n in sample and sample[n].is_floating_point())
    rtol = exact_rtol(dtype) if rtol is None else rtol
    report = OutcomeReport(case.name, ["exact"] * _size(sample, in_spec))
    alive = list(range(len(report.outcomes)))
    while True:  # (c): remove every sample that raises a SampleError naming it
        try:
            y = run.forward(sample, what="the forward")
            break
        except SampleError as e:
            if e.index is None or not 0 <= e.index < len(alive):
                run.fail(f"SampleError without a valid sample index ({e.index!r}): {e}")
            report.outcomes[alive[e.index]] = "error"
            sample = remove_sample(sample, in_spec, e.index)
            del alive[e.index]
    missed = case.must_raise - {i for i, o in enumerate(report.outcomes) if o == "error"}
    if missed:
        run.fail(f"samples {sorted(missed)} must raise a SampleError naming them (NaN input)")
    size = len(alive)
    problem = element_problem(model, group, sample, alive)
    if problem is not None:
        run.fail(problem)
    ref = run.pieces(y, sample, size)
    for name, parts in ref.items():
        for b, part in enumerate(parts):
            if not torch.isfinite(part).all():
                run.fail(f"sample {alive[b]}: output '{name}' is not finite and no SampleError")
    if size == 0:
        return report
    flagged = _flags(model, size)
    floors = run.copy_scales(sample, size)
    exact_model = bool(getattr(model, "is_exact", True))
    worst = [0.0] * size
    for kind in (None, *group.kinds):
        for _ in range(n_elements):
            g = (group.sample(size, generator=gen) if kind is None
                 else group.sample_kind(kind, size, generator=gen))
            gx = _act(in_spec, group, g, sample)
            try:
                y_gx = run.forward(gx, what=f"the forward of g.x ({kind or 'all'})")
            except SampleError as e:
                run.fail(f"g.x raised {e!r} but x did not: the outcome is not a function of "
                         f"the orbit")
            flagged |= _flags(model, size)
            # both sides in the layout of g.x (S_N moves the valid rows with the nodes)
            g_ref = run.pieces(_act(out_spec, group, g, y, sample), gx, size)
            errs = run.errors(g_ref, run.pieces(y_gx, gx, size), floors=floors)
            worst = [max(a, b) for a, b in zip(worst, errs)]
            key = kind or "all"
            report.errors[key] = max([report.errors.get(key, 0.0)] + [
                e for e, f in zip(errs, flagged.tolist()) if not f or not exact_model])
    for b in range(size):
        if flagged[b] or not exact_model:
            report.outcomes[alive[b]] = "flagged"
        elif not worst[b] <= rtol:
            run.fail(f"sample {alive[b]} is silently wrong: relative error {worst[b]:.3g} "
                     f"(rtol {rtol:.3g}; by kind {_fmt(report.errors)}); not flagged, no "
                     f"SampleError")
    stat = [b for b in range(size) if (flagged[b] or not exact_model) and not worst[b] <= rtol]
    if stat:
        report.stat = _in_distribution(run, sample, size, stat, gen, ref, floors)
        s_lo, s_hi = (report.stat[n] for n in STAT_N)
        # floor: every field's error of the mean within the exact outcome's rtol (S_n sums
        # the squared errors of the fields)
        if not (s_hi <= s_lo / STAT_FALL or s_hi <= len(out_spec) * rtol**2):
            run.fail(f"flagged samples {[alive[b] for b in stat]} are not equivariant in "
                     f"distribution: mean squared relative error of the mean of n forwards "
                     f"{_fmt(report.stat)} does not fall like 1/n (required S_{STAT_N[1]} <= "
                     f"S_{STAT_N[0]} / {STAT_FALL:g})")
    if case.alone is not None and exact_model:
        _check_alone(run, ref, flagged, alive, rtol, floors)
    return report


def _squared_errors(run: _Run, ref, y, scale_of, floors: dict[str, list[float]]
                    ) -> list[float]:
    """Per sample, ``sum_fields (||y - ref|| / scale)^2`` (:func:`per_sample_error` squared,
    summed; ``scale`` the larger of the spread of ``scale_of`` and ``floors``, fixed per sample
    and field): a quadratic form of the difference, so for independent unbiased draws the
    value of a mean of ``n`` draws has ``1 / n`` of the expectation of one draw's, exactly."""
    size = len(next(iter(ref.values()), []))
    return [sum(per_sample_error(ref[n][b], y[n][b], run.out_spec[n].rep, scale_of[n][b],
                                 floors[n][b]) ** 2
                for n in run.out_spec) for b in range(size)]


def _in_distribution(run: _Run, sample, size: int, rows: list[int], gen, single,
                     floors: dict[str, list[float]]) -> dict:
    """``{1: S_1, n: S_n}`` (``n = max(STAT_N)``) over the first :data:`STAT_ROWS` of ``rows``
    (the batch cut to those rows, to bound the cost) and :data:`STAT_ELEMENTS` random elements
    ``g``: per element, ``n`` single forwards of ``x`` and of ``g x`` (fresh draws), their
    errors ``g y_i(x) - y_i(g x)`` (``S_1``) and the error of their means (``S_n``), paired
    as the module docs say. The mean of the model's own ``eval_samples`` is one draw.

    Errors are relative to the spread of one forward's output (``single``), not of the mean:
    the mean of randomly transformed outputs itself shrinks like ``1 / sqrt(n)``; or to the
    size of its averaged copies (``floors``) when larger."""
    group = run.group
    keep = rows[:STAT_ROWS]
    for b in reversed(range(size)):
        if b not in keep:
            sample = remove_sample(sample, run.in_spec, b)
    single = {k: [v[b] for b in keep] for k, v in single.items()}
    floors = {k: [v[b] for b in keep] for k, v in floors.items()}
    size, rows = len(keep), list(range(len(keep)))
    n = max(STAT_N)
    one = mean = 0.0
    for _ in range(STAT_ELEMENTS):
        g = group.sample(size, generator=gen)
        gx = _act(run.in_spec, group, g, sample)
        refs, gots = [], []
        for _ in range(n):
            y = run.pieces(run.forward(sample, what="the forward"), sample, size)
            stacked = {k: _restack(v, run.out_spec[k].nodes, sample) for k, v in y.items()}
            refs.append(run.pieces(_act(run.out_spec, group, g, stacked, sample), gx, size))
            gots.append(run.pieces(run.forward(gx, what="the forward"), gx, size))
            errs = _squared_errors(run, refs[-1], gots[-1], single, floors)
            one += sum(errs[b] for b in rows)
        errs = _squared_errors(run, _average(refs), _average(gots), single, floors)
        mean += sum(errs[b] for b in rows)
    count = STAT_ELEMENTS * len(rows)
    return {1: one / (count * n), n: mean / count}


def _average(draws: list[dict[str, list[Tensor]]]) -> dict[str, list[Tensor]]:
    return {k: [sum(d[k][b] for d in draws) / len(draws) for b in range(len(draws[0][k]))]
            for k in draws[0]}


def _restack(parts: list[Tensor], nodes: bool, sample) -> Tensor:
    """Inverse of :func:`_split` for acting on a mean output (padding rows filled with 0)."""
    if nodes and is_ragged(sample):
        out = parts[0].new_zeros((sample["batch"].shape[0], *parts[0].shape[1:]))
        for b, p in enumerate(parts):
            out[sample["batch"] == b] = p
        return out
    mask = sample.get("mask")
    if nodes and mask is not None:
        out = parts[0].new_zeros((*mask.shape, *parts[0].shape[1:]))
        for b, p in enumerate(parts):
            out[b][mask[b].bool()] = p
        return out
    return torch.stack(parts)


def _check_alone(run: _Run, ref, flagged: Tensor, alive: list[int], rtol: float,
                 floors: dict[str, list[float]]) -> None:
    """An unflagged sample's output in the batch equals its output alone (no padding, no batch)."""
    for b, i in enumerate(alive):
        if flagged[b]:
            continue
        alone = run.case.alone[i]
        y = run.pieces(run.forward(alone, what=f"sample {i} alone"), alone, 1)
        if _flags(run.model, 1)[0]:
            continue
        err = max(per_sample_error(y[n][0], ref[n][b], run.out_spec[n].rep,
                                   floor=floors[n][b]) for n in ref)
        if not err <= rtol:
            run.fail(f"sample {i}'s output depends on the rest of the batch or on the padding: "
                     f"relative difference {err:.3g} from the sample alone (rtol {rtol:.3g})")
