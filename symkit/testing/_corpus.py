"""A corpus of hard inputs: real molecules of every symmetry class, and the batch layouts
people really use (padded with a mask, ragged with a ``batch`` vector, empty, one sample,
extreme scales, half precision, a NaN sample).

Random inputs have no symmetry, so a symmetrizer that breaks on a mirror plane, a planar or a
linear molecule passes every random test. The molecules here are the everyday input of
chemistry: geometries of the ``g2`` collection of ``ase`` (``ase.build.molecule``), shipped as
``molecules.json`` inside this package so that plugin authors need no ``ase``; with ``ase``
installed, ``molecules(source="ase")`` rebuilds them from it.

Samples follow :func:`symkit.testing.example_sample`: a node scalar field gets the atomic
numbers ``(B, N)`` and a node point (or vector) field the positions ``(B, N, 3)`` in Angstrom.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import torch
from torch import Tensor

from symkit.reps import Scalar, Vector
from symkit.spec import Spec

__all__ = [
    "SYMMETRY_CLASSES",
    "FRAME_OUTCOMES",
    "Molecule",
    "HardInput",
    "molecules",
    "molecule_sample",
    "padded_batch",
    "ragged_batch",
    "remove_sample",
    "hard_inputs",
]

#: symmetry class of each molecule, from none to the most symmetric; every class has one
#: molecule at least (``asymmetric`` is ethanol displaced by fixed noise)
SYMMETRY_CLASSES = (
    "asymmetric", "mirror", "planar", "linear", "symmetric_top", "tetrahedral", "octahedral",
    "hexagonal_ring",
)
#: the outcome frame averaging (and ``pca`` canonicalization, ``ambiguous: average``) must
#: have on a molecule, by :attr:`Molecule.stabilizer`: exact wherever the stabilizer is finite
FRAME_OUTCOMES = {"trivial": "exact", "finite": "exact", "infinite": "flagged"}
#: scales of the ``scale`` inputs (coordinates multiplied by each)
SCALES = (1e-8, 1e-3, 1e3, 1e6)


@dataclass(frozen=True)
class Molecule:
    """A molecule: atomic numbers ``(N,)`` and positions ``(N, 3)`` in Angstrom.

    Attributes:
        name: short name (``water``, ``co2``, ...).
        symmetry: one of :data:`SYMMETRY_CLASSES`.
        numbers, positions: atoms, as tuples (immutable).
        source: where the geometry comes from.
    """

    name: str
    symmetry: str
    numbers: tuple[int, ...]
    positions: tuple[tuple[float, float, float], ...]
    source: str = ""

    @property
    def degenerate(self) -> bool:
        """Whether the molecule has a non-trivial point group (everything but ``asymmetric``)."""
        return self.symmetry != "asymmetric"

    @property
    def stabilizer(self) -> str:
        """``"trivial"``, ``"finite"`` (a point group: mirror, planar, symmetric tops, the
        polyhedra, rings) or ``"infinite"`` (linear: every rotation about the axis fixes it).

        Frame averaging (and ``pca`` canonicalization averaging its candidates) is exact on the
        first two kinds, with the finite frame sets of
        :mod:`symkit.symmetrizers._symmetric_frames` where the covariance is degenerate; only
        ``"infinite"`` inputs are flagged and equivariant in distribution
        (:data:`FRAME_OUTCOMES`).
        """
        if self.symmetry == "asymmetric":
            return "trivial"
        return "infinite" if self.symmetry == "linear" else "finite"

    def tensors(self, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
        """``(numbers (N,), positions (N, 3))`` as floating tensors of ``dtype``."""
        z = torch.tensor(self.numbers, dtype=torch.float64)
        pos = torch.tensor(self.positions, dtype=torch.float64).reshape(-1, 3)
        return z.to(dtype), pos.to(dtype)


@cache
def _shipped() -> tuple[Molecule, ...]:
    text = resources.files("symkit.testing").joinpath("molecules.json").read_text()
    return tuple(
        Molecule(name, m["symmetry"], tuple(m["numbers"]),
                 tuple(tuple(p) for p in m["positions"]), m["source"])
        for name, m in json.loads(text)["molecules"].items()
    )


def _from_ase(shipped: Iterable[Molecule]) -> tuple[Molecule, ...]:
    from ase.build import molecule as ase_molecule

    out = []
    for mol in shipped:
        if not mol.source.startswith("ase g2 ") or mol.symmetry == "asymmetric":
            out.append(mol)  # built by hand (SF6) or displaced: the shipped geometry is the source
            continue
        atoms = ase_molecule(mol.source.split()[2])
        out.append(Molecule(mol.name, mol.symmetry, tuple(int(z) for z in atoms.numbers),
                            tuple(tuple(float(c) for c in p) for p in atoms.positions),
                            mol.source))
    return tuple(out)


def molecules(
    symmetry: str | Sequence[str] | None = None, *, source: str = "data"
) -> list[Molecule]:
    """The corpus molecules, optionally only those of some symmetry classes.

    Args:
        symmetry: a class of :data:`SYMMETRY_CLASSES` or several (``None``: all).
        source: ``"data"`` (the shipped ``molecules.json``) or ``"ase"`` (rebuilt from
            ``ase.build.molecule``; needs ``ase``).

    Raises:
        ValueError: unknown class or source.
    """
    wanted = (symmetry,) if isinstance(symmetry, str) else symmetry
    unknown = set(wanted or ()) - set(SYMMETRY_CLASSES)
    if unknown:
        raise ValueError(f"unknown symmetry classes {sorted(unknown)}; known: {SYMMETRY_CLASSES}")
    if source not in ("data", "ase"):
        raise ValueError(f"source must be 'data' or 'ase', not {source!r}")
    mols = _shipped() if source == "data" else _from_ase(_shipped())
    return [m for m in mols if wanted is None or m.symmetry in wanted]


def _fields(in_spec: Spec) -> tuple[list[str], list[str]]:
    """Names of the node scalar fields (atomic numbers) and node vector/point fields (positions).

    Raises:
        ValueError: a field the corpus cannot fill (not a node scalar / vector / point field).
    """
    scalars, points = [], []
    for name, f in in_spec.items():
        if f.nodes and isinstance(f.rep, Vector):
            points.append(name)
        elif f.nodes and isinstance(f.rep, Scalar):
            scalars.append(name)
        else:
            raise ValueError(f"the molecule corpus cannot fill field '{name}' ({f!r}): it has "
                             f"node scalars (atomic numbers) and node points/vectors only")
    if not points:
        raise ValueError(f"the in_spec {in_spec!r} has no node point/vector field for positions")
    return scalars, points


def molecule_sample(
    mols: Sequence[Molecule], in_spec: Spec, *, dtype: torch.dtype = torch.float64,
    scale: float = 1.0,
) -> dict[str, Tensor]:
    """A dense batch of molecules that all have the same number of atoms (no mask).

    Shapes:
        scalar fields ``(B, N)``, point fields ``(B, N, 3)``.
    """
    sizes = {len(m.numbers) for m in mols}
    if len(sizes) > 1:
        raise ValueError(f"molecules of different sizes {sorted(sizes)}: use padded_batch")
    return _dense(mols, in_spec, dtype, scale, pad_to=None, generator=None)


def _dense(mols, in_spec, dtype, scale, pad_to, generator) -> dict[str, Tensor]:
    scalars, points = _fields(in_spec)
    n = max([len(m.numbers) for m in mols] + [pad_to or 0])
    b = len(mols)
    z = torch.randn(b, n, dtype=torch.float64, generator=generator).abs() * 10
    pos = torch.randn(b, n, 3, dtype=torch.float64, generator=generator) * 5 * scale
    mask = torch.zeros(b, n, dtype=torch.bool)
    for i, m in enumerate(mols):
        zi, pi = m.tensors()
        k = len(m.numbers)
        z[i, :k], pos[i, :k], mask[i, :k] = zi, pi * scale, True
    if pad_to is None:
        z, pos = z[:, : n], pos[:, : n]
    out = {name: z.to(dtype) for name in scalars} | {name: pos.to(dtype) for name in points}
    if pad_to is not None:
        out["mask"] = mask
    return out


def padded_batch(
    mols: Sequence[Molecule | None], in_spec: Spec, *, pad_to: int | None = None,
    dtype: torch.dtype = torch.float64, scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """Molecules padded to ``pad_to`` rows with a ``mask``; ``None`` is a sample with no atoms.

    Padding rows hold random values (never zeros), so an output that reads them shows it.

    Shapes:
        scalar fields ``(B, P)``, point fields ``(B, P, 3)``, ``mask: (B, P)`` bool.
    """
    real = [m for m in mols if m is not None]
    pad = max([len(m.numbers) for m in real] + [pad_to or 0, 1])
    empty = Molecule("empty", "asymmetric", (), ())
    return _dense([m or empty for m in mols], in_spec, dtype, scale, pad, generator)


def ragged_batch(
    mols: Sequence[Molecule | None], in_spec: Spec, *, dtype: torch.dtype = torch.float64,
    scale: float = 1.0,
) -> dict[str, Tensor]:
    """Molecules concatenated over atoms with a ``batch`` vector; ``None`` has no atoms.

    Shapes:
        scalar fields ``(total,)``, point fields ``(total, 3)``, ``batch: (total,)`` long,
        ``num_graphs``: ``B`` (an int tensor, so empty trailing graphs are kept).
    """
    scalars, points = _fields(in_spec)
    zs, ps, bs = [], [], []
    for i, m in enumerate(mols):
        if m is None:
            continue
        z, p = m.tensors()
        zs.append(z)
        ps.append(p * scale)
        bs.append(torch.full((len(m.numbers),), i, dtype=torch.long))
    z = torch.cat(zs) if zs else torch.zeros(0, dtype=torch.float64)
    p = torch.cat(ps) if ps else torch.zeros(0, 3, dtype=torch.float64)
    batch = torch.cat(bs) if bs else torch.zeros(0, dtype=torch.long)
    out = {name: z.to(dtype) for name in scalars} | {name: p.to(dtype) for name in points}
    return out | {"batch": batch, "num_graphs": torch.tensor(len(mols))}


def remove_sample(sample: dict[str, Tensor], in_spec: Spec, index: int) -> dict[str, Tensor]:
    """The batch without sample ``index`` (dense or ragged layout; ragged node fields are those
    ``in_spec`` declares with ``nodes``)."""
    from symkit.symmetrizers._batching import batch_layout, select_samples

    keep = torch.ones(batch_layout(sample, in_spec).size, dtype=torch.bool)
    keep[index] = False
    return select_samples(sample, keep,
                          lambda name, v: name in in_spec and in_spec[name].nodes)


@dataclass
class HardInput:
    """One input of the corpus.

    Attributes:
        name: what it is (``mol:co2``, ``padded``, ``scale:1e-08``, ``nan``, ...).
        sample: the batch.
        degenerate: per sample, whether the input has a non-trivial symmetry (informative: a
            symmetrizer may still be exact on it, or flag it).
        must_raise: sample indices that must raise a :class:`~symkit.errors.SampleError`.
        alone: for batches of several molecules, each sample as a batch of one (an unflagged
            sample's output must not depend on the rest of the batch or on padding).
        scale: coordinate scale; sampled translations are scaled alike (a unit translation of
            coordinates of size 1e-8 is not representable to the input's own precision).
    """

    name: str
    sample: dict[str, Tensor]
    degenerate: list[bool]
    must_raise: set[int] = field(default_factory=set)
    alone: list[dict[str, Tensor]] | None = None
    scale: float = 1.0


def hard_inputs(
    in_spec: Spec, *, dtype: torch.dtype = torch.float64, symmetry: Sequence[str] | None = None,
    layouts: bool = True, scales: Sequence[float] = SCALES, seed: int = 0,
) -> list[HardInput]:
    """The corpus for ``in_spec`` (node scalars = atomic numbers, node points = positions).

    Args:
        dtype: floating dtype of every input (float64, float32, float16, bfloat16).
        symmetry: symmetry classes of the single-molecule inputs (default: all).
        layouts: add the padded, ragged, empty, one-sample, scaled and NaN batches.
        scales: coordinate scales of the ``scale:*`` inputs.
        seed: seed of the random padding values.

    Returns:
        one :class:`HardInput` per molecule (a batch of one), then the layout inputs.
    """
    gen = torch.Generator().manual_seed(seed)
    mols = molecules(symmetry)
    cases = [HardInput(f"mol:{m.name}", molecule_sample([m], in_spec, dtype=dtype),
                       [m.degenerate]) for m in mols]
    if not layouts:
        return cases
    every = molecules()
    alone = [molecule_sample([m], in_spec, dtype=dtype) for m in every]
    flags = [m.degenerate for m in every]
    cases.append(HardInput("padded", padded_batch(every, in_spec, pad_to=14, dtype=dtype,
                                                  generator=gen), flags, alone=alone))
    cases.append(HardInput("ragged", ragged_batch(every, in_spec, dtype=dtype), flags,
                           alone=alone))
    cases.append(HardInput("empty_batch", padded_batch([], in_spec, dtype=dtype), []))
    cases.append(HardInput("empty_batch_ragged", ragged_batch([], in_spec, dtype=dtype), []))
    first, water = every[0], molecules("planar")[-1]
    cases.append(HardInput("empty_sample", padded_batch([first, None], in_spec, dtype=dtype,
                                                        generator=gen), [False, True]))
    cases.append(HardInput("empty_sample_ragged", ragged_batch([first, None, water], in_spec,
                                                               dtype=dtype),
                           [False, True, True]))
    for s in scales:
        if not torch.finfo(dtype).tiny <= s <= torch.finfo(dtype).max / 1e3:
            continue  # not representable in this dtype
        cases.append(HardInput(f"scale:{s:g}", padded_batch([first, water], in_spec, dtype=dtype,
                                                            scale=s, generator=gen),
                               [False, True], scale=s))
    nan = padded_batch([first, first], in_spec, dtype=dtype, generator=gen)
    for name in _fields(in_spec)[1]:
        nan[name][1, 2] = float("nan")
    cases.append(HardInput("nan", nan, [False, True], must_raise={1}))
    return cases
