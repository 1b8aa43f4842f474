"""The shared symmetrizer: ``y = sum_k w_k(x) . g_k . backbone(g_k^-1 . x)``.

Every kind of symmetrizer answers one question, :meth:`Symmetrizer.elements`: *for this input,
which group elements, with which weights?* The forward pass below is shared: the ``K`` copies
of a batch go through the backbone as one batched call (chunked to at most ``chunk_size``
copies), which keeps the cost of ``K`` elements at about ``K`` backbone calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Integral

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Element, Group, element_size, map_element
from symkit.spec import Spec
from symkit.symmetrizers._actions import AffineAction, act_fields
from symkit.symmetrizers._batching import (
    BatchLayout,
    Copies,
    backbone_output,
    batch_layout,
    check_finite,
    check_node_layout,
    data_dtype,
)
from symkit.symmetrizers._measuring import auto_budget, measure_per_copy
from symkit.symmetrizers._streaming import active_copies, stream_dense

__all__ = ["Symmetrizer", "Unsymmetrized", "cast_element", "tile_elements"]


def cast_element(g: Element, dtype: torch.dtype, device=None) -> Element:
    """Floating leaves of an element batch cast to ``dtype`` (integer encodings unchanged)."""
    return map_element(
        lambda t: t.to(dtype=dtype if t.is_floating_point() else t.dtype, device=device), g
    )


def tile_elements(g: Element, b: int) -> Element:
    """The same ``K`` elements for each of ``b`` samples, sample-major: size ``K`` -> ``b * K``."""
    return map_element(lambda t: t.repeat((b,) + (1,) * (t.ndim - 1)), g)


def _device(sample: Mapping[str, object]) -> torch.device:
    """The device of the sample's first tensor (CPU when it has none)."""
    return next((v.device for v in sample.values() if isinstance(v, Tensor)),
                torch.device("cpu"))


