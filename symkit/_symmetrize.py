"""``symkit.symmetrize``: any ``nn.Module`` made equivariant in one call.

Given a module ``f``, a group ``G`` and the representations of its inputs and outputs, returns
the symmetrized model ``x -> sum_k w_k(x) g_k . f(g_k^-1 . x)`` of the chosen symmetrizer
(group averaging, frame averaging, canonicalization, ...), which checks every input against
``in_spec`` before it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from symkit.errors import ConfigError

__all__ = ["symmetrize"]


def _group(group: Any) -> Any:
    from symkit.config import build
    from symkit.groups._base import Group

    return group if isinstance(group, Group) else build(group, "groups", key="group")


def _spec(spec: Any, key: str) -> Any:
    from symkit.config import build_spec
    from symkit.reps._base import Rep
    from symkit.spec import Field, Spec

    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Mapping) and all(isinstance(v, (Field, Rep)) for v in spec.values()):
        return Spec(spec)
    return build_spec(spec, key=key)


def symmetrize(
    module: nn.Module,
    *,
    group: Any,
    in_spec: Any,
    out_spec: Any,
    symmetrizer: Any = "frame_averaging",
    reads: str | Sequence[str] | None = None,
    writes: Sequence[str] | Mapping[str, Sequence[int]] | None = None,
    **options: Any,
) -> nn.Module:
    """The symmetrized version of ``module`` over ``group``.

    Args:
        module: any ``nn.Module``. With ``reads`` it takes tensors: the fields named by
            ``reads``, positionally, and returns a tensor, a tuple or a dict (written to
            ``writes``, default: the fields of ``out_spec``). Without ``reads`` it takes the
            sample dict and returns a dict of output fields.
        group: a :class:`~symkit.groups.Group` or a registered name (``"e3"``, ``"c4"``).
        in_spec, out_spec: a :class:`~symkit.spec.Spec`, ``{field: Rep or Field}``, or its YAML
            form ``{pos: {rep: point, nodes: true}}``.
        symmetrizer: a registered name (``frame_averaging``, ``group_averaging``,
            ``canonicalization``, ...), a YAML node ``{type: ..., **options}``, or a
            symmetrizer class (``symkit.symmetrizers.FrameAveraging``), called as
            ``cls(module, group, in_spec, out_spec, **options)``.
        reads, writes: tensor-in modules only (see ``module``).
        **options: more options of the symmetrizer (``field="pos"``, ``eval_samples=16``).

    Returns:
        a model with ``group``, ``in_spec``, ``out_spec``, ``backbone``, ``forward(sample) ->
        dict``, exactly as :func:`symkit.build_model` builds from YAML.

    Raises:
        ConfigError: unknown symmetrizer, group or rep, or options it does not take.
        SpecError: (on each call) an input missing a field of ``in_spec``, or of the wrong
            shape or dtype; the message names the field and the expected shape.

    Example::

        model = symkit.symmetrize(net, group="o3", in_spec={"pos": {"rep": "vector",
                                  "nodes": True}}, out_spec={"e": "scalar"}, reads="pos",
                                  symmetrizer="frame_averaging", field="pos")
    """
    from symkit._sample_check import install_input_check
    from symkit.backbones import FieldAdapter
    from symkit.config import build
    from symkit.plugins import ensure_loaded

    ensure_loaded()
    if not isinstance(module, nn.Module):
        raise ConfigError("module", f"expected a torch.nn.Module, got {type(module).__name__}")
    g = _group(group)
    ins, outs = _spec(in_spec, "in_spec"), _spec(out_spec, "out_spec")
    if reads is not None:
        module = FieldAdapter(module, reads, writes if writes is not None else list(outs))
    elif writes is not None:
        raise ConfigError("writes", "only with reads (a module taking tensors); a module "
                          "taking the sample dict returns its output dict itself")
    if isinstance(symmetrizer, type):
        if not issubclass(symmetrizer, nn.Module):
            raise ConfigError("symmetrizer", f"expected a registered name, a mapping or an "
                              f"nn.Module class, got the class {symmetrizer.__name__}")
        return install_input_check(symmetrizer(module, g, ins, outs, **options))
    node = dict(symmetrizer) if isinstance(symmetrizer, Mapping) else {"type": symmetrizer}
    node.update(options)
    context = {"backbone": module, "group": g, "in_spec": ins, "out_spec": outs}
    model = build(node, "symmetrizers", key="symmetrizer", context=context)
    return install_input_check(model)
