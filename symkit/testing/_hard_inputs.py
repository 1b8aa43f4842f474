"""``check_hard_inputs``: run a symmetrizer or canonicalizer through the hard-input corpus.

For plugin authors: one call checks a registered part (or any factory) on real molecules of
every symmetry class and every batch layout, in each dtype, with the three allowed outcomes of
:func:`symkit.testing.check_outcomes`, and (``forces=True``) the force contract of
:func:`symkit.testing.check_forces` on an invariant energy.

Groups that permute nodes (``S_N x E(3)``, ``S_N x O(3)``, ...): ``S_N`` has a fixed ``N``, so
each input gets the group resized to its node count (:func:`with_nodes`) and its own model, and
the backbone reads each node's rank (``NodeMLP(positional=True)``: not permutation invariant,
so the sort is tested, not the backbone's pooling). ``S_N`` permutes a fixed number of nodes per
sample: a ragged batch (``batch`` vector) has none, and the outcome allowed there is a
:class:`~symkit.errors.SpecError` naming the ``batch`` field for the whole layout (reported as
``"rejected"`` for every sample); an output there is checked like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from symkit.errors import SpecError
from symkit.groups import DirectProduct, Group, Symmetric
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec
from symkit.testing._corpus import HardInput, hard_inputs, molecule_sample, molecules
from symkit.testing._equivariance import num_nodes
from symkit.testing._forces import check_forces
from symkit.testing._node_mlp import NodeMLP
from symkit.testing._outcomes import OutcomeReport, check_outcomes, is_ragged

__all__ = ["check_hard_inputs", "build_symmetrized", "molecule_in_spec", "MOLECULE_OUT_SPECS",
           "HardInputFailure", "with_nodes"]

#: output specs of the corpus run: an invariant energy, and every kind of equivariant field
MOLECULE_OUT_SPECS = {
    "invariant": Spec({"e": scalar()}),
    "equivariant": Spec(
        {"e": scalar(), "v": Field(vector(), nodes=True), "y": Field(point(), nodes=True)}
    ),
}
Factory = Callable[..., nn.Module]


class HardInputFailure(AssertionError):
    """Some inputs of the corpus failed; ``failures`` maps ``(dtype, input)`` to the reason."""

    def __init__(self, context: str, failures: Mapping[tuple[str, str], str]):
        self.failures = dict(failures)
        lines = "\n".join(f"  [{d}] {name}: {why}" for (d, name), why in self.failures.items())
        super().__init__(f"{context}: {len(self.failures)} hard inputs failed:\n{lines}")


def molecule_in_spec() -> Spec:
    """Atomic numbers ``h`` (node scalar) and positions ``pos`` (node point)."""
    return Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})


def with_nodes(group: Group, n: int) -> Group:
    """``group`` with its ``S_N`` factor acting on ``n`` nodes (``group`` itself when it has no
    ``S_N`` factor or already has ``N = n``).

    Raises:
        TypeError: a factor permutes nodes but is not :class:`~symkit.groups.Symmetric` (its
            size cannot be changed here).
    """
    factors = group.factors()
    if num_nodes(group) in (None, n):
        return group
    out = []
    for f in factors:
        if "permutation" in f.kinds and not isinstance(f, Symmetric):
            raise TypeError(f"cannot resize {f!r} to {n} nodes: only symmetric(n) factors")
        out.append(Symmetric(max(n, 1)) if isinstance(f, Symmetric) else f)
    return out[0] if len(out) == 1 else DirectProduct(out)


def _factory(symmetrizer: str | Factory, canonicalizer: str | None) -> tuple[Factory, dict]:
    if callable(symmetrizer):
        return symmetrizer, {}
    from symkit.plugins import ensure_loaded
    from symkit.registry import registry

    ensure_loaded()
    params = {} if canonicalizer is None else {"canonicalizer": canonicalizer}
    return registry("symmetrizers").get(symmetrizer).load(), params


def build_symmetrized(
    symmetrizer: str | Factory, group: Group, in_spec: Spec, out_spec: Spec, *,
    dtype: torch.dtype = torch.float64, canonicalizer: str | None = None,
    params: Mapping[str, Any] | None = None, seed: int = 0,
) -> nn.Module:
    """The symmetrizer (a registered name or a ``factory(backbone, group, in_spec, out_spec,
    **params)``) around a :class:`~symkit.testing.NodeMLP`, in ``dtype``, in eval mode (the
    backbone reads node ranks when ``group`` permutes nodes: ``positional=True``)."""
    torch.manual_seed(seed)
    factory, extra = _factory(symmetrizer, canonicalizer)
    backbone = NodeMLP(in_spec, out_spec, positional=num_nodes(group) is not None)
    model = factory(backbone, group, in_spec, out_spec, **extra, **dict(params or {}))
    return model.to(dtype).eval()


def check_hard_inputs(
    symmetrizer: str | Factory, group: Group, in_spec: Spec | None = None,
    out_spec: Spec | None = None, *, canonicalizer: str | None = None,
    params: Mapping[str, Any] | None = None,
    dtypes: Sequence[torch.dtype] = (torch.float64, torch.float32),
    inputs: Sequence[HardInput] | None = None, forces: bool = False, seed: int = 0,
    n_elements: int = 1,
) -> dict[tuple[str, str], OutcomeReport]:
    """Check a symmetrizer on every input of the corpus, in every dtype.

    Args:
        symmetrizer: a registered symmetrizer name (``"frame_averaging"``) or a factory
            ``(backbone, group, in_spec, out_spec, **params) -> model``.
        group: a group acting on 3-d points (``so3``, ``o3``, ``se3``, ``e3``, ...).
        in_spec, out_spec: default :func:`molecule_in_spec` and the equivariant
            ``MOLECULE_OUT_SPECS`` (an energy, node vectors, node points).
        canonicalizer: for ``canonicalization``, the registered canonicalizer to use.
        params: more keyword arguments of the factory.
        dtypes: input dtypes; each gets its own model (float16/bfloat16 too).
        inputs: the corpus (default :func:`symkit.testing.hard_inputs` per dtype; in float16
            and bfloat16 the light corpus: one molecule per class of :data:`HALF_CLASSES` and
            the padded batch).
        n_elements: random elements per kind (and of the whole group) per input.
        forces: also check the forces of the invariant energy (float64): finite on every
            molecule; on the non-degenerate ones (exact models) equal to finite differences,
            summing to zero under translations and rotating as vectors.

    Returns:
        ``{(dtype, input name): OutcomeReport}``.

    Raises:
        HardInputFailure: every failing ``(dtype, input)`` with its reason (all inputs run).
    """
    in_spec = in_spec or molecule_in_spec()
    out_spec = out_spec or MOLECULE_OUT_SPECS["equivariant"]
    name = symmetrizer if isinstance(symmetrizer, str) else getattr(
        symmetrizer, "__name__", type(symmetrizer).__name__)
    context = f"{name}{f'[{canonicalizer}]' if canonicalizer else ''} on {group!r}"
    reports, failures = {}, {}
    for dtype in dtypes:
        d = str(dtype).removeprefix("torch.")
        models: dict[str, nn.Module] = {}  # one per node count when the group permutes nodes
        for case in inputs if inputs is not None else _default_inputs(in_spec, dtype):
            g = with_nodes(group, _node_count(case.sample, in_spec))
            try:
                if repr(g) not in models:
                    models[repr(g)] = build_symmetrized(
                        symmetrizer, g, in_spec, out_spec, dtype=dtype,
                        canonicalizer=canonicalizer, params=params, seed=seed)
            except Exception as e:  # noqa: BLE001 - reported with the others
                failures[(d, "build")] = f"{type(e).__name__}: {e}"
                break
            model = models[repr(g)]
            try:
                report = _rejected_layout(model, g, in_spec, case)
                reports[(d, case.name)] = report or check_outcomes(
                    model, g, in_spec, out_spec, case, seed=seed, n_elements=n_elements,
                    context=f"{context} [{d}]")
            except AssertionError as e:
                failures[(d, case.name)] = str(e).split(": ", 1)[-1]
    if forces:
        failures.update(_check_forces(symmetrizer, group, in_spec, canonicalizer, params, seed,
                                      context))
    if failures:
        raise HardInputFailure(context, failures)
    return reports


def _node_count(sample: Mapping[str, Tensor], in_spec: Spec) -> int:
    """Nodes per sample: ``N`` of a dense batch, the largest graph of a ragged one."""
    x = sample[next(n for n, f in in_spec.items() if f.nodes and n in sample)]
    if is_ragged(sample):
        return int(torch.bincount(sample["batch"]).max()) if sample["batch"].numel() else 1
    return x.shape[1]


def _rejected_layout(model: nn.Module, group: Group, in_spec: Spec, case: HardInput
                     ) -> OutcomeReport | None:
    """For a group that permutes nodes and a ragged input: the report ``"rejected"`` when the
    forward raises a :class:`~symkit.errors.SpecError` naming the ``batch`` field (``S_N``
    permutes a fixed number of nodes; the layout has none), ``None`` when it gives an output
    (then checked like any other input).

    Raises:
        AssertionError: any other exception.
    """
    if num_nodes(group) is None or not is_ragged(case.sample):
        return None
    try:
        with torch.no_grad():
            model(case.sample)
    except SpecError as e:
        if e.field == "batch":
            return OutcomeReport(case.name, ["rejected"] * int(case.sample["num_graphs"]))
        raise AssertionError(f"on input '{case.name}': a ragged batch raised a SpecError "
                             f"naming {e.field!r}, not the 'batch' field: {e}") from e
    except Exception as e:  # noqa: BLE001 - anything else is a failure
        raise AssertionError(f"on input '{case.name}': a ragged batch crashed with "
                             f"{type(e).__name__}: {e} (allowed: an output, or a SpecError "
                             f"naming the 'batch' field)") from e
    return None


#: symmetry classes of the half-precision corpus (its rounding is 1e-2: one of each hard case)
HALF_CLASSES = ("asymmetric", "planar", "linear", "hexagonal_ring")


def _default_inputs(in_spec: Spec, dtype: torch.dtype) -> list[HardInput]:
    if dtype.itemsize > 2:
        return hard_inputs(in_spec, dtype=dtype)
    cases = hard_inputs(in_spec, dtype=dtype, symmetry=HALF_CLASSES)
    first = {}
    for c in cases:  # one molecule per class, then the layouts
        key = c.name if not c.name.startswith("mol:") else None
        if key is None:
            mol = c.name.removeprefix("mol:")
            cls = next(m.symmetry for m in molecules() if m.name == mol)
            first.setdefault(cls, c)
        elif key in ("padded", "nan"):
            first[key] = c
    return list(first.values())


def _check_forces(symmetrizer, group, in_spec, canonicalizer, params, seed, context) -> dict:
    """Force checks on each molecule (float64): ``{("float64", "forces:<molecule>"): reason}``."""
    failures, models = {}, {}
    for mol in molecules():
        sample = molecule_sample([mol], in_spec)
        g = with_nodes(group, len(mol.numbers))
        try:
            if repr(g) not in models:
                models[repr(g)] = build_symmetrized(
                    symmetrizer, g, in_spec, MOLECULE_OUT_SPECS["invariant"],
                    canonicalizer=canonicalizer, params=params, seed=seed)
        except Exception as e:  # noqa: BLE001
            return failures | {("float64", "forces:build"): f"{type(e).__name__}: {e}"}
        model = models[repr(g)]
        exact = bool(getattr(model, "is_exact", True))
        try:
            check_forces(model, g, sample, exact=exact and not mol.degenerate, seed=seed,
                         context=f"{context} on {mol.name}", in_spec=in_spec)
        except AssertionError as e:
            failures[("float64", f"forces:{mol.name}")] = str(e).split(": ", 1)[-1]
        except Exception as e:  # noqa: BLE001 - a crash of the backward pass
            failures[("float64", f"forces:{mol.name}")] = f"{type(e).__name__}: {e}"
    return failures
