"""The dense fast path of the shared forward: element by element, no K-fold copy of the batch.

For a dense batch of ``B`` samples, ``K`` elements per sample and an :class:`AffineAction`
(orthogonal matrices and/or translations), the forward

    y_b = sum_k w_bk g_bk . backbone(g_bk^-1 . x_b)

is evaluated in *element-major* calls: a call takes the rows ``b0:b1`` of the batch and the
elements ``k0:k1`` (copy ``j * (b1 - b0) + b`` is element ``k0 + j`` of sample ``b0 + b``), so
with one element per call (``chunk_size = B``, what ``"auto"`` picks for large backbones) the
backbone sees the batch itself, only transformed: ``g^-1 . x = R^T (x - t)`` is one batched
matmul of the ``(B, N, d)`` field, never a tiled ``(B K, N, d)`` copy. The output action and the
average are fused and accumulated per element,

    y_b = sum_k (w_bk R_bk) y_bk  +  sum_k w_bk t_bk,

so nothing of size ``K`` outlives its backbone call (memory per call is the backbone's, and the
allocator keeps reusing the same blocks, as in a plain loop over the elements). The weighted
translation is summed at the element's (finer) precision and added once. The results equal the
sample-major path's up to rounding; calls are independent of how the copies are chunked except
through the backbone itself.

**Automatic chunks.** ``chunk_size = "auto"`` measures the backbone's activations on the first
call of an input shape (forward hooks on its leaf modules sum the bytes of their outputs, the
activations an inference forward allocates) and then packs calls up to :data:`AUTO_BUDGET`
bytes: several elements per call for small backbones (fewer, larger calls), sub-batches of one
element for large ones (activations that stay in cache and below the allocator's reuse
threshold). See ``docs/cost-model.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from symkit.reps import Point, Scalar, Vector
from symkit.spec import Spec
from symkit.symmetrizers._actions import AffineAction, add_shift

__all__ = ["AUTO_BUDGET", "auto_budget", "stream_dense", "activation_bytes"]

#: bytes of backbone activations per call that ``chunk_size = "auto"`` aims for on a CPU (16 MiB:
#: below glibc's largest reusable block, 32 MiB, and about a last-level cache)
AUTO_BUDGET = 16 * 2**20
#: on a CUDA device: this fraction of the free memory, at most ``AUTO_BUDGET_CUDA_MAX`` bytes
AUTO_BUDGET_CUDA_FRACTION = 0.25
AUTO_BUDGET_CUDA_MAX = 8 * 2**30


def auto_budget(device: torch.device) -> int:
    """Activation bytes per backbone call that ``chunk_size = "auto"`` aims for on ``device``.

    A CPU wants calls that stay in cache and in the allocator's reusable blocks
    (:data:`AUTO_BUDGET`, measured in ``benchmarks/symmetrizer_overhead.py``); a GPU wants as
    few, large calls as fit: a quarter of the free device memory, at most 8 GiB (on an H200 one
    unchunked call of 8 elements ran 3x faster than 8 calls, and 16 MiB calls 2-8x slower).
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(min(free * AUTO_BUDGET_CUDA_FRACTION, AUTO_BUDGET_CUDA_MAX))
    return AUTO_BUDGET


