"""The dense fast path of the shared forward: element by element, no K-fold copy of the batch.

For a dense batch of ``B`` samples, ``K`` elements per sample and an :class:`AffineAction`
(orthogonal matrices and/or translations), the forward

    y_b = sum_k w_bk g_bk . backbone(g_bk^-1 . x_b)

is evaluated in *element-major* calls: a call takes the rows ``b0:b1`` of the batch and the
elements ``k0:k1`` (copy ``j * (b1 - b0) + b`` is element ``k0 + j`` of sample ``b0 + b``), so
with one element per call (``chunk_size = B``, what ``"auto"`` picks for large backbones) the
backbone sees the batch itself, only transformed: ``g^-1 . x = (x - t) R`` (rows) is one batched
matmul of the ``(B, N, d)`` field, never a tiled ``(B K, N, d)`` copy. When the elements of a
sample share their translation (frames and canonicalizers centre on the sample's centroid
``c_b``), ``x - c_b`` is computed once, at the translation's precision, for all ``K``. The
output action and the average are fused and accumulated per call with pre-weighted matrices,

    y_b = sum_k (w_bk R_bk) y_bk  +  sum_k w_bk t_bk,

so nothing of size ``K`` outlives its backbone call. The weighted translation is summed at the
element's (finer) precision and added once.

**Zero weights cost nothing.** A copy whose weight is exactly 0 (the extra slots of a sample
with fewer elements than the batch's ``K``: canonicalization's undecided signs, padded finite
frame sets) adds ``0 . y = 0`` to the sum, so it is not computed: a call holds only the copies
of non-zero weight (gathered rows; element 0 of every sample always runs, it gives non-floating
outputs). Results are those of the full computation for any finite backbone output. Not done
when autograd records the weights (their gradient at ``w = 0`` is the copy's output).

**Automatic chunks.** ``chunk_size = "auto"`` measures the backbone's activations once per
input shape, by a dry call of element 0 on the batch (:func:`measure_per_copy`: forward hooks
on its leaf modules sum the bytes of their outputs, the activations of one forward; it runs
in the caller's autograd mode and leaves module modes and the random state as they were; its
output is dropped, so every forward, the first included, runs the same calls and
gives the same bits) and plans calls against a byte budget ``M``
(:func:`auto_budget`, :func:`_plan`): calls hold under ``2 M`` bytes of activations (several
elements, counting only their copies of non-zero weight, when they fit), and a batch is split
into sub-batches only when one element's call reaches ``2 M``, each piece keeping at least
``M`` (so the backbone's fixed cost per call stays amortized). See ``docs/cost-model.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from symkit.reps import Point, Scalar, Vector
from symkit.spec import Spec
from symkit.symmetrizers._actions import AffineAction, add_shift
from symkit.symmetrizers._batching import backbone_output

__all__ = ["AUTO_BUDGET", "auto_budget", "stream_dense", "activation_bytes", "active_copies",
           "measure_per_copy"]

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


def activation_bytes(backbone: Callable, sample: Mapping[str, object]) -> tuple[object, int]:
    """Call ``backbone(sample)`` and sum the bytes of every leaf module's tensor outputs.

    Returns:
        the backbone's output and the byte count of the tensors its leaf modules return (in
        nested tuples, lists and dicts too; 0 when none returns a tensor, e.g. a plain
        function).
    """
    total = [0]
    leaves = _hookable_leaves(backbone)

    def hook(module, args, output):
        total[0] += _tensor_bytes(output)

    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        out = backbone(sample)
    finally:
        for h in handles:
            h.remove()
    return out, total[0]


def _tensor_bytes(output: object) -> int:
    """Bytes of the tensors in a module's output, nested tuples, lists and dicts included (an
    LSTM's ``(out, (h, c))``, a leaf module that returns a dict of fields)."""
    if isinstance(output, Tensor):
        return output.numel() * output.element_size()
    if isinstance(output, Mapping):
        output = output.values()
    elif not isinstance(output, (tuple, list)):
        return 0
    return sum(_tensor_bytes(v) for v in output)


def _hookable_leaves(backbone: Callable) -> list[nn.Module]:
    """The leaf modules of ``backbone`` that take forward hooks: TorchScript modules (and the
    modules inside them) take none, so they are not measured."""
    if not isinstance(backbone, nn.Module):
        return []
    return [m for m in backbone.modules() if not isinstance(m, torch.jit.ScriptModule)
            and not any(True for _ in m.children())]


