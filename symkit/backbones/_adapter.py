"""Adapt a plain tensor-in, tensor-out ``nn.Module`` (pretrained or not) to sample dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from symkit.errors import ConfigError, SpecError

__all__ = ["FieldAdapter"]


class FieldAdapter(nn.Module):
    """``sample -> {writes: module(*[sample[r] for r in reads])}``.

    The wrapped module is called with the read fields as positional arguments, in order. It may
    return a tensor (one written field), a tuple/list (one tensor per written field, in order)
    or a dict (its keys are the written field names). When ``writes`` maps names to shapes,
    each output is reshaped to ``(B, *shape)`` (a leading -1 keeps the node axis of the input).

    Args:
        module: any ``nn.Module`` taking tensors.
        reads: input field names, passed positionally.
        writes: output field names, or field -> per-sample shape.

    Example, registering a pretrained model factory from a plugin::

        # my_plugin/models.py
        def resnet_pretrained(writes: dict[str, list[int]], reads: list[str] | None = None):
            \"\"\"A pretrained ResNet on the ``image`` field.\"\"\"
            net = build_resnet()                        # any nn.Module: image -> logits
            net.load_state_dict(torch.load(weights_path(), weights_only=True))
            return FieldAdapter(net, reads or ["image"], writes)

        # my_plugin/__init__.py
        @hookimpl
        def symkit_register(register):
            register("backbones", "resnet_pretrained", "my_plugin.models:resnet_pretrained")

    and in YAML ``backbone: {type: resnet_pretrained, writes: {logits: [10]}}``.
    """

    def __init__(self, module: nn.Module, reads: Sequence[str] | str,
                 writes: Sequence[str] | str | Mapping[str, Sequence[int]]):
        super().__init__()
        self.module = module
        self.reads = [reads] if isinstance(reads, str) else list(reads)
        if isinstance(writes, str):
            writes = [writes]
        self.shapes = (
            {k: tuple(int(s) for s in v) for k, v in writes.items()}
            if isinstance(writes, Mapping) else {k: None for k in writes}
        )
        if not self.reads or not self.shapes:
            raise ConfigError(None, "FieldAdapter needs at least one read and one written field")

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        missing = [r for r in self.reads if r not in sample]
        if missing:
            raise SpecError(missing[0], f"missing input field; sample has {sorted(sample)}")
        out = self.module(*(sample[r] for r in self.reads))
        names = list(self.shapes)
        if isinstance(out, Tensor):
            out = {names[0]: out} if len(names) == 1 else None
        elif isinstance(out, (tuple, list)) and len(out) == len(names):
            out = dict(zip(names, out))
        elif isinstance(out, Mapping):
            out = {k: out[k] for k in names if k in out}
        if not isinstance(out, dict) or len(out) != len(names):
            raise SpecError(None, f"wrapped module's output does not match writes={names}")
        return {k: self._reshape(v, self.shapes[k]) for k, v in out.items()}

    @staticmethod
    def _reshape(y: Tensor, shape: tuple[int, ...] | None) -> Tensor:
        if shape is None:
            return y
        if shape and shape[0] == -1:
            return y.reshape(y.shape[0], y.shape[1], *shape[1:])
        return y.reshape(y.shape[0], *shape)
