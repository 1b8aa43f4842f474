"""Invariance-constrained learned augmentation: MCMC-sampled augmentations and a dual variable.

Hounie, Chamon and Ribeiro (2023, "Automatic Data Augmentation via Invariance-Constrained
Learning", ICML). Instead of fixing an augmentation distribution, require the model to do
well on transformed data, as a constraint:

    min_theta  E[ l(f(x), y) ]   s.t.   E_(x, y) E_{g ~ lambda(g | x, y)} [ l(f_g(x), y) ] <= eps,

with ``f_g(x) = g . f(g^-1 . x)`` (the model seen through one element; ``= f(g^-1 x)`` for
invariant outputs) and ``lambda(g | x, y) ∝ exp(l(f_g(x), y) / T)`` relative to the Haar
measure: the augmentations the model currently gets *wrong* are sampled more (``T -> 0``:
the worst case; ``T -> inf``: uniform augmentation). ``lambda`` is sampled per input by
Metropolis-Hastings with the Haar law as an independent proposal: from the current element
``g`` (the chain starts at the identity, whose loss the clean forward already gave), propose
``g' ~ Haar`` and accept it with probability ``min(1, exp((l(g') - l(g)) / T))``, for
``mcmc_steps`` steps. The constraint is enforced by the Lagrangian, with a dual variable
``gamma >= 0`` updated by projected gradient ascent after every training batch:

    L = l(f(x), y) + gamma (l_aug - eps),    gamma <- max(0, gamma + dual_lr (l_aug - eps)).

The model's output while training is the plain ``f(x)`` (the trainer adds its task loss);
``gamma (l_aug - eps)`` is reported through :meth:`extra_losses`, the one way modules hand
losses to the training loop, and ``gamma`` is a buffer, so checkpoints resume it and the
trainer's preflight pass leaves it as it was. The constraint needs the targets: ``loss`` is a
registered loss node (usually the run's own, ``loss: ${loss}``), and a batch without its
target fields (evaluation, ``symkit check``) adds no constraint and takes no dual step.

**Evaluation** averages ``eval_samples`` Haar draws, ``1/K sum_k g_k . f(g_k^-1 x)`` (the
shared forward), which is equivariant in distribution on compact groups (:meth:`supports`);
``eval_samples: 0`` gives the bare backbone (the paper's test-time model, which claims
nothing). ``is_exact`` is ``False``.

Cost in backbone calls per training batch: one clean call, ``mcmc_steps`` proposal calls
without gradient and one augmented call with gradient, each on ``B`` samples; at evaluation
``eval_samples`` calls' worth (one batched call of ``B * K``). Training batches must be dense
(a ragged batch raises :class:`~symkit.errors.ConfigError`); the per-sample losses MH needs are
the loss function applied to each sample's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Element, Group, map_element
from symkit.registry import register
from symkit.spec import Spec
from symkit.symmetrizers._base import Symmetrizer
from symkit.symmetrizers._batching import batch_layout, data_dtype
from symkit.symmetrizers._group_averaging import GroupAveraging
from symkit.symmetrizers.learned._inputs import check_finite, sample_device

__all__ = ["ConstrainedAugmentation", "constrained_augmentation", "metropolis_hastings"]

LossFn = Callable[[Mapping[str, Tensor], Mapping[str, Tensor]], Tensor]


def _rows(values: Mapping[str, object], b: int, size: int) -> dict[str, object]:
    """Row ``b`` (kept as a batch of one) of every tensor with ``size`` rows."""
    return {k: v[b:b + 1] if isinstance(v, Tensor) and v.ndim and v.shape[0] == size else v
            for k, v in values.items()}


def per_sample_loss(loss: LossFn, outputs: Mapping[str, Tensor], batch: Mapping[str, object],
                    size: int) -> Tensor:
    """``l_b = loss(outputs_b, batch_b)`` for each of the ``size`` samples of a dense batch.

    Shapes:
        returns ``(size,)``.
    """
    return torch.stack([loss(_rows(outputs, b, size), _rows(batch, b, size))
                        for b in range(size)])


def _where(accept: Tensor, new: Element, old: Element) -> Element:
    """Per row: ``new`` where ``accept``, else ``old`` (element leaves of any shape)."""
    def pick(n: Tensor, o: Tensor) -> Tensor:
        return torch.where(accept.reshape(-1, *(1,) * (n.ndim - 1)).to(n.device), n, o)

    if isinstance(new, tuple):
        return tuple(_where(accept, n, o) for n, o in zip(new, old))
    return pick(new, old)


def metropolis_hastings(
    energy: Callable[[Element], Tensor], propose: Callable[[int], Element], start: Element,
    start_energy: Tensor, steps: int, temperature: float,
    generator: torch.Generator | None = None,
) -> tuple[Element, Tensor, float]:
    """Independent Metropolis-Hastings for ``pi(g) ∝ exp(energy(g) / T)`` against the proposal.

    Args:
        energy: per-row values ``(B,)`` of a batch of ``B`` elements (here: the loss).
        propose: ``n -> n`` elements from the proposal (here: Haar).
        start, start_energy: the chains' states and their energies ``(B,)``.
        steps: proposals per chain; temperature: ``T > 0``.

    Returns:
        the final states, their energies ``(B,)`` and the acceptance rate.
    """
    g, e = start, start_energy
    accepted, b = 0.0, start_energy.shape[0]
    for _ in range(steps):
        proposal = propose(b)
        e_new = energy(proposal)
        u = torch.rand(b, generator=generator, dtype=torch.float64)
        accept = u.log().to(e.device) < ((e_new - e) / temperature).double().clamp(max=0.0)
        g, e = _where(accept, proposal, g), torch.where(accept, e_new, e)
        accepted += float(accept.float().mean()) if b else 0.0
    return g, e, accepted / steps if steps else 0.0


class ConstrainedAugmentation(Symmetrizer):
    """Plain ``f(x)`` while training, with an MCMC-sampled invariance constraint enforced by a
    dual variable (Hounie et al. 2023); a Haar average at evaluation. See the module docs.

    Args:
        backbone, group, in_spec, out_spec, chunk_size: see :class:`Symmetrizer`.
        loss: the loss ``l`` of the constraint (a built loss function or a loss node);
            required to train (``None`` only builds an evaluation model).
        epsilon: the constraint level ``eps`` on the augmented loss.
        temperature: ``T`` of the tilted law ``exp(l / T)``.
        mcmc_steps: Metropolis-Hastings proposals per sample and batch.
        dual_lr: step of the dual ascent on ``gamma``.
        dual_init: ``gamma`` at the start.
        eval_samples: Haar draws averaged at evaluation (``0``: the bare backbone).

    Raises:
        ConfigError: a non-compact group, or options out of range.
    """

    def __init__(
        self, backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
        loss: LossFn | Mapping[str, object] | None = None, epsilon: float = 0.1,
        temperature: float = 1.0, mcmc_steps: int = 2, dual_lr: float = 0.01,
        dual_init: float = 0.0, eval_samples: int = 8, chunk_size: int | None = None,
    ):
        super().__init__(backbone, group, in_spec, out_spec, chunk_size=chunk_size)
        if not self.supports(group):
            raise ConfigError(None, f"constrained_augmentation samples the Haar measure of a "
                              f"compact group; {group!r} has none")
        for name, value, low in (("epsilon", epsilon, 0.0), ("dual_lr", dual_lr, 0.0),
                                 ("dual_init", dual_init, 0.0)):
            if not value >= low:
                raise ConfigError(name, f"must be >= {low}, got {value!r}")
        if not temperature > 0:
            raise ConfigError("temperature", f"must be > 0, got {temperature!r}")
        if mcmc_steps < 1 or eval_samples < 0:
            raise ConfigError("mcmc_steps", "need mcmc_steps >= 1 and eval_samples >= 0, got "
                              f"{mcmc_steps} and {eval_samples}")
        if loss is not None and not callable(loss):
            from symkit.config import build

            loss = build(loss, "losses", key="loss")
        self.loss_fn, self.epsilon, self.temperature = loss, epsilon, temperature
        self.mcmc_steps, self.dual_lr, self.eval_samples = mcmc_steps, dual_lr, eval_samples
        #: the dual variable ``gamma >= 0`` (a buffer: checkpointed, never optimized)
        self.register_buffer("dual", torch.tensor(float(dual_init), dtype=torch.float64))
        self._constraint: Tensor | None = None
        self._lagrangian: Tensor | None = None

    #: Monte-Carlo at evaluation, a penalty while training: never exact
    is_exact = False

    @classmethod
    def supports(cls, group: Group) -> bool:
        """Compact groups (finite ones included): their Haar law is the proposal, and the
        evaluation average is equivariant in distribution."""
        return GroupAveraging.supports(group)

    def num_elements(self) -> int:
        return 1 if self.training else max(self.eval_samples, 1)

    def elements(self, sample: Mapping[str, Tensor]) -> tuple[Element, Tensor]:
        b = batch_layout(sample, self.in_spec).size
        dtype, device = data_dtype(sample, self.in_spec), sample_device(sample)
        k = self.num_elements()
        g = self.group.sample(b * k, dtype=torch.float64, device=device)
        return g, torch.full((b, k), 1.0 / k, dtype=dtype, device=device)

    def _through(self, g: Element, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``g . f(g^-1 . x)`` per sample (dense batch, one element per sample)."""
        dtype = data_dtype(sample, self.in_spec)
        g = map_element(lambda t: t.to(dtype) if t.is_floating_point() else t, g)
        moved = self.in_spec.act(self.group, self.group.inverse(g), dict(sample))
        y = dict(self.backbone(moved))
        fields = {n: y[n] for n in self.out_spec if n in y}
        return {**y, **self.out_spec.act(self.group, g, fields)}

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        self._constraint = None
        if not self.training:
            if self.eval_samples == 0:
                return dict(self.backbone(sample))
            return super().forward(sample)
        layout = batch_layout(sample, self.in_spec)
        check_finite(sample, self.in_spec, layout)
        self.flagged = torch.zeros(layout.size, dtype=torch.bool, device=sample_device(sample))
        y = dict(self.backbone(sample))
        if layout.size == 0:
            return y
        if self.loss_fn is None:
            raise ConfigError("model.symmetrizer.loss", "constrained_augmentation needs the "
                              "loss of its constraint to train (e.g. loss: ${loss})")
        if layout.ragged:
            raise ConfigError("model.symmetrizer", "constrained_augmentation trains on dense "
                              "batches (per-sample losses); this batch is ragged")
        try:
            with torch.no_grad():
                clean = per_sample_loss(self.loss_fn, y, sample, layout.size)
        except KeyError:  # no targets in this batch: nothing to constrain
            return y
        b = layout.size

        def energy(g: Element) -> Tensor:
            with torch.no_grad():
                return per_sample_loss(self.loss_fn, self._through(g, sample), sample, b)

        device = sample_device(sample)
        g, _, rate = metropolis_hastings(
            energy, lambda n: self.group.sample(n, dtype=torch.float64, device=device),
            self.group.identity(b, dtype=torch.float64, device=device), clean,
            self.mcmc_steps, self.temperature)
        augmented = self.loss_fn(self._through(g, sample), sample)
        self._constraint = augmented
        slack = float(augmented.detach()) - self.epsilon
        gamma = self.dual.detach().clone().to(augmented.dtype)
        self._lagrangian = gamma * (augmented - self.epsilon)
        with torch.no_grad():  # projected dual ascent (after the Lagrangian used the old gamma)
            self.dual.add_(self.dual_lr * slack).clamp_(min=0.0)
        self._metrics = {"degenerate_fraction": 0.0, "dual_variable": float(self.dual),
                         "constraint_slack": slack, "acceptance_rate": rate,
                         "augmented_loss": float(augmented.detach())}
        return y

    def extra_losses(self) -> dict[str, Tensor]:
        if self._constraint is None:
            return {}
        return {"augmentation_constraint": self._lagrangian}


@register("symmetrizers", "constrained_augmentation")
def constrained_augmentation(
    backbone: nn.Module, group: Group, in_spec: Spec, out_spec: Spec, *,
    loss: LossFn | Mapping[str, object] | None = None, epsilon: float = 0.1,
    temperature: float = 1.0, mcmc_steps: int = 2, dual_lr: float = 0.01, dual_init: float = 0.0,
    eval_samples: int = 8, chunk_size: int | None = None,
) -> ConstrainedAugmentation:
    """Invariance-constrained augmentation (Hounie et al. 2023): MCMC augmentations, dual ascent."""
    return ConstrainedAugmentation(
        backbone, group, in_spec, out_spec, loss=loss, epsilon=epsilon, temperature=temperature,
        mcmc_steps=mcmc_steps, dual_lr=dual_lr, dual_init=dual_init, eval_samples=eval_samples,
        chunk_size=chunk_size,
    )


