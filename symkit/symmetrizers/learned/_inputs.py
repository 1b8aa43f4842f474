"""What every learned symmetrizer does to its inputs first: validate, densify, key.

* :func:`check_finite`: a sample with a NaN or Inf in a valid row of an input field raises
  :class:`~symkit.errors.SampleError` naming the sample index and the field (padded rows of a
  masked batch are not read).
* :func:`point_batch`: the point field of a dense, masked or ragged batch as a padded
  ``(B, N, d)`` tensor whose padded rows are exactly zero, with its ``(B, N)`` node mask, so one
  masked computation serves the three layouts (gradients flow back to the original rows).
* :func:`sample_keys` and :func:`keyed_draws`: per-sample random streams for evaluation. With a
  ``seed``, sample ``b`` draws from a generator seeded by ``(seed, key_b)``, where the key is an
  integer that depends on the sample alone and is invariant under the group (its number of valid
  nodes). The draws of a sample therefore do not depend on the rest of the batch or on its
  position in it, are reproducible, and are the same for ``x`` and ``g . x`` (which keeps a
  fixed-seed probabilistic symmetrization exactly equivariant).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Group
from symkit.groups._euclidean import Euclidean
from symkit.groups._orthogonal import Orthogonal
from symkit.spec import Spec
from symkit.symmetrizers._batching import BatchLayout, check_finite
from symkit.symmetrizers._frames import EXACT_RTOL as FRAME_EXACT_RTOL

__all__ = ["check_finite", "point_batch", "sample_keys", "keyed_draws", "degeneracy_tol",
           "frame_tol", "sign_tol", "tie_tol", "node_counts", "EXACT_RTOL", "KeyedSource",
           "gaussian", "uniform", "find_field", "is_matrix_group", "follow_dtype",
           "collapsed_points", "sample_device"]

#: odd 64-bit constants of the SplitMix64 finalizer, used to mix (seed, key) into one seed
_MIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


#: the exactness symkit promises per input dtype (relative to the output's spread)
EXACT_RTOL = FRAME_EXACT_RTOL  # one table for fixed and learned frames


def degeneracy_tol(dtype: torch.dtype) -> float:
    """``u / rtol`` of the *input* dtype (``u = eps / 2`` its unit roundoff; capped at 0.1): the
    smallest relative eigen-gap, residual or singular value from which a direction is still
    computed to the exactness tolerance ``rtol`` (float64: 1.1e-7, float32: 6e-3).

    A direction read off a gap ``delta`` moves by about ``u / delta`` when the input is
    rounded (and its derivative is about ``1 / delta``), so below this floor the frame could
    not be exact anyway: it is treated as degenerate (random completion, flagged) instead of
    being silently wrong. Symmetric molecules sit far below it (ase's benzene has an in-plane
    eigen-gap of 2e-8, rounding of its stored coordinates), generic inputs far above it.
    """
    unit = float(torch.finfo(dtype).eps) / 2
    return min(unit / EXACT_RTOL.get(dtype, 1e-5), 0.1)


#: rounding gains of a computed frame direction, in units of a unit roundoff. The input's:
#: ``x`` and ``g . x`` are rounded independently, so ``f(g x)`` and ``g f(x)`` differ by two
#: such errors (the corpus' padded sample 2 in float16, 1.6 floors above ``u / rtol``, was
#: 1.1 ``rtol`` wrong; 4 would flag generic float32 draws of a seeded probabilistic model).
#: The network's own, in its compute dtype: sums over nodes, MLP layers, the moment product
#: ``M v`` (ase's ammonia in float64, a residual of 4e-7 of its scale, gave a 4.7e-9 frame
#: error, about 17 ``u / delta``).
INPUT_GAIN, FRAME_GAIN = 2.0, 64.0


def frame_tol(dtype: torch.dtype, compute_dtype: torch.dtype = torch.float64) -> float:
    """``max(INPUT_GAIN u, FRAME_GAIN u_c) / rtol`` (capped at 0.5): the relative residual below
    which a direction that a network computes from an input of ``dtype`` (unit roundoff ``u``,
    exactness ``rtol``, at least 4 eps) in ``compute_dtype`` (unit roundoff ``u_c``) cannot be
    trusted to ``rtol``; like :func:`degeneracy_tol`, with the gains of the two roundings
    (float64 7.1e-6, float32 1.2e-2, float16 0.1, bfloat16 0.25: a bfloat16 input determines
    only a well-spread frame). Below it the frame is completed at random and flagged.
    """
    eps = float(torch.finfo(dtype).eps)
    rtol = max(EXACT_RTOL.get(dtype, 1e-5), 4 * eps)  # bfloat16: 4 eps, as symkit.testing
    unit_c = float(torch.finfo(compute_dtype).eps) / 2
    return min(max(INPUT_GAIN * eps / 2, FRAME_GAIN * unit_c) / rtol, 0.5)


def sign_tol(dtype: torch.dtype) -> float:
    """``sqrt(eps)`` of the input dtype: the relative size below which a quantity that decides
    a *sign* or a collapse (a third moment, the spread of coinciding points) counts as zero.
    Rounding perturbs it by about ``eps``, and a sign, unlike a direction, does not lose
    accuracy as it shrinks: half the digits leave a wide margin (float64 1.5e-8, float32
    3.5e-4)."""
    return float(torch.finfo(dtype).eps) ** 0.5


def tie_tol(dtype: torch.dtype) -> float:
    """``256 eps`` of the input dtype, at most its exactness tolerance: scores closer than this
    (relative to their magnitude) are tied. A discrete choice (``argmax``, ``argsort``) only
    needs the *order* of the scores, which rounding can flip only within a few ``eps``; unlike a
    direction, its accuracy does not degrade as the gap shrinks, so the margin is much tighter
    than :func:`degeneracy_tol`."""
    return min(256.0 * float(torch.finfo(dtype).eps), EXACT_RTOL.get(dtype, 1e-5))


def point_batch(sample: Mapping[str, object], field: str, layout: BatchLayout
                ) -> tuple[Tensor, Tensor]:
    """Points of each sample as a zero-padded dense tensor and its node mask.

    Channels of a point field (``(B, N, C, d)``) count as more points. Ragged nodes need not be
    sorted by graph.

    Shapes:
        dense ``sample[field]``: ``(B, N, *C, d)`` with optional ``mask: (B, N)`` bool;
        ragged: ``(total, *C, d)`` with ``layout.batch``;
        returns ``pos: (B, M, d)`` (padded rows exactly 0) and ``mask: (B, M)`` bool.
    """
    x = sample[field]
    d = x.shape[-1]
    if layout.ragged:
        batch, b = layout.batch, layout.size
        c = x[0].numel() // d if x.shape[0] else 1
        counts = torch.bincount(batch, minlength=b)[:b] if batch.numel() else batch.new_zeros(b)
        n = int(counts.max()) if b and batch.numel() else 0
        order = torch.argsort(batch, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.empty_like(batch)
        slot[order] = torch.arange(batch.shape[0], device=batch.device) - starts[batch[order]]
        dense = x.new_zeros((b, n, *x.shape[1:]))
        dense = dense.index_put((batch, slot), x)
        mask = torch.zeros(b, n, dtype=torch.bool, device=x.device)
        mask[batch, slot] = True
        return dense.reshape(b, n * c, d), mask.repeat_interleave(c, dim=1)
    b, n = x.shape[0], x.shape[1]
    c = x[0, 0].numel() // d if b and n else 1
    mask = sample.get("mask")
    if isinstance(mask, Tensor):
        mask = mask.bool()
        keep = mask.reshape(b, n, *([1] * (x.ndim - 2)))
        x = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
    else:
        mask = torch.ones(b, n, dtype=torch.bool, device=x.device)
    return x.reshape(b, n * c, d), mask.repeat_interleave(c, dim=1)


def node_counts(sample: Mapping[str, object], spec: Spec, layout: BatchLayout) -> Tensor:
    """Number of valid nodes of each sample, ``(B,)`` long (0 when the spec has no node field)."""
    if layout.ragged:
        return torch.bincount(layout.batch, minlength=layout.size)[: layout.size]
    for name, f in spec.items():
        x = sample.get(name)
        if f.nodes and isinstance(x, Tensor) and x.ndim >= 2:
            mask = sample.get("mask")
            if isinstance(mask, Tensor) and tuple(mask.shape) == tuple(x.shape[:2]):
                return mask.bool().sum(1)
            return torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)
    return torch.zeros(layout.size, dtype=torch.long)


def sample_keys(sample: Mapping[str, object], spec: Spec, layout: BatchLayout) -> Tensor:
    """The group-invariant, batch-independent key of each sample: its number of valid nodes.

    Shapes:
        returns ``(B,)`` long (on the CPU).
    """
    return node_counts(sample, spec, layout).cpu()


def _mix(seed: int, key: int) -> int:
    """SplitMix64 of ``seed`` and ``key``: a well-spread 63-bit generator seed."""
    z = (seed * _MIX[0] + key * _MIX[1] + _MIX[2]) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * _MIX[1]) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * _MIX[2]) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF


def keyed_draws(seed: int, keys: Tensor, draw: Callable[[torch.Generator], Tensor]) -> Tensor:
    """``draw(generator)`` for each sample, the generator seeded by ``(seed, keys[b])``.

    Samples with equal keys get equal draws; each distinct key is drawn once.

    Args:
        seed: the symmetrizer's evaluation seed.
        keys: ``(B,)`` integer keys from :func:`sample_keys`.
        draw: makes one sample's draws (a CPU tensor of fixed shape) from a generator.

    Shapes:
        returns ``(B, *draw_shape)``.
    """
    unique, inverse = torch.unique(keys, return_inverse=True)
    draws = [draw(torch.Generator().manual_seed(_mix(int(seed), int(k)))) for k in unique]
    if not draws:
        probe = draw(torch.Generator().manual_seed(int(seed)))
        return probe.new_zeros((0, *probe.shape))
    return torch.stack(draws)[inverse]


class KeyedSource:
    """Per-sample random streams for the degenerate fallbacks of a batch of ``B * repeat`` rows
    (``repeat`` consecutive rows per sample): row ``b * repeat + r`` draws from the stream of
    ``(seed, keys[b])``, so a flagged sample's random completion, too, does not depend on the
    rest of the batch. Pass it wherever a ``generator`` is accepted below.

    Args:
        seed: stream seed (use one distinct from the noise's).
        keys: ``(B,)`` keys from :func:`sample_keys`.
        repeat: rows per sample (``K`` copies).
    """

    def __init__(self, seed: int, keys: Tensor, repeat: int = 1):
        self.seed, self.keys, self.repeat = int(seed), keys, int(repeat)

    def draw(self, kind: str, rows: int, shape: tuple[int, ...]) -> Tensor:
        if rows != self.keys.shape[0] * self.repeat:
            raise ValueError(f"KeyedSource made for {self.keys.shape[0]} x {self.repeat} rows, "
                             f"asked for {rows}")
        fn = torch.randn if kind == "normal" else torch.rand
        out = keyed_draws(self.seed, self.keys, lambda gen: fn(
            (self.repeat, *shape), generator=gen, dtype=torch.float64))
        return out.reshape(rows, *shape)


def _draw(kind: str, source, rows: int, shape: tuple[int, ...], device) -> Tensor:
    if isinstance(source, KeyedSource):
        return source.draw(kind, rows, shape).to(device)
    fn = torch.randn if kind == "normal" else torch.rand
    out = fn((rows, *shape), generator=source, dtype=torch.float64,
             device=source.device if source is not None else None)
    return out.to(device)


def gaussian(source: torch.Generator | KeyedSource | None, rows: int, *shape: int,
             device=None) -> Tensor:
    """Standard normal float64 draws ``(rows, *shape)`` from a generator (``None``: torch's
    global one) or a :class:`KeyedSource`."""
    return _draw("normal", source, rows, tuple(shape), device)


def uniform(source: torch.Generator | KeyedSource | None, rows: int, *shape: int,
            device=None) -> Tensor:
    """``U[0, 1)`` float64 draws ``(rows, *shape)``, like :func:`gaussian`."""
    return _draw("uniform", source, rows, tuple(shape), device)


def is_matrix_group(group: Group) -> bool:
    """O(d), SO(d) (elements are matrices) or E(d), SE(d) (homogeneous matrices)."""
    return isinstance(group, (Orthogonal, Euclidean))


def find_field(in_spec: Spec | None, rep_type: type, field: str | None = None) -> str:
    """``field`` if given, else the first field of ``in_spec`` whose rep is a ``rep_type``."""
    if field is not None:
        return field
    for name, f in (in_spec or {}).items():
        if isinstance(f.rep, rep_type):
            return name
    raise ConfigError("field", f"no {rep_type.__name__} field in the input spec {in_spec!r}; "
                      "name the field")


def follow_dtype(module: nn.Module, sample: Mapping[str, object],
                 dtype: torch.dtype | None = None) -> None:
    """Cast ``module``'s floating parameters to ``dtype`` (default: that of the sample's first
    floating tensor).

    ``Module.to`` keeps the parameter objects, so optimizers holding them are unaffected.
    """
    dtype = dtype or next((v.dtype for v in sample.values()
                           if isinstance(v, Tensor) and v.is_floating_point()), None)
    param = next((p for p in module.parameters() if p.is_floating_point()), None)
    if dtype is not None and param is not None and param.dtype != dtype:
        module.to(dtype)


def collapsed_points(pos: Tensor, mask: Tensor, rho: Tensor, tol: float) -> Tensor:
    """Samples whose valid points coincide up to rounding (or that have none), ``(B,)`` bool:
    the spread ``rho`` is at most ``tol`` times the largest coordinate norm."""
    size = (pos.detach().norm(dim=-1) * mask).amax(-1) if pos.shape[1] else rho.new_zeros(
        pos.shape[0])
    return (rho.detach() <= tol * size) | ~mask.any(-1)


def sample_device(sample: Mapping[str, object]) -> torch.device:
    """The device of the first tensor in a sample."""
    return next(v.device for v in sample.values() if isinstance(v, Tensor))