class Symmetrizer(nn.Module):
    """A model ``f(x) = sum_k w_k(x) g_k . backbone(g_k^-1 . x)`` equivariant over ``group``.

    Subclasses implement :meth:`elements` (and :meth:`supports`). Inputs are transformed with
    ``in_spec``, outputs with ``out_spec``; output fields that ``out_spec`` does not name are
    treated as invariant and averaged as they are.

    Args:
        backbone: any module mapping a sample dict to an output dict.
        group: the symmetry group.
        in_spec, out_spec: representations of the input and output fields.
        chunk_size: most copies per backbone call (``None``: all ``B * K`` copies in one call;
            ``"auto"``: calls of 16 to 32 MiB of activations on a CPU, from the backbone's
            measured activation bytes per copy, see :mod:`symkit.symmetrizers._streaming` and
            ``docs/cost-model.md``). ``None`` here; group averaging, frame averaging and
            canonicalization default to ``"auto"``, which was never slower than one call in
            ``benchmarks/RESULTS.md`` (one call of ``B K`` copies costs the backbone itself up
            to 2x ``K`` calls of ``B`` on a CPU with glibc's default malloc thresholds, mostly
            page faults; 1.14x with fixed ones: ``docs/cost-model.md``, "The allocator").

    Shapes:
        dense samples: fields ``(B, ...)``, optional ``mask: (B, N)`` bool (passed through).
        ragged samples: node fields ``(total_nodes, ...)``, ``batch: (total_nodes,)`` long,
        optional ``num_graphs``; per-graph fields ``(B, ...)``. ``B = 0`` (an empty batch)
        gives outputs with 0 rows.

    Raises:
        ConfigError: ``chunk_size`` is not a positive int, ``"auto"`` or ``None`` (at
            construction; from YAML the message is prefixed with the symmetrizer's key).
        SampleError: a (valid) value of an input field of the spec is NaN or Inf; names the
            sample and the field, before any element is computed.
        SpecError: a ragged batch on a group that permutes nodes (names the ``batch`` field;
            :func:`~symkit.symmetrizers._batching.check_node_layout`).
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec,
        *, chunk_size: int | str | None = None,
    ):
        super().__init__()
        if not (chunk_size is None or chunk_size == "auto" or (
                isinstance(chunk_size, Integral) and not isinstance(chunk_size, bool)
                and chunk_size > 0)):
            raise ConfigError(None, f"chunk_size must be a positive int, 'auto' or None, got "
                                    f"{chunk_size!r}")
        self.backbone, self.group = backbone, group
        self.in_spec, self.out_spec = in_spec, out_spec
        self.chunk_size = chunk_size
        #: ``chunk_size = "auto"``: measured activation bytes per copy, per input shape
        self._activation_bytes: dict = {}
        self._metrics: dict[str, float | Callable[[], float]] = {}
        #: per-sample flags of the last forward, ``(B,)`` bool or ``None`` (nothing flagged):
        #: ``True`` where the input was degenerate for this symmetrizer (a non-trivial
        #: stabilizer, a tie, ...) so that the output is equivariant in distribution only;
        #: unflagged samples are exact whenever :attr:`is_exact` holds.
        self.flagged: Tensor | None = None
        #: :meth:`copy_outputs`: the one slot ``k`` of :meth:`elements` that forwards keep
        self._slot: int | None = None

    # -- what subclasses answer ---------------------------------------------------------------
    @classmethod
    def supports(cls, group: Group) -> bool:
        """Whether this symmetrizer is equivariant (exactly or in expectation) on ``group``."""
        return True

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Element, Tensor]:
        """The elements ``g`` (size ``B * K``, sample-major) and weights ``(B, K)`` summing to 1."""
        raise NotImplementedError

    # -- shared forward -----------------------------------------------------------------------
    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        layout = batch_layout(sample, self.in_spec)
        check_node_layout(self.group, layout, type(self).__name__)
        check_finite(sample, self.in_spec, layout)
        dtype = data_dtype(sample, self.in_spec)
        self.flagged = None
        g, weights = self.elements(sample)
        if self._slot is not None:  # copy_outputs: slot k alone, weight 1
            b, k = weights.shape
            g = self.group.index(g, torch.arange(b, device=weights.device) * k + self._slot)
            weights = weights.new_ones(b, 1)
        device = weights.device
        precise = g
        g = cast_element(g, dtype, device)
        k = weights.shape[1]
        assert element_size(g) == layout.size * k, "elements() must return B * K elements"
        action = AffineAction.of(self.group, g, dtype, precise=precise)
        auto = self.chunk_size == "auto"
        if action is not None and not layout.ragged and layout.size > 0:
            return stream_dense(
                self.backbone, self.in_spec, self.out_spec, sample, action, weights,
                None if auto else self.chunk_size, self._activation_bytes if auto else None)
        copies = Copies(sample, layout, k)
        kept = active_copies(weights)
        if kept is not None:  # copies of weight 0 add nothing and are not computed
            kept = torch.nonzero(kept.reshape(-1)).flatten()
            copies.select(kept)
            g = self.group.index(g, kept)
            if action is not None:
                action = action.index(kept)
        if action is not None:  # one batched matmul per field, no inverse elements built
            copies.sample = action.apply(self.in_spec, copies.sample, copies, inverse=True)
        else:
            copies.sample = self._act(self.in_spec, self.group.inverse(g), copies.sample, copies)
        if auto and copies.size:
            parts = self._auto_calls(sample, copies)
        else:
            chunk = None if auto else self.chunk_size  # auto, no copies: one (empty) call
            parts = [backbone_output(self.backbone(part), self._layout(part))
                     for part in copies.chunks(chunk)]
        if len(parts) == 1:
            y = dict(parts[0])
        else:
            y = {name: torch.cat([p[name] for p in parts], dim=0) for name in parts[0]}
        if action is not None:
            y = action.apply(self.out_spec, y, copies, inverse=False)
        else:
            y = self._act(self.out_spec, g, y, copies)
        out = {}
        for name, v in y.items():
            if kept is not None and not copies.is_node_level(v):  # skipped copies: 0
                v = v.new_zeros((layout.size * k, *v.shape[1:])).index_copy(0, kept, v)
                out[name] = self._average(v, weights, copies, layout, node_level=False)
            else:
                out[name] = self._average(v, weights, copies, layout)
        return out

    def copy_outputs(self, sample: Mapping[str, Tensor]
                     ) -> list[tuple[Tensor, dict[str, Tensor]]] | None:
        """What the forward averages: per slot ``k`` of :meth:`elements`, the weights
        ``w_{:, k}`` and the outputs ``g_k . backbone(g_k^-1 . x)`` (each slot through the
        forward of this model, so centring, layouts and output actions are those of the
        average). ``None`` where the model has no elements (its forward averages nothing).

        The size of these copies is the scale of the average: an output that cancels (a dipole
        of methane, forced to 0 by its point group) is rounding of numbers this large, which is
        what :func:`symkit.testing.check_outcomes` measures its error against. Elements drawn
        at random (flagged samples, Monte-Carlo averaging) are drawn afresh for each slot.

        Returns:
            ``[(weights (B,), outputs)]`` for ``k = 0 .. K - 1``, outputs as the forward's.
        """
        if type(self).elements is Symmetrizer.elements:
            return None
        with torch.no_grad():
            weights = self.elements(sample)[1]
            out = []
            try:
                for k in range(weights.shape[1]):
                    self._slot = k
                    out.append((weights[:, k], dict(self(sample))))
            finally:
                self._slot = None
        return out

    def _auto_calls(self, sample: Mapping[str, Tensor], copies: Copies) -> list:
        """``chunk_size = "auto"`` on the sample-major copies (ragged batches, other groups):
        the first call of an input shape measures the backbone's activation bytes per copy on
        ``B`` copies (a dry call, :func:`~symkit.symmetrizers._measuring.measure_per_copy`);
        the copies then go in calls of ``M`` to ``2 M`` bytes (``M`` the budget of
        :func:`~symkit.symmetrizers._measuring.auto_budget`): one call when all of them stay
        under ``2 M``, else ``floor(T / M)`` balanced calls for ``T`` bytes in all."""
        key = ("copies",) + tuple((n, tuple(v.shape[1:]), v.dtype) for n, v in sample.items()
                                  if isinstance(v, Tensor) and v.ndim > 0)
        per_copy = self._activation_bytes.get(key)
        size = copies.size
        if per_copy is None:  # a dry call on B copies (dropped): every forward, one plan
            first = min(size, max(copies.layout.size, 1))
            per_copy = self._activation_bytes[key] = measure_per_copy(
                self.backbone, copies.piece(0, first), first)
        budget = auto_budget(_device(sample))
        total = size * per_copy
        calls = 1 if total < 2 * budget else total // budget
        step = max(1, -(-size // calls))
        pieces = (copies.piece(i, min(i + step, size)) for i in range(0, size, step))
        return [backbone_output(self.backbone(part), self._layout(part)) for part in pieces]

    def _layout(self, part: Mapping[str, object]) -> tuple:
        """What :func:`backbone_output` checks the backbone's output for ``part`` against."""
        return self.group, self.in_spec, self.out_spec, part

    def _act(
        self, spec: Spec, g: Element, sample: dict[str, object], copies: Copies
    ) -> dict[str, object]:
        """Apply one element per copy to the spec's fields (per node in ragged node fields)."""
        return act_fields(spec, self.group, g, sample, copies.is_node_level, copies.graph)

    @staticmethod
    def _average(y: Tensor, weights: Tensor, copies: Copies, layout: BatchLayout,
                 node_level: bool | None = None) -> Tensor:
        """``sum_k w[b, k] y[b * K + k]`` per sample (per node in ragged node outputs:
        ``node_level``, told by ``copies`` when ``None``)."""
        if copies.is_node_level(y) if node_level is None else node_level:
            w = weights.reshape(-1)[copies.source_copy(copies.graph)].to(y.dtype)
            w = w.reshape((-1,) + (1,) * (y.ndim - 1))
            out = y.new_zeros((layout.num_nodes, *y.shape[1:]))
            return out.index_add_(0, copies.node, y * w)
        if copies.k == 1 and not weights.requires_grad:  # weight 1: nothing to average
            return y
        y = y.reshape(layout.size, copies.k, *y.shape[1:])
        if not y.is_floating_point():
            return y[:, 0]
        w = weights.to(y.dtype).reshape(weights.shape + (1,) * (y.ndim - 2))
        return (y * w).sum(dim=1)

    # -- training hooks -----------------------------------------------------------------------
    def extra_losses(self) -> dict[str, Tensor]:
        """Losses to add to the task loss (none for exact symmetrizers)."""
        return {}

    def metrics(self) -> dict[str, float]:
        """Diagnostics of the last batch (e.g. ``degenerate_fraction``).

        Values may be stored as zero-argument callables, evaluated here: the forward pass then
        never waits on a reduction that nobody reads.
        """
        return {k: float(v() if callable(v) else v) for k, v in self._metrics.items()}

    @property
    def is_exact(self) -> bool:
        """Whether the current mode is exactly equivariant (not Monte-Carlo) on generic inputs."""
        return True

    def num_elements(self) -> int | None:
        """``K`` in the current mode when it does not depend on the input, else ``None``."""
        return None


class Unsymmetrized(nn.Module):
    """The bare backbone with the model interface: no symmetry guarantee.

    Args:
        backbone: any module mapping a sample dict to an output dict.
        group, in_spec, out_spec: recorded for checks and reports only.
    """

    def __init__(self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec):
        super().__init__()
        self.backbone, self.group = backbone, group
        self.in_spec, self.out_spec = in_spec, out_spec

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.backbone(sample)

    def extra_losses(self) -> dict[str, Tensor]:
        extra = getattr(self.backbone, "extra_losses", None)
        return extra() if callable(extra) else {}

    def metrics(self) -> dict[str, float]:
        return {}
