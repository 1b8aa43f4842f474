"""Worst-case equivariance: the group element that maximizes ``||f(g x) - g f(x)|| / ||g f(x)||``.

A random element measures the *typical* equivariance error; a model can be exact almost
everywhere and still fail badly near one orientation (a viewpoint it never saw, a resampling
artefact at one angle). :func:`worst_case_error` searches for that element, in the spirit of the
adversarial viewpoint search of viewpoint-invariance training (e.g. Engstrom et al. 2019,
"Exploring the Landscape of Spatial Robustness"; Dong et al. 2022, "ViewFool: Evaluating the
Robustness of Visual Recognition to Adversarial Viewpoints"):

* finite groups: every element is tried (exhaustive, ``|G|`` evaluations);
* finite groups larger than ``max_exhaustive`` (S_n): random search, as below;
* Lie groups with a known Lie algebra: gradient ascent on ``xi`` in ``g = g_0 exp(xi)`` (the
  exponential chart around a starting element ``g_0``) from several restarts; ``g_0`` is a random
  element of each kind, so the discrete part of the group (the reflection coset of O(d) and
  E(d)) is a discrete choice made by the restarts, and the continuous part is climbed. The
  algebra is ``so(d)`` (skew matrices) for O(d)/SO(d), ``so(d)`` plus translations in the
  homogeneous encoding for E(d)/SE(d), ``R^d`` for T(d), and whatever a group returns from a
  ``lie_algebra(dtype, device)`` method (``(k, m, m)`` generators acting on its own element
  encoding, ``g = matrix_exp(sum_i c_i B_i)``; plugins such as ``symkit-lie`` provide it);
  direct products (S_n x E(3)) climb the factors that have a chart, while the others (S_n)
  keep each restart's random starting element, a discrete choice like the reflections;
* any other group: random search over ``restarts * (steps + 1)`` samples (``method = "random"``).

Cost: each ascent step is one forward and one backward pass of the model on the batch, so the
search costs about ``restarts * (steps + 1)`` model calls (``|G|`` for finite groups) next to
``n_random`` for the random-element error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from symkit.groups import Element, Group, map_element
from symkit.spec import Spec
from symkit.testing._equivariance import equivariance_error

__all__ = ["WorstCase", "worst_case_error", "lie_algebra"]

_TINY = 1e-300


@dataclass
class WorstCase:
    """Result of :func:`worst_case_error`.

    Attributes:
        element: the worst element found (an element batch of size 1).
        error: its relative error ``||f(g x) - g f(x)|| / ||g f(x)||`` (worst output field).
        random_error: the relative error of :func:`equivariance_error` with ``n_random``
            random elements, for comparison.
        method: ``exhaustive``, ``gradient`` or ``random``.
        evaluations: number of model calls the search made.
        restart_errors: best error of each restart (gradient and random search).
    """

    element: Element
    error: float
    random_error: float
    method: str
    evaluations: int
    restart_errors: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"worst-case relative error {self.error:.3g} ({self.method}, "
                f"{self.evaluations} evaluations) vs random {self.random_error:.3g}")


def _skew_basis(d: int, dtype, device) -> Tensor:
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    out = torch.zeros(len(pairs), d, d, dtype=dtype, device=device)
    for k, (i, j) in enumerate(pairs):
        out[k, i, j], out[k, j, i] = -1.0, 1.0
    return out


def lie_algebra(group: Group, dtype=torch.float64, device=None) -> Tensor | None:
    """Generators ``(k, m, m)`` of ``group``'s Lie algebra in its element encoding, or ``None``.

    ``matrix_exp(sum_i c_i B_i)`` is then an element for every ``c``. Known: O(d), SO(d) (skew
    matrices), E(d), SE(d) (skew blocks and translations in ``[[R, t], [0, 1]]``), and any group
    with a ``lie_algebra(dtype, device)`` method.
    """
    from symkit.groups import Euclidean, Orthogonal

    own = getattr(group, "lie_algebra", None)
    if callable(own):
        return own(dtype=dtype, device=device)
    if isinstance(group, Euclidean):
        d = group.dim
        skew = _skew_basis(d, dtype, device)
        out = torch.zeros(skew.shape[0] + d, d + 1, d + 1, dtype=dtype, device=device)
        out[: skew.shape[0], :d, :d] = skew
        for i in range(d):
            out[skew.shape[0] + i, i, d] = group.translation_scale
        return out
    if isinstance(group, Orthogonal):
        return _skew_basis(group.dim, dtype, device)
    return None


def _chart(group: Group, dtype, device) -> tuple[int, Callable[[Tensor], Element]] | None:
    """``(k, xi -> exp(xi))``: a local chart at the identity, element batch of size 1.

    A direct product gets the product of its factors' charts; a factor without one (a finite
    factor such as S_n) stays at the identity, so it keeps the restart's starting element.
    """
    from symkit.groups import Translation

    if len(group.factors()) > 1:
        parts = [(f, _chart(f, dtype, device)) for f in group.factors()]
        if all(c is None for _, c in parts):
            return None
        sizes = [0 if c is None else c[0] for _, c in parts]

        def exp(xi: Tensor) -> Element:
            out, start = [], 0
            for (f, c), k in zip(parts, sizes):
                out.append(f.identity(1, dtype=dtype, device=device) if c is None
                           else c[1](xi[start:start + k]))
                start += k
            return tuple(out)

        return sum(sizes), exp
    if isinstance(group, Translation):
        return group.dim, lambda xi: xi[None] * group.scale
    basis = lie_algebra(group, dtype, device)
    if basis is None:
        return None
    return basis.shape[0], lambda xi: torch.linalg.matrix_exp(
        torch.einsum("k,kij->ij", xi, basis))[None]


def _spread(group: Group, g: Element, n: int) -> Element:
    return map_element(lambda t: t.expand(n, *t.shape[1:]), g)


def _cast(sample: Mapping[str, Tensor], dtype) -> dict[str, Tensor]:
    return {k: v.to(dtype) if isinstance(v, Tensor) and v.is_floating_point() else v
            for k, v in sample.items()}


def worst_case_error(
    model: Callable[[dict[str, Tensor]], Mapping[str, Tensor]], group: Group, in_spec: Spec,
    out_spec: Spec, sample: Mapping[str, Tensor], *, restarts: int = 4, steps: int = 30,
    lr: float = 0.1, n_random: int = 4, generator: torch.Generator | None = None,
    transform_dtype: torch.dtype = torch.float64, max_exhaustive: int = 1024,
) -> WorstCase:
    """Search the group element with the largest equivariance error of ``model`` on ``sample``.

    One element ``g`` acts on every row of the batch; its error is the relative error of
    :func:`~symkit.testing.equivariance_error`, ``max over fields ||f(g x) - g f(x)|| /
    ||g f(x)||``. See the module docs for the search per kind of group.

    Args:
        model: maps a sample dict to an output dict; must be differentiable in its inputs for
            the gradient search to climb (a model that detaches still gets the restarts).
        group, in_spec, out_spec: the symmetry and how it acts on inputs and outputs.
        sample: a batch, ``{name: (B, ...)}``.
        restarts: starting elements for the gradient (or random) search; they cycle through
            the group's kinds (so O(d) gets rotations and reflections).
        steps: gradient-ascent steps per restart (Adam, step size ``lr`` annealed to zero on a
            cosine schedule, so that the ascent settles on a sharp maximum).
        n_random: elements for the random-element error reported beside it.
        generator: random source (restarts and the random error).
        transform_dtype: precision in which the group acts on inputs and outputs.
        max_exhaustive: largest finite group searched exhaustively; larger ones (S_n for
            ``n >= 7``) get the random search.

    Returns:
        a :class:`WorstCase` (element, error, random error, method, evaluations).

    Raises:
        ValueError: ``restarts < 1`` or ``steps < 0``.
    """
    if restarts < 1 or steps < 0:
        raise ValueError(f"worst_case_error: restarts must be >= 1 and steps >= 0, got "
                         f"restarts={restarts}, steps={steps}")
    first = next(k for k in in_spec if k in sample)
    device, n = sample[first].device, sample[first].shape[0]
    dtypes = {k: v.dtype for k, v in sample.items() if isinstance(v, Tensor)}
    x_hi = _cast(sample, transform_dtype)
    with torch.no_grad():
        y_hi = _cast({k: v.detach() for k, v in model(dict(sample)).items()}, transform_dtype)

    def error(g: Element) -> Tensor:
        g = _spread(group, g, n)
        gx = {k: v.to(dtypes[k]) if isinstance(v, Tensor) else v
              for k, v in in_spec.act(group, g, x_hi).items()}
        y, g_y = model(gx), out_spec.act(group, g, y_hi)
        rel = [(y[name].to(transform_dtype) - g_y[name]).norm()
               / g_y[name].norm().clamp_min(_TINY) for name in out_spec]
        return torch.stack(rel).max() if rel else torch.zeros((), dtype=transform_dtype)

    random_error = equivariance_error(
        model, group, in_spec, out_spec, sample, n_elements=n_random, generator=generator,
        transform_dtype=transform_dtype,
    ).relative
    if group.is_finite and group.order is not None and group.order <= max_exhaustive:
        elements = group.elements(dtype=transform_dtype, device=device)
        best, best_g = -1.0, None
        with torch.no_grad():
            for i in range(group.order):
                g = group.index(elements, slice(i, i + 1))
                e = _value(error(g))
                if e > best:
                    best, best_g = e, g
        return WorstCase(best_g, best, random_error, "exhaustive", group.order)
    kinds = tuple(group.kinds) or (None,)
    chart = None if group.is_finite else _chart(group, transform_dtype, device)
    best, best_g, per_restart, calls = -1.0, None, [], 0
    for r in range(restarts):
        kind = kinds[r % len(kinds)]
        g0 = (group.sample(1, generator=generator, dtype=transform_dtype, device=device)
              if kind is None else group.sample_kind(kind, 1, generator=generator,
                                                     dtype=transform_dtype, device=device))
        if chart is None:  # no chart to climb: independent random samples
            found, found_g = _random_search(group, error, g0, steps, generator, transform_dtype,
                                            device)
            calls += steps + 1
        else:
            found, found_g, used = _ascend(group, error, g0, chart, steps, lr, transform_dtype)
            calls += used
        per_restart.append(found)
        if found > best:
            best, best_g = found, found_g
    method = "random" if chart is None else "gradient"
    return WorstCase(best_g, best, random_error, method, calls, per_restart)


def _value(e: Tensor) -> float:
    """The error as a float; NaN counts as the worst possible error (``inf``)."""
    v = float(e.detach())
    return math.inf if math.isnan(v) else v


def _ascend(group, error, g0, chart, steps, lr, dtype) -> tuple[float, Element, int]:
    """Adam ascent on ``xi`` in ``g = g0 exp(xi)``: the best element met, and the model calls."""
    k, exp = chart
    xi = torch.zeros(k, dtype=dtype, device=_device(g0), requires_grad=True)
    opt = torch.optim.Adam([xi], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    best, best_g, calls = -1.0, g0, 0
    for step in range(steps + 1):
        with torch.enable_grad():
            g = group.compose(g0, exp(xi))
            e = error(g)
        calls += 1
        value = _value(e)
        if value > best:
            best, best_g = value, map_element(lambda t: t.detach(), g)
        if step == steps or not e.requires_grad:  # no gradient: the model detaches its input
            break
        # the gradient of xi alone: the model's own parameter gradients are left untouched
        (grad,) = torch.autograd.grad(-e, xi, allow_unused=True)
        if grad is None or not torch.isfinite(grad).all():
            break
        xi.grad = grad
        opt.step()
        sched.step()
    return best, best_g, calls


def _random_search(group, error, g0, steps, generator, dtype, device) -> tuple[float, Element]:
    best, best_g = -1.0, g0
    with torch.no_grad():
        for i in range(steps + 1):
            g = g0 if i == 0 else group.sample(1, generator=generator, dtype=dtype, device=device)
            value = _value(error(g))
            if value > best:
                best, best_g = value, g
    return best, best_g


def _device(g: Element):
    return g[0].device if isinstance(g, tuple) else g.device


