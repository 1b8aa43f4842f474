"""Layer-wise frame averaging: every layer of a backbone symmetrized with its own frame.

A backbone that is a composition of layers ``f = f_L o ... o f_1`` over a *state* (a sample
dict whose equivariant fields, e.g. the current positions and velocities, each layer may
update) is made equivariant layer by layer (Puny et al. 2022, "Frame Averaging for Invariant
and Equivariant Network Design", the n-body model of section 5):

    s_0 = x,    s_l = s_{l-1} updated by  <f_l>_F (s_{l-1}),
    <f_l>_F(s) = 1/|F(s)| sum_{g in F(s)} g . f_l(g^-1 . s)

with ``F(s)`` the PCA frame (:mod:`symkit.symmetrizers._frames`) of the state's point field
*recomputed at every layer*. Each ``<f_l>_F`` is exactly equivariant (frame averaging), so is
the composition: ``f(g x) = g f(x)``. Invariant state fields (hidden features) are averaged over
the frame at each layer, as in the paper's model.

**The layer protocol.** A backbone exposes its layers through one method::

    def frame_stages(self, in_spec: Spec, out_spec: Spec) -> list[Stage]

Each :class:`Stage` is a module ``state -> updates`` with the spec of the state fields it
reads (``reads``: the frame is computed from its point field) and of the fields it writes
(``writes``, every output named, hidden features as node scalars). Updates are merged into the
state; the last stage's outputs are the model's outputs. A backbone without ``frame_stages``
is one stage (the whole backbone): then this is plain frame averaging. The graph plugin's
``graph::gnn`` is the first backbone that exposes its layers.

**Cost.** Each stage runs ``|F|`` copies (8 for E(3)/O(3), 4 for SE(3)/SO(3)) as one batched
call, so a forward costs about ``|F|`` backbone calls, as frame averaging of the whole
backbone; ``stochastic`` draws ``train_samples`` frame elements per layer while training.

**Outcomes.** Exact where every stage's frame is non-degenerate; a sample flagged by any stage
(a repeated eigenvalue at some layer) is ``flagged`` and equivariant in distribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups import Group
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import batch_layout, check_finite
from symkit.symmetrizers._frame_averaging import FrameAveraging
from symkit.symmetrizers._geometry import is_pca_group, point_field

__all__ = ["Stage", "LayerwiseFrameAveraging", "layerwise_frame_averaging", "frame_stages"]


@dataclass
class Stage:
    """One layer of a layered backbone, as layer-wise frame averaging sees it.

    Attributes:
        module: maps the state (a sample dict) to a dict of updated fields.
        reads: the spec of the state fields it reads (its frame comes from their point field).
        writes: the spec of every field it writes (hidden features: node scalars).
        field: the point (or vector) field of ``reads`` the frame is computed from (default:
            its first point field).
        extra_fields: vector fields of ``reads`` whose second moments join the covariance.
    """

    module: nn.Module
    reads: Spec
    writes: Spec
    field: str | None = None
    extra_fields: Sequence[str] = ()


def frame_stages(backbone: nn.Module, in_spec: Spec, out_spec: Spec) -> list[Stage]:
    """The backbone's stages (``backbone.frame_stages(in_spec, out_spec)``), else one stage.

    Raises:
        ConfigError: the backbone returns no stage, or a stage reads nothing.
    """
    method = getattr(backbone, "frame_stages", None)
    if not callable(method):
        return [Stage(backbone, in_spec, out_spec)]
    stages = list(method(in_spec, out_spec))
    if not stages:
        raise ConfigError("model.backbone", "frame_stages() returned no stage")
    for i, stage in enumerate(stages):
        if not len(stage.reads):
            raise ConfigError("model.backbone", f"stage {i} reads no field")
    return stages


class LayerwiseFrameAveraging(Symmetrizer):
    """``f = <f_L>_F o ... o <f_1>_F``: frame averaging of each stage with its own frame.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        field: the frame field of every stage that reads it (default: each stage's own).
        extra_fields: vector fields added to the covariance of every stage that reads them.
        stochastic, train_samples, eval_samples, degeneracy_tol: per stage, as
            :class:`~symkit.symmetrizers.FrameAveraging`.
        generator: random source for degenerate eigenspaces and stochastic draws.

    Shapes:
        as :class:`Symmetrizer` (dense, masked or ragged samples).

    Raises:
        ValueError: the group is not O(d), SO(d), E(d), SE(d) or T(d).
        ConfigError: a stage has no point or vector field to build its frame from.
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        field: str | None = None, extra_fields: Sequence[str] = (), stochastic: bool = False,
        train_samples: int = 1, eval_samples: int | None = None, degeneracy_tol: float = 1e-3,
        chunk_size: int | None = None, generator: torch.Generator | None = None,
    ):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if not self.supports(group):
            raise ValueError(f"layerwise_frame_averaging supports O(d), SO(d), E(d), SE(d), "
                             f"T(d); got {group!r}")
        self.stochastic = stochastic
        # plain list: the stage modules' parameters belong to (and are saved with) the backbone
        self._stages: list[FrameAveraging] = []
        for i, stage in enumerate(frame_stages(backbone, in_spec, out_spec)):
            name = field if field is not None and field in stage.reads else stage.field
            extra = [f for f in extra_fields if f in stage.reads] or list(stage.extra_fields)
            try:
                frame_field = point_field(stage.reads, name)
            except KeyError as e:
                raise ConfigError("model.symmetrizer.field", f"stage {i}: {e.args[0]}") from None
            self._stages.append(FrameAveraging(
                stage.module, group, stage.reads, stage.writes, field=frame_field,
                extra_fields=extra, stochastic=stochastic, train_samples=train_samples,
                eval_samples=eval_samples, degeneracy_tol=degeneracy_tol,
                chunk_size=chunk_size, generator=generator,
            ))
            self._stages[-1].train(self.training)

    @classmethod
    def supports(cls, group: Group) -> bool:
        return is_pca_group(group)

    @property
    def num_stages(self) -> int:
        """Number of separately frame-averaged stages (1: the backbone exposes no layers)."""
        return len(self._stages)

    @property
    def is_exact(self) -> bool:
        return all(s.is_exact for s in self._stages)

    @property
    def eval_samples(self) -> int | None:
        return self._stages[0].eval_samples

    @eval_samples.setter
    def eval_samples(self, value: int | None) -> None:
        for s in self._stages:
            s.eval_samples = value

    def train(self, mode: bool = True) -> LayerwiseFrameAveraging:
        super().train(mode)
        for s in getattr(self, "_stages", ()):
            s.train(mode)
        return self

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        state, out = dict(sample), {}
        flagged, metrics = None, {}
        for i, stage in enumerate(self._stages):
            out = stage(state)
            state.update(out)
            if stage.flagged is not None:
                flagged = stage.flagged if flagged is None else flagged | stage.flagged
            for key, value in stage._metrics.items():
                metrics[f"stage{i}_{key}"] = value
        self.flagged = flagged
        self._metrics = metrics
        return out


@register("symmetrizers", "layerwise_frame_averaging")
def layerwise_frame_averaging(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    field: str | None = None, extra_fields: list[str] = (), stochastic: bool = False,
    train_samples: int = 1, eval_samples: int | None = None, degeneracy_tol: float = 1e-3,
    chunk_size: int | None = None,
) -> LayerwiseFrameAveraging:
    """Frame averaging of each layer of the backbone (``frame_stages``) with a frame recomputed
    from that layer's input state (Puny et al. 2022); a backbone without layers is one; exact."""
    return LayerwiseFrameAveraging(
        backbone, group, in_spec, out_spec, field=field, extra_fields=extra_fields,
        stochastic=stochastic, train_samples=train_samples, eval_samples=eval_samples,
        degeneracy_tol=degeneracy_tol, chunk_size=chunk_size,
    )