def measure_per_copy(backbone: Callable, sample: Mapping[str, object], copies: int) -> int:
    """Activation bytes per copy of ``backbone`` on ``sample`` (``copies`` copies), measured by a
    dry call whose output is dropped.

    The dry call runs as the real calls will, in the caller's autograd mode (a backbone that
    differentiates inside its forward, e.g. forces ``-dE/dx`` by :func:`torch.autograd.grad`,
    needs it), with every module in eval mode (each module's own mode restored: no running
    statistics change, no dropout) and inside :func:`torch.random.fork_rng` (the global random
    state is restored: a backbone that draws random numbers draws the same ones in the real
    calls). The real calls then follow one plan on every forward, the first included (the same
    outputs, bit for bit, on every call).

    A backbone with no leaf module to measure (a plain function, a TorchScript module: those
    take no hooks) gets no dry call and 1 byte per copy, i.e. all copies in one call."""
    if not _hookable_leaves(backbone):
        return 1
    modes = [(m, m.training) for m in backbone.modules()]
    devices = sorted({v.device.index or 0 for v in sample.values()
                      if isinstance(v, Tensor) and v.device.type == "cuda"})
    try:
        for m, _ in modes:
            m.training = False
        with torch.random.fork_rng(devices=devices):
            _, nbytes = activation_bytes(backbone, sample)
    finally:
        for m, mode in modes:
            m.training = mode
    return max(1, nbytes // max(copies, 1))


def active_copies(weights: Tensor) -> Tensor | None:
    """Which copies ``(b, k)`` must run: ``None`` when all do, else ``(B, K)`` bool.

    A copy of weight exactly 0 adds nothing; element 0 of every sample always runs (it defines
    non-floating outputs). All copies run while autograd records ``weights``.
    """
    if weights.shape[1] < 2 or (weights.requires_grad and torch.is_grad_enabled()):
        return None
    keep = weights != 0
    keep[:, 0] = True
    return None if bool(keep.all()) else keep


def _active_counts(weights: Tensor) -> tuple[Tensor | None, list[int]]:
    """:func:`active_copies` and the number of active copies per element ``(K,)``, with one
    host read for both."""
    b, k = weights.shape
    if k < 2 or (weights.requires_grad and torch.is_grad_enabled()):
        return None, [b] * k
    keep = weights != 0
    keep[:, 0] = True
    counts = keep.sum(0).tolist()
    return (None if all(c == b for c in counts) else keep), counts


def _plan(b: int, k: int, per_copy: int | None, chunk: int | None,
          budget: int = AUTO_BUDGET) -> tuple[int, int]:
    """(samples per call, elements per call) for ``chunk`` copies per call or a byte budget.

    ``chunk``: whole elements per call when ``chunk >= b``, else balanced sub-batches of one
    element. Budget ``M`` (``per_copy`` bytes given, ``chunk`` None), with ``A = b per_copy``
    the activations of one element on the batch: calls are cut below ``2 M``, whole elements
    per call (``floor((2 M - 1) / A)``) while ``A < 2 M``; else one element per call in
    ``m = floor(A / M)`` balanced sub-batches, rounded *down* so that every sub-batch still
    carries at least ``M`` bytes: calls hold ``M`` to ``2 M`` bytes, never split into calls
    whose fixed cost outweighs the cache gain.
    """
    if chunk is None and per_copy is None:
        return b, k
    if chunk is None:  # auto: from the measured activation bytes
        whole = max(per_copy, 1) * b
        if whole < 2 * budget:
            return b, max(1, min(k, (2 * budget - 1) // whole))
        return -(-b // (whole // budget)), 1
    if chunk >= b:
        return b, max(1, min(k, chunk // b))
    calls = -(-b // max(1, chunk))  # sub-batches of one element, balanced
    return -(-b // calls), 1


class _Call:
    """The copies of one backbone call, element-major: all of ``k0:k1`` x ``b0:b1`` (``flat``
    False), or the listed ``(ks[c], bs[c])`` (``flat``: the active ones of that block)."""

    def __init__(self, k0: int, k1: int, b0: int, b1: int, b: int, active: Tensor | None):
        self.k0, self.k1, self.b0, self.b1, self.b = k0, k1, b0, b1, b
        self.e, self.n = k1 - k0, b1 - b0
        self.flat = active is not None
        if self.flat:
            j, i = torch.nonzero(active, as_tuple=True)  # active: (e, n), element-major order
            self.ks, self.bs = j + k0, i + b0
        self.size = self.ks.shape[0] if self.flat else self.e * self.n
        self.whole = not self.flat and (b0, b1) == (0, b)

    def per_sample(self, v: Tensor) -> Tensor:
        """Rows of a ``(B, ...)`` tensor for the call's copies."""
        if self.flat:
            return v[self.bs]
        v = v if self.whole else v[self.b0:self.b1]
        return v.repeat((self.e,) + (1,) * (v.ndim - 1)) if self.e > 1 else v

    def per_copy(self, v: Tensor) -> Tensor:
        """Rows of an element-major ``(K, B, ...)`` tensor for the call's copies."""
        if self.flat:
            return v[self.ks, self.bs]
        v = v[self.k0:self.k1, self.b0:self.b1]
        return v[0] if self.e == 1 else v.reshape(self.size, *v.shape[2:])

    def elements(self, k: int, device) -> Tensor:
        """Indices of the call's copies in the sample-major element batch (``b * K + k``)."""
        if self.flat:
            return self.bs * k + self.ks
        rows = torch.arange(self.b0, self.b1, device=device) * k
        return (rows[None] + torch.arange(self.k0, self.k1, device=device)[:, None]).reshape(-1)


class _Transforms:
    """The action in element-major form, weights folded into the output matrices.

    Shapes:
        inv: ``(K, B, d, d)`` (rows: ``v -> v R``); out: ``(K, B, d, d)`` (``w R^T``);
        w: ``(K, B)``; centre: ``(B, d)`` shared translation or ``None``; shift: ``(K, B, d)``.
    """

    def __init__(self, action: AffineAction, weights: Tensor):
        b, k = weights.shape
        self.action, self.k = action, k
        self.w = weights.t()
        rot = action.rot
        self.inv = self.out = None
        if rot is not None:
            rot = rot.reshape(b, k, *rot.shape[1:]).transpose(0, 1)
            self.inv = rot
            self.out = (rot * self.w.to(rot.dtype)[..., None, None]).transpose(-1, -2)
        self.centre = self.shift = None
        if action.shift is not None:
            shift = action.shift.reshape(b, k, -1)
            if k == 1 or torch.equal(shift, shift[:, :1].expand_as(shift)):
                self.centre = shift[:, 0]
            else:
                self.shift = shift.transpose(0, 1)
        self._centred: dict[str, Tensor] = {}

    def inputs(self, spec: Spec, sample: Mapping[str, object], call: _Call
               ) -> dict[str, object]:
        """The call's backbone input: its copies' ``g^-1 . x`` for the spec's fields, rows of
        the other per-sample tensors."""
        b = call.b
        out: dict[str, object] = {}
        other = []
        for name, v in sample.items():
            if not (isinstance(v, Tensor) and v.ndim > 0 and v.shape[0] == b):
                out[name] = v
                continue
            field = spec[name] if name in spec else None
            rep = type(field.rep) if field is not None else Scalar
            if rep is Vector or rep is Point:
                out[name] = self._inverse(name, v, call, point=rep is Point)
            else:
                out[name] = call.per_sample(v)
                if rep is not Scalar:
                    other.append(name)
        if other:
            act = self.action.index(call.elements(self.k, self.w.device))
            for name in other:
                out[name] = act._field(spec[name], out[name], True)
        return out

    def _inverse(self, name: str, x: Tensor, call: _Call, *, point: bool) -> Tensor:
        flat = x.reshape(x.shape[0], math.prod(x.shape[1:-1]), x.shape[-1])
        if point and self.centre is not None:  # x - c once per sample, for every element
            if name not in self._centred:
                self._centred[name] = add_shift(flat, self.centre, -1.0)
            rows = call.per_sample(self._centred[name])
        elif point and self.shift is not None:
            rows = add_shift(call.per_sample(flat), call.per_copy(self.shift), -1.0)
        else:
            rows = call.per_sample(flat)
        if self.inv is not None:
            rows = torch.bmm(rows, call.per_copy(self.inv).to(x.dtype))
        return rows.reshape(call.size, *x.shape[1:])

    def outputs(self, acc: dict[str, Tensor], y: Mapping[str, Tensor], spec: Spec,
                call: _Call) -> None:
        """Add ``sum_j w_j g_j . y_j`` of the call's copies into the per-sample sums ``acc``
        (non-floating outputs: element 0's value)."""
        for name, v in y.items():
            field = spec[name] if name in spec else None
            rep = type(field.rep) if field is not None else Scalar
            if not v.is_floating_point():
                _put(acc, name, v, call, zero_only=True)
                continue
            d = v.shape[-1]
            if (rep is Vector or rep is Point) and self.out is not None \
                    and self.out.shape[-1] == d:
                flat = v.reshape(v.shape[0], math.prod(v.shape[1:-1]), d)
                term = torch.bmm(flat, call.per_copy(self.out).to(v.dtype)).reshape(v.shape)
            else:
                if rep is not Scalar and rep is not Vector and rep is not Point:
                    act = self.action.index(call.elements(self.k, self.w.device))
                    v = field.act(act.group, act.g, v)
                w = call.per_copy(self.w).to(v.dtype)
                term = v * w.reshape((-1,) + (1,) * (v.ndim - 1))
            _put(acc, name, term, call, zero_only=False)


def _put(acc: dict[str, Tensor], name: str, term: Tensor, call: _Call, *, zero_only: bool
         ) -> None:
    """``acc[name][b] += term`` summed over the call's copies of each sample (``zero_only``:
    ``acc[name][b] = term`` of element 0's copies); allocates ``B`` rows on first use, in
    place unless autograd records the accumulator."""
    b = call.b
    if zero_only:
        if call.k0 != 0:
            return
        if call.flat:
            first = call.ks == 0
            term, rows = term[first], call.bs[first]
        else:
            term = term[:call.n]
    elif not call.flat and call.e > 1:
        term = term.reshape(call.e, call.n, *term.shape[1:]).sum(0)
    prev = acc.get(name)
    if prev is None and call.whole:
        acc[name] = term
        return
    if prev is None:
        prev = acc[name] = term.new_zeros((b, *term.shape[1:]))
    grad = torch.is_grad_enabled() and (prev.requires_grad or term.requires_grad)
    if call.flat:
        rows = rows if zero_only else call.bs
        if zero_only:
            acc[name] = prev.index_put((rows,), term) if grad else prev.index_put_((rows,), term)
        else:
            acc[name] = prev.index_add(0, rows, term) if grad else prev.index_add_(0, rows, term)
    elif call.whole:
        acc[name] = term if zero_only else prev + term
    elif grad:
        mid = term if zero_only else prev[call.b0:call.b1] + term
        acc[name] = torch.cat([prev[:call.b0], mid, prev[call.b1:]])
    elif zero_only:
        prev[call.b0:call.b1] = term
    else:
        prev[call.b0:call.b1] += term


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
        weights: ``(B, K)``; copies of weight exactly 0 are skipped (:func:`active_copies`).
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
    keep, counts = _active_counts(weights)  # counts: active copies per element
    partial = None if keep is None else [c < b for c in counts]  # per element: any skipped
    keep_t = None if keep is None else keep.t()
    tf = _Transforms(action, weights)
    acc: dict[str, Tensor] = {}
    budget = auto_budget(weights.device) if auto is not None else AUTO_BUDGET
    if auto is not None and per_copy is None:  # a dry call measures element 0 on the batch
        part = tf.inputs(in_spec, sample, _Call(0, 1, 0, b, b, None))
        per_copy = auto[key] = measure_per_copy(backbone, part, b)
    b_step, k_step = _plan(b, k, per_copy, chunk_size if auto is None else None, budget)
    k0 = 0
    while k0 < k:
        k1 = min(k, k0 + k_step)
        if auto is not None and per_copy is not None and b_step == b:  # sparse elements join
            while k1 < k and sum(counts[k0:k1 + 1]) * per_copy < 2 * budget:
                k1 += 1
        for b0 in range(0, b, b_step):
            b1 = min(b, b0 + b_step)
            active = None
            if partial is not None and any(partial[k0:k1]):
                if b_step == b and not sum(counts[k0:k1]):
                    continue
                active = keep_t[k0:k1, b0:b1]
                if b_step != b and not bool(active.any()):
                    continue
            call = _Call(k0, k1, b0, b1, b, active)
            part = tf.inputs(in_spec, sample, call)
            y = backbone_output(backbone(part), out_spec, action.group)
            tf.outputs(acc, y, out_spec, call)
        k0 = k1
    shift_sum = None
    if action.shift is not None:
        shift_sum = (weights.to(action.shift.dtype)[..., None]
                     * action.shift.reshape(b, k, -1)).sum(1)
    return {name: _finish(v, name, out_spec, shift_sum) for name, v in acc.items()}


def _finish(v: Tensor, name: str, out_spec: Spec, shift_sum: Tensor | None) -> Tensor:
    """Add the weighted translation ``sum_k w_k t_k`` to point outputs."""
    field = out_spec[name] if name in out_spec else None
    if field is None or type(field.rep) is not Point or shift_sum is None:
        return v
    if v.shape[-1] != shift_sum.shape[-1]:
        return v
    flat = v.reshape(v.shape[0], math.prod(v.shape[1:-1]), v.shape[-1])
    return add_shift(flat, shift_sum, 1.0).reshape(v.shape)