def activation_bytes(backbone: nn.Module, sample: Mapping[str, object]) -> tuple[object, int]:
    """Call ``backbone(sample)`` and sum the bytes of every leaf module's tensor outputs.

    Returns:
        the backbone's output and the byte count (0 when it has no leaf module with a tensor
        output, e.g. a purely functional backbone).
    """
    total = [0]

    def hook(module, args, output):
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, Tensor):
                total[0] += t.numel() * t.element_size()

    leaves = [m for m in backbone.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        out = backbone(sample)
    finally:
        for h in handles:
            h.remove()
    return out, total[0]


def _plan(b: int, k: int, per_copy: int | None, chunk: int | None,
          budget: int = AUTO_BUDGET) -> tuple[int, int]:
    """(samples per call, elements per call) for ``chunk`` copies per call or a byte budget."""
    if chunk is None and per_copy is None:
        return b, k
    if chunk is None:  # auto: copies per call from the measured activation bytes
        chunk = max(1, budget // max(per_copy, 1))
    if chunk >= b:
        return b, max(1, min(k, chunk // b))
    calls = -(-b // max(1, chunk))  # sub-batches of one element, balanced
    return -(-b // calls), 1


def stream_dense(
    backbone: Callable[[dict[str, object]], Mapping[str, Tensor]],
    in_spec: Spec,
    out_spec: Spec,
    sample: Mapping[str, object],
    action: AffineAction,
    weights: Tensor,
    chunk_size: int | None,
    auto: dict | None = None,
) -> dict[str, Tensor]:
    """``sum_k w_bk g_bk . backbone(g_bk^-1 . x_b)`` for a dense batch, element-major.

    Args:
        backbone: maps a sample dict to an output dict.
        in_spec, out_spec: the symmetrizer's specs.
        sample: dense sample, ``B > 0`` rows in every per-sample tensor.
        action: the elements' action, ``B * K`` elements, sample-major.
        weights: ``(B, K)``.
        chunk_size: most copies per call (``None``: all ``B * K``) unless ``auto`` is given.
        auto: a cache ``{shape signature: activation bytes per copy}`` for
            ``chunk_size = "auto"`` (``None``: use ``chunk_size``).

    Shapes:
        per-sample tensors ``(B, ...)`` in, ``(B, ...)`` out.
    """
    b, k = weights.shape
    per_copy = None
    key = None
    if auto is not None:
        key = tuple((n, tuple(v.shape[1:]), v.dtype) for n, v in sample.items()
                    if isinstance(v, Tensor) and v.ndim > 0)
        per_copy = auto.get(key)
    rows = torch.arange(b, device=weights.device) * k
    acc: dict[str, Tensor] = {}
    shift_sum = None
    if action.shift is not None:
        shift_sum = (weights.to(action.shift.dtype)[..., None]
                     * action.shift.reshape(b, k, -1)).sum(1)
    budget = auto_budget(weights.device) if auto is not None else AUTO_BUDGET
    b_step, k_step = _plan(b, k, per_copy, chunk_size if auto is None else None, budget)
    if auto is not None and per_copy is None:
        b_step, k_step = b, 1  # the first call measures one element on the whole batch
    k0 = 0
    while k0 < k:
        k1 = min(k, k0 + k_step)
        for b0 in range(0, b, b_step):
            b1 = min(b, b0 + b_step)
            idx = (rows[b0:b1][None] + torch.arange(k0, k1, device=rows.device)[:, None])
            act = action.index(idx.reshape(-1))
            part = _rows(sample, b, b0, b1, k1 - k0)
            part = act.apply(in_spec, part, None, inverse=True)
            if auto is not None and per_copy is None:
                y, nbytes = activation_bytes(backbone, part)
                per_copy = max(1, nbytes // max(b1 - b0, 1))
                auto[key] = per_copy
            else:
                y = backbone(part)
            w = weights[b0:b1, k0:k1].t()  # (elements, rows): element-major like the copies
            _accumulate(acc, y, out_spec, act, w, (b0, b1, b), first=k0 == 0)
        k0 = k1
        if auto is not None and k_step == 1 and b_step == b and k0 == 1:
            b_step, k_step = _plan(b, k, per_copy, None, budget)
    return {name: _finish(v, name, out_spec, shift_sum) for name, v in acc.items()}


def _rows(sample: Mapping[str, object], b: int, b0: int, b1: int, reps: int
          ) -> dict[str, object]:
    """Rows ``b0:b1`` of every per-sample tensor, repeated ``reps`` times (element-major)."""
    out: dict[str, object] = {}
    for name, v in sample.items():
        if isinstance(v, Tensor) and v.ndim > 0 and v.shape[0] == b:
            v = v if (b0, b1) == (0, b) else v[b0:b1]
            if reps > 1:
                v = v.repeat((reps,) + (1,) * (v.ndim - 1))
        out[name] = v
    return out


def _accumulate(acc: dict[str, Tensor], y: Mapping[str, Tensor], out_spec: Spec,
                act: AffineAction, w: Tensor, rows: tuple[int, int, int], *, first: bool
                ) -> None:
    """Add ``sum_j w_j g_j . y_j`` of one call into the per-sample sums ``acc``.

    ``rows = (b0, b1, B)``: the call's samples; ``first``: it holds element 0 (the one whose
    value non-floating outputs keep, as the sample-major path does).
    """
    e, n = w.shape
    for name, v in y.items():
        v = v.reshape(e, n, *v.shape[1:])
        field = out_spec[name] if name in out_spec else None
        rep = type(field.rep) if field is not None else Scalar
        if not v.is_floating_point():
            if first:
                _put_rows(acc, name, v[0], rows, add=False)
            continue
        for j in range(e):
            vj = v[j]
            if rep is Vector or rep is Point:
                term = act.rotate_rows(vj, j * n, (j + 1) * n, w[j])
            else:
                if rep is not Scalar:
                    vj = act.act_rows(field, vj, j * n, (j + 1) * n)
                term = vj * w[j].to(vj.dtype).reshape((n,) + (1,) * (vj.ndim - 1))
            _put_rows(acc, name, term, rows, add=True)


def _put_rows(acc: dict[str, Tensor], name: str, term: Tensor, rows: tuple[int, int, int], *,
              add: bool) -> None:
    """``acc[name][b0:b1] (+)= term``, allocating ``acc[name]`` (``B`` rows) on first use;
    in place unless autograd records the accumulator."""
    b0, b1, b = rows
    prev = acc.get(name)
    if prev is None:
        if (b0, b1) == (0, b):
            acc[name] = term
            return
        prev = acc[name] = term.new_zeros((b, *term.shape[1:]))
    if (b0, b1) == (0, b):
        acc[name] = prev + term if add else term
    elif torch.is_grad_enabled() and (prev.requires_grad or term.requires_grad):
        mid = prev[b0:b1] + term if add else term
        acc[name] = torch.cat([prev[:b0], mid, prev[b1:]])
    elif add:
        prev[b0:b1] += term
    else:
        prev[b0:b1] = term


def _finish(v: Tensor, name: str, out_spec: Spec, shift_sum: Tensor | None) -> Tensor:
    """Add the weighted translation ``sum_k w_k t_k`` to point outputs."""
    field = out_spec[name] if name in out_spec else None
    if field is None or type(field.rep) is not Point or shift_sum is None:
        return v
    if v.shape[-1] != shift_sum.shape[-1]:
        return v
    flat = v.reshape(v.shape[0], math.prod(v.shape[1:-1]), v.shape[-1])
    return add_shift(flat, shift_sum, 1.0).reshape(v.shape)
