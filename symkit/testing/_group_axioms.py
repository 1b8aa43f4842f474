"""Conformance checks for groups: axioms, homomorphism, sampled kinds, Haar statistics.

Every check raises :class:`AssertionError` with the offending numbers. Float comparisons use
the error ``|a - b| / (1 + |b|)`` (absolute near zero, relative for large entries) against
``atol``; integer encodings must match exactly. With the default generator (seed 0) every check
is deterministic.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from symkit.groups._base import Element, Group, element_size
from symkit.groups._euclidean import Euclidean
from symkit.groups._orthogonal import Orthogonal
from symkit.groups._scaling import Scaling
from symkit.groups._symmetric import Symmetric
from symkit.groups._translation import Translation

__all__ = [
    "check_group_axioms",
    "check_homomorphism",
    "check_sample_kinds",
    "check_haar_statistics",
    "invalid_elements",
]


# -- comparisons ------------------------------------------------------------------------------
def _leaves(g: Element) -> list[Tensor]:
    return [x for y in g for x in _leaves(y)] if isinstance(g, tuple) else [g]


def _error(a: Element, b: Element) -> float:
    """Largest ``|a - b| / (1 + |b|)`` over all leaves; ``inf`` on a shape or integer mismatch."""
    worst = 0.0
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        if x.shape != y.shape:
            return math.inf
        if not x.is_floating_point():
            if not torch.equal(x, y):
                return math.inf
            continue
        if x.numel():
            y = y.to(x.dtype)
            worst = max(worst, float(((x - y).abs() / (1 + y.abs())).max()))
    return worst


def _assert_close(what: str, group: Group, a: Element, b: Element, atol: float) -> None:
    err = _error(a, b)
    if not err <= atol:
        raise AssertionError(f"{group!r}: {what} fails: error {err:.3g} > atol {atol:.3g}")


def _generator(generator: torch.Generator | None, seed: int = 0) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(seed)


def _eye_like(m: Tensor) -> Tensor:
    return torch.eye(m.shape[-1], dtype=m.dtype, device=m.device).expand_as(m)


# -- axioms -----------------------------------------------------------------------------------
def check_group_axioms(
    group: Group, *, dtype: torch.dtype = torch.float64, n: int = 16, atol: float = 1e-12,
    generator: torch.Generator | None = None,
) -> None:
    """Identity, inverses, associativity, closure (finite groups), dtypes, orthogonality.

    Args:
        group: the group to check.
        dtype: floating dtype of sampled elements.
        n: number of random elements ``g, h, k`` per check.
        atol: tolerance of the comparison described in the module docstring.
        generator: source of randomness (default: seed 0).
    """
    gen = _generator(generator)
    g, h, k = (group.sample(n, generator=gen, dtype=dtype) for _ in range(3))
    e = group.identity(n, dtype=dtype)
    for name, x in (("sample", g), ("identity", e)):
        if element_size(x) != n:
            raise AssertionError(f"{group!r}: {name}({n}) has {element_size(x)} elements")
        bad = [t.dtype for t in _leaves(x) if t.is_floating_point() and t.dtype != dtype]
        if bad:
            raise AssertionError(f"{group!r}: {name}(dtype={dtype}) returned dtype {bad[0]}")
    _assert_close("identity e g = g", group, group.compose(e, g), g, atol)
    _assert_close("identity g e = g", group, group.compose(g, e), g, atol)
    inv = group.inverse(g)
    _assert_close("inverse g g^-1 = e", group, group.compose(g, inv), e, atol)
    _assert_close("inverse g^-1 g = e", group, group.compose(inv, g), e, atol)
    _assert_close(
        "associativity (g h) k = g (h k)", group,
        group.compose(group.compose(g, h), k), group.compose(g, group.compose(h, k)), atol,
    )
    if group.is_finite and group.order is not None and group.order <= 5040:
        _check_closure(group, group.compose(g, h), dtype)
    _check_orthogonal(group, g, atol)


def _check_closure(group: Group, gh: Element, dtype: torch.dtype) -> None:
    elements = group.elements(dtype=dtype)
    if element_size(elements) != group.order:
        raise AssertionError(
            f"{group!r}: elements() has {element_size(elements)} elements, order is {group.order}"
        )
    index = group.element_index(elements)
    if not torch.equal(index.cpu(), torch.arange(group.order)):
        raise AssertionError(f"{group!r}: element_index(elements()) is not 0..order-1")
    idx = group.element_index(gh)
    if (idx < 0).any() or (idx >= group.order).any():
        raise AssertionError(f"{group!r}: closure fails: a product has index outside the group")
    _assert_close("closure (products lie in elements())", group, group.index(elements, idx), gh, 0)


def _check_orthogonal(group: Group, g: Element, atol: float) -> None:
    bad = invalid_elements(group, g, atol)
    if bad:
        i, why = next(iter(bad.items()))
        raise AssertionError(f"{group!r}: sampled element {i} is invalid: {why}")


def invalid_elements(group: Group, g: Element, atol: float) -> dict[int, str]:
    """The elements of the batch ``g`` that are no valid elements of ``group``, with why.

    An element is valid when every floating leaf is finite; for each orthogonal factor its
    matrix has ``|R^T R - I| <= atol`` (entry-wise, in float64) and, without reflections,
    ``|det R - 1| <= atol``; for each factor that permutes, its permutation holds each index
    ``0..N-1`` once.

    Shapes:
        g: ``n`` elements; returns ``{index in 0..n-1: reason}`` (empty when all are valid),
        in index order.
    """
    n = element_size(g)
    bad: dict[int, str] = {}

    def note(mask: Tensor, why) -> None:
        for i in torch.nonzero(mask.reshape(n).cpu()).flatten().tolist():
            bad.setdefault(i, why(i))

    for leaf in _leaves(g):
        if leaf.is_floating_point() and leaf.numel():
            note(~torch.isfinite(leaf.reshape(n, -1)).all(1), lambda i: "not finite (NaN/Inf)")
    for f, x in zip(group.factors(), group.split(g)):
        m = f.matrix(x) if f.orthogonal else None
        if m is not None and m.numel():
            m = m.to(torch.float64)
            err = (m.transpose(-1, -2) @ m - _eye_like(m)).abs().flatten(1).amax(1)
            note(~(err <= atol), lambda i, f=f, e=err:
                 f"{f!r}: R^T R differs from I by {e[i].item():.3g} (atol {atol:.3g})")
            if "reflection" not in f.kinds:
                det = torch.linalg.det(torch.nan_to_num(m))
                note(~((det - 1).abs() <= atol), lambda i, f=f, d=det:
                     f"{f!r}: det R = {d[i].item():.3g}, not +1")
        p = f.permutation(x)
        if p is not None and p.numel():
            ok = (p.sort(-1).values == torch.arange(p.shape[-1], device=p.device)).all(-1)
            note(~ok, lambda i, f=f, n=p.shape[-1]: f"{f!r}: not a permutation of 0..{n - 1}")
    return dict(sorted(bad.items()))


# -- homomorphism -----------------------------------------------------------------------------
def check_homomorphism(
    group: Group, *, dtype: torch.dtype = torch.float64, n: int = 16, atol: float = 1e-12,
    generator: torch.Generator | None = None,
) -> None:
    """``matrix``, ``translation`` and ``permutation`` respect composition and inverses.

    For ``x -> M(g) x + t(g)`` and node permutation ``p(g)``: ``M(gh) = M(g) M(h)``,
    ``t(gh) = M(g) t(h) + t(g)``, ``p(gh) = p(g)[p(h)]``, ``M(g^-1) M(g) = I``; checked for the
    group and, for a direct product, for each factor.
    """
    gen = _generator(generator, seed=1)
    g, h = (group.sample(n, generator=gen, dtype=dtype) for _ in range(2))
    targets = [(group, g, h)]
    if len(group.factors()) > 1:
        targets += list(zip(group.factors(), group.split(g), group.split(h)))
    for grp, x, y in targets:
        try:
            _check_homomorphism_one(grp, x, y, atol)
        except TypeError:  # a product whose factors act on different dimensions
            if grp is not group:
                raise


def _check_homomorphism_one(group: Group, g: Element, h: Element, atol: float) -> None:
    gh, g_inv = group.compose(g, h), group.inverse(g)
    mg, mh, mgh = group.matrix(g), group.matrix(h), group.matrix(gh)
    if mg is not None:
        _assert_close("matrix(g h) = matrix(g) matrix(h)", group, mgh, mg @ mh, atol)
        _assert_close("matrix(g^-1) matrix(g) = I", group, group.matrix(g_inv) @ mg,
                      _eye_like(mg), atol)
        _assert_close("matrix(e) = I", group, group.matrix(group.identity(1, dtype=mg.dtype)),
                      _eye_like(mg[:1]), atol)
    tg, th, tgh = group.translation(g), group.translation(h), group.translation(gh)
    if tg is not None:
        rotated = th if mg is None else (mg @ th.unsqueeze(-1)).squeeze(-1)
        _assert_close("translation(g h) = M(g) t(h) + t(g)", group, tgh, rotated + tg, atol)
    pg, ph, pgh = group.permutation(g), group.permutation(h), group.permutation(gh)
    if pg is not None:
        _assert_close("permutation(g h) = p(g)[p(h)]", group, pgh, torch.gather(pg, 1, ph), 0)


# -- kinds ------------------------------------------------------------------------------------
def check_sample_kinds(
    group: Group, *, dtype: torch.dtype = torch.float64, n: int = 16, atol: float = 1e-12,
    generator: torch.Generator | None = None,
) -> None:
    """``sample_kind(kind)`` yields only that kind, for every kind in ``group.kinds``.

    Per factor, an element is either the identity or of the kind: ``rotation`` has ``det M > 0``
    and no translation or permutation, ``reflection`` has ``det M < 0`` (and some factor is
    not the identity), ``translation`` has ``M = I``, ``permutation`` has ``M = I`` and
    ``t = 0``, ``scaling`` has ``M = s I`` with ``s > 0`` and ``t = 0``.
    """
    gen = _generator(generator, seed=2)
    for kind in group.kinds:
        g = group.sample_kind(kind, n, generator=gen, dtype=dtype)
        if element_size(g) != n:
            raise AssertionError(f"{group!r}: sample_kind({kind!r}, {n}) has wrong size")
        moved = False
        for factor, x in zip(group.factors(), group.split(g)):
            if _error(x, factor.identity(n, dtype=dtype)) <= atol and kind != "reflection":
                continue
            if kind not in factor.kinds and _error(x, factor.identity(n, dtype=dtype)) > atol:
                raise AssertionError(
                    f"{group!r}: sample_kind({kind!r}) moved factor {factor!r}, which has no "
                    f"elements of that kind"
                )
            if kind in factor.kinds:
                _check_kind(factor, kind, x, atol)
                moved = True
        if kind == "reflection" and not moved:
            raise AssertionError(f"{group!r}: sample_kind('reflection') returned no reflection")


def _check_kind(group: Group, kind: str, g: Element, atol: float) -> None:
    m, t, p = group.matrix(g), group.translation(g), group.permutation(g)
    what = f"sample_kind({kind!r})"
    if kind in ("rotation", "reflection"):
        if m is None:
            raise AssertionError(f"{group!r}: {what} elements have no matrix")
        det = torch.linalg.det(m)
        sign = 1 if kind == "rotation" else -1
        if not (det * sign > 0).all():
            raise AssertionError(f"{group!r}: {what} has det {det.min():.3g}..{det.max():.3g}")
    if kind in ("translation", "permutation") and m is not None:
        _assert_close(f"{what}: linear part is I", group, m, _eye_like(m), atol)
    if kind != "translation" and t is not None:
        _assert_close(f"{what}: translation is 0", group, t, torch.zeros_like(t), atol)
    if kind != "permutation" and p is not None:
        _assert_close(f"{what}: permutation is identity", group, p,
                      torch.arange(p.shape[1], device=p.device).expand_as(p), 0)
    if kind == "scaling":
        if m is None:
            raise AssertionError(f"{group!r}: {what} elements have no matrix")
        s = m[:, :1, :1]
        _assert_close(f"{what}: matrix is s I", group, m, s * _eye_like(m), atol)
        if not (s > 0).all():
            raise AssertionError(f"{group!r}: {what} has a non-positive scale {s.min():.3g}")


# -- sampling statistics ----------------------------------------------------------------------
def check_haar_statistics(
    group: Group, n: int = 4000, generator: torch.Generator | None = None, *,
    sigmas: float = 5.0,
) -> None:
    """Statistical test that :meth:`Group.sample` draws from the documented law.

    Finite groups (and S_N, through the position of node 0): Pearson's chi-square for
    uniformity, standardized by the Wilson-Hilferty transform. O(d)/SO(d) and the rotation
    part of E(d)/SE(d): the mean matrix is 0 (each entry has variance 1/d), ``E[tr(R)^2]`` is 1
    (2 for SO(2)), and for O(d)/E(d) half of the determinants are negative. Translations:
    mean 0; scalings: ``log s`` has mean 0. Each statistic must lie within ``sigmas`` standard
    errors, so a biased sampler fails while a correct one passes at a fixed seed.
    """
    gen = _generator(generator, seed=3)
    g = group.sample(n, generator=gen)
    if group.is_finite and group.order is not None and group.order <= n // 5:
        _check_uniform(group, "element_index", group.element_index(g), group.order, sigmas)
    for factor, x in zip(group.factors(), group.split(g)):
        if factor is not group and factor.is_finite and factor.order <= n // 5:
            _check_uniform(factor, "element_index", factor.element_index(x), factor.order, sigmas)
        if isinstance(factor, Symmetric):
            _check_uniform(factor, "position of node 0", x[:, 0], factor.n, sigmas)
        if isinstance(factor, (Orthogonal, Euclidean)):
            _check_haar_matrix(factor, factor.matrix(x), sigmas)
        if isinstance(factor, (Translation, Euclidean)):
            scale = getattr(factor, "scale", getattr(factor, "translation_scale", 1.0))
            _check_mean(factor, "mean translation", factor.translation(x), 0.0, scale, sigmas)
        if isinstance(factor, Scaling):
            _check_mean(factor, "mean log scale", torch.log(x), 0.0, factor.log_std, sigmas)


def _check_uniform(group: Group, what: str, index: Tensor, cells: int, sigmas: float) -> None:
    if cells < 2:
        return
    counts = torch.bincount(index.cpu(), minlength=cells).to(torch.float64)
    expected = index.numel() / cells
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    k = cells - 1
    z = ((chi2 / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    if z > sigmas:
        raise AssertionError(
            f"{group!r}: {what} is not uniform: chi2 = {chi2:.1f} on {k} dof "
            f"(z = {z:.1f} > {sigmas}); counts range {counts.min():.0f}..{counts.max():.0f}, "
            f"expected {expected:.1f}"
        )


def _check_mean(group: Group, what: str, x: Tensor, mean: float, std: float,
                sigmas: float) -> None:
    se = std / math.sqrt(x.shape[0])
    dev = float((x.mean(dim=0) - mean).abs().max())
    if dev > sigmas * se:
        raise AssertionError(
            f"{group!r}: {what} is off by {dev:.3g} > {sigmas} standard errors ({se:.3g})"
        )


def _check_haar_matrix(group: Group, m: Tensor, sigmas: float) -> None:
    n, d = m.shape[0], m.shape[-1]
    special = "reflection" not in group.kinds
    if special and d == 1:
        return  # SO(1) is trivial
    _check_mean(group, "mean of the Haar matrices", m.reshape(n, -1), 0.0, 1 / math.sqrt(d),
                sigmas)
    tr2 = torch.diagonal(m, dim1=-2, dim2=-1).sum(-1) ** 2
    want = 2.0 if special and d == 2 else 1.0
    se = float(tr2.std()) / math.sqrt(n)
    if abs(float(tr2.mean()) - want) > sigmas * se + 1e-9:
        raise AssertionError(
            f"{group!r}: E[tr(R)^2] = {float(tr2.mean()):.4f}, Haar gives {want} "
            f"(standard error {se:.3g})"
        )
    if not special:
        frac = float((torch.linalg.det(m) < 0).to(torch.float64).mean())
        if abs(frac - 0.5) > sigmas * 0.5 / math.sqrt(n):
            raise AssertionError(
                f"{group!r}: fraction of det -1 is {frac:.4f}, Haar gives 0.5 "
                f"(standard error {0.5 / math.sqrt(n):.3g})"
            )
