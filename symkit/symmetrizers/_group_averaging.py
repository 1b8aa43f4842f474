"""Group averaging (the Reynolds operator): ``f(x) = E_{g ~ Haar} g . backbone(g^-1 x)``.

For a finite group the expectation is the exact mean over all ``|G|`` elements. For a compact
continuous group it is estimated with ``K`` i.i.d. Haar samples per input (``train_samples``
while training, ``eval_samples`` at evaluation): unbiased, equivariant in distribution, with an
error that falls like ``1/sqrt(K)``. Non-compact groups (translations, scaling) have no Haar
probability measure and are not supported; use frames or canonicalization for them.

**Translations.** The elements of a group without translations act about the origin, which
would tie the output to where the input happens to sit. With ``center`` (default) the point
fields are centred on the centroid of the first point field of the input (per sample, mask and
ragged aware) before averaging, and point outputs get the centroid back: the model is then also
exactly translation-equivariant (``f(x + t) = f(x) + t`` for points, invariant otherwise), and
stays G-equivariant (the centroid moves with ``x``).

**Gradient.** The elements do not depend on the input, so the gradient is the average of the
backbone's (plus the centroid's, with ``center``), exact for any K.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from symkit.groups import Group
from symkit.registry import register
from symkit.reps import Point
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer, tile_elements
from symkit.symmetrizers._batching import BatchLayout, batch_layout, check_finite, data_dtype
from symkit.symmetrizers._frames import point_moments

__all__ = ["GroupAveraging", "group_averaging"]


class GroupAveraging(Symmetrizer):
    """``1/K sum_k g_k . backbone(g_k^-1 x)`` over all elements or ``K`` Haar samples.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer` (default
            ``"auto"``: calls sized from the backbone's activations; ``None``: one call).
        train_samples: Haar samples per input while training (continuous or huge groups).
        eval_samples: Haar samples per input at evaluation.
        max_elements: a finite group with more elements than this is sampled instead.
        center: centre point fields on the input's centroid first (groups without
            translations; see the module docs).
        generator: random source for the samples.

    Raises:
        SampleError: an input holds a NaN or Inf (names the sample and field).
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        train_samples: int = 8, eval_samples: int = 32, max_elements: int = 1024,
        center: bool = True, chunk_size: int | str | None = "auto",
        generator: torch.Generator | None = None,
    ):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        self.center_field = None
        if center and "translation" not in group.kinds:
            self.center_field = next(
                (n for n, f in in_spec.items() if type(f.rep) is Point), None)
        if not self.supports(group):
            hint = ("; use group o3 or so3 (point fields are centred first, center: true, so "
                    "the average is translation-invariant too), or frame_averaging / "
                    "canonicalization, exact on E(d)"
                    if "translation" in group.kinds else "")
            raise ValueError(f"group_averaging needs a compact group, got {group!r}{hint}")
        self.train_samples, self.eval_samples = train_samples, eval_samples
        self.max_elements, self.generator = max_elements, generator

    @classmethod
    def supports(cls, group: Group) -> bool:
        """Whether every factor is finite or compact (then ``sample`` is its Haar measure).

        A factor is compact unless it says otherwise (``compact = False``, e.g. the Lorentz
        group) or has translations or scalings, which no compact group contains.
        """
        return all(_is_compact(f) for f in group.factors())

    @property
    def is_exact(self) -> bool:
        """Whether it averages over every element (a small enough finite group)."""
        return bool(self.group.is_finite) and (self.group.order or 0) <= self.max_elements

    def num_elements(self) -> int:
        if self.is_exact:
            return int(self.group.order)
        return self.train_samples if self.training else self.eval_samples

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        name = self.center_field
        if name is None or not isinstance(sample.get(name), Tensor):
            return super().forward(sample)
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        x = sample[name]
        c = point_moments(x, center=True, mask=sample.get("mask"), batch=layout.batch,
                          num_graphs=layout.size).center
        moved = _shift(self.in_spec, sample, c, layout, -1.0)
        return _shift(self.out_spec, super().forward(moved), c, layout, 1.0)

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[object, Tensor]:
        b = batch_layout(sample, self.in_spec).size
        dtype = data_dtype(sample, self.in_spec)
        device = next(
            (v.device for v in sample.values() if isinstance(v, Tensor)), torch.device("cpu")
        )
        k = self.num_elements()
        if dtype in (torch.float16, torch.bfloat16):  # built at float32, cast by the forward
            dtype = torch.float32
        if self.is_exact:
            g = tile_elements(self.group.elements(dtype=dtype, device=device), b)
        else:
            g = self.group.sample(b * k, generator=self.generator, dtype=dtype, device=device)
        return g, torch.full((b, k), 1.0 / k, dtype=dtype, device=device)


def _shift(spec: Spec, sample: Mapping[str, object], c: Tensor, layout: BatchLayout,
           sign: float) -> dict[str, object]:
    """``x + sign * c`` for every point field of ``spec`` in ``sample`` with ``c``'s dimension.

    Shapes:
        c: ``(B, d)``; dense fields ``(B, ..., d)``; ragged node fields ``(total, ..., d)``.
    """
    out = dict(sample)
    d = c.shape[-1]
    for name, field in spec.items():
        x = out.get(name)
        if type(field.rep) is not Point or not isinstance(x, Tensor) or x.shape[-1] != d:
            continue
        shift = c[layout.batch] if layout.ragged and x.shape[0] == layout.num_nodes else c
        shift = shift.to(x.dtype).reshape(shift.shape[0], *(1,) * (x.ndim - 2), d)
        out[name] = x + sign * shift
    return out


def _is_compact(group: Group) -> bool:
    if group.is_finite:
        return True
    return bool(getattr(group, "compact", True)) and not _NON_COMPACT_KINDS & set(group.kinds)


#: kinds of element that only non-compact groups have
_NON_COMPACT_KINDS = {"translation", "scaling", "boost"}


@register("symmetrizers", "group_averaging")
def group_averaging(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    train_samples: int = 8, eval_samples: int = 32, max_elements: int = 1024,
    center: bool = True, chunk_size: int | str | None = "auto",
) -> GroupAveraging:
    """Average over a finite group's elements (exact) or K Haar samples (Monte-Carlo)."""
    return GroupAveraging(
        backbone, group, in_spec, out_spec, train_samples=train_samples,
        eval_samples=eval_samples, max_elements=max_elements, center=center,
        chunk_size=chunk_size,
    )
