"""Conservative forces: ``F = -dE/dx`` of a model's invariant energy, inside its forward.

A model that predicts an invariant energy ``E(x)`` of positions ``x`` gives forces that are
exactly conservative and, when ``E`` is invariant and differentiable, exactly equivariant:
``E(R x + t) = E(x)`` implies ``F(R x + t) = R F(x)``. Because the derivative is taken of the
*whole* symmetrized model (frames and canonicalizers carry gradients), this works with every
symmetrizer and every backbone, with no force head to design (Schütt et al. 2017, SchNet;
Chmiela et al. 2017, gradient-domain ML).

The model YAML::

    model:
      ...                                  # any symmetrized model whose out_spec has `energy`
      forces: {energy: energy, pos: pos, output: forces}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError, SpecError
from symkit.ops.scatter import scatter_sum
from symkit.spec import Spec
from symkit.symmetrizers._batching import batch_layout

__all__ = ["ConservativeForces", "conservative_forces"]

_OPTIONS = ("energy", "pos", "output")


class ConservativeForces(nn.Module):
    """Wrap a model predicting an energy so it also predicts ``forces = -dE/dpos``.

    The energy of a sample is the sum of ``model(sample)[energy]`` over all non-batch axes, so a
    per-node energy ``(B, N)`` or ``(B, N, 1)`` becomes the sum of atomic contributions and a
    per-sample energy ``(B,)`` or ``(B, 1)`` is kept; in a ragged batch a per-node energy
    (``nodes: true``) ``(total_nodes, ...)`` is summed over the nodes of each sample
    (``sample["batch"]``), ``E_b = sum_{i: batch_i = b} e_i``. The gradient is taken under
    ``torch.enable_grad()``, so forces are computed also when evaluation runs under
    ``torch.no_grad()``; the graph of the derivative is kept (``create_graph``) only when
    gradients were enabled by the caller (training), so a force loss trains the energy model.

    Args:
        model: a symmetrized model (``group``, ``in_spec``, ``out_spec``, ``forward``,
            ``extra_losses``, ``metrics``); its out_spec names ``energy`` as a scalar.
        energy: the model's energy output field; pos: the position input field.
        output: the written force field.

    Shapes:
        ``sample[pos]``: ``(B, N, d)`` -> ``energy``: ``(B,)``, ``output``: ``(B, N, d)``;
        ragged: ``(total_nodes, d)`` -> ``(B,)``, ``(total_nodes, d)``.
    """

    def __init__(self, model: nn.Module, energy: str = "energy", pos: str = "pos",
                 output: str = "forces"):
        super().__init__()
        self.model, self.energy, self.pos, self.output = model, energy, pos, output
        self.group, self.in_spec = model.group, model.in_spec
        self._node_energy = bool(model.out_spec[energy].nodes)
        rest = {k: f for k, f in model.out_spec.items() if k != energy}
        self.out_spec = Spec({
            **rest,
            energy: Spec.from_config({energy: "scalar"})[energy],
            output: Spec.from_config({output: {"rep": "vector", "nodes": True}})[output],
        })

    @property
    def backbone(self) -> nn.Module:
        """The wrapped model's backbone."""
        return self.model.backbone

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.pos not in sample:
            raise SpecError(self.pos, f"missing position field; sample has {sorted(sample)}")
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            pos = sample[self.pos]
            if not pos.requires_grad:
                pos = pos.detach().requires_grad_(True)
            outputs = dict(self.model({**sample, self.pos: pos}))
            if self.energy not in outputs:
                raise SpecError(self.energy, f"the model wrote no energy field; it wrote "
                                             f"{sorted(outputs)}")
            e = outputs[self.energy]
            e = e.reshape(e.shape[0], -1).sum(dim=1)
            layout = batch_layout(sample, self.in_spec)
            if layout.ragged and self._node_energy:  # atoms of all samples: sum per sample
                e = scatter_sum(e, layout.batch, layout.size)
            (grad,) = torch.autograd.grad(e.sum(), pos, create_graph=keep_graph)
        outputs[self.energy], outputs[self.output] = e, -grad
        if not keep_graph:
            outputs = {k: v.detach() if isinstance(v, Tensor) else v for k, v in outputs.items()}
        return outputs

    @property
    def is_exact(self) -> bool:
        """The wrapped model's claim: the gradient of an exactly invariant energy is exactly
        equivariant (where the energy is differentiable)."""
        return bool(getattr(self.model, "is_exact", False))

    @property
    def flagged(self) -> Tensor | None:
        """The wrapped model's flags ``(B,)`` of its last forward: a sample whose energy is
        only equivariant in distribution has forces that are too."""
        return getattr(self.model, "flagged", None)

    def extra_losses(self) -> dict[str, Tensor]:
        return self.model.extra_losses()

    def metrics(self) -> dict[str, float]:
        return self.model.metrics()


def conservative_forces(model: nn.Module, cfg: Any, *, key: str = "model.forces"
                        ) -> ConservativeForces:
    """The :class:`ConservativeForces` of a ``model.forces`` config node.

    Args:
        model: the built symmetrized model.
        cfg: ``{energy: ..., pos: ..., output: ...}`` (all optional; defaults energy, pos,
            forces), or ``true`` for the defaults.

    Raises:
        ConfigError: not a mapping, an unknown option, an energy field the model's out_spec
            lacks or declares as non-scalar, a position field the in_spec lacks or declares
            without a node axis or as invariant, or an output field already in the out_spec.
    """
    if cfg is True:
        cfg = {}
    if not isinstance(cfg, Mapping):
        raise ConfigError(key, f"expected a mapping with options {list(_OPTIONS)}, got {cfg!r}")
    for k, v in cfg.items():
        if k not in _OPTIONS:
            raise ConfigError(f"{key}.{k}", f"unknown option; expected one of {list(_OPTIONS)}")
        if not isinstance(v, str):
            raise ConfigError(f"{key}.{k}", f"expected a field name, got {v!r}")
    energy = cfg.get("energy", "energy")
    if energy not in model.out_spec:
        raise ConfigError(f"{key}.energy", f"'{energy}' is not in model.out_spec "
                                           f"({sorted(model.out_spec)})")
    field = model.out_spec[energy]
    if not field.rep.is_invariant(model.group):
        raise ConfigError(f"{key}.energy",
                          f"'{energy}' must be an invariant field, got {field.rep!r}")
    pos = cfg.get("pos", "pos")
    if pos not in model.in_spec:
        raise ConfigError(f"{key}.pos", f"'{pos}' is not in model.in_spec "
                                        f"({sorted(model.in_spec)}); name the position field")
    field = model.in_spec[pos]
    if not field.nodes or field.rep.is_invariant(model.group):
        raise ConfigError(f"{key}.pos", f"'{pos}' ({field.rep!r}, nodes: {field.nodes}) must be "
                                        "a point or vector field with a node axis: forces are "
                                        "-dE/d(position) of each atom")
    output = cfg.get("output", "forces")
    if output in model.out_spec:
        raise ConfigError(f"{key}.output", f"'{output}' is already in model.out_spec "
                                           f"({sorted(model.out_spec)}); model.forces writes it: "
                                           "name a new field, or remove it from model.out_spec")
    return ConservativeForces(model, energy, pos, output)
