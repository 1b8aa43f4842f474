"""Real molecules (``ase``'s g2 set) and a mask- and ragged-aware backbone for the hard-input
tests of the learned symmetrizers."""

from __future__ import annotations

import torch
from ase.build import molecule
from torch import Tensor, nn

from symkit.registry import registry
from symkit.reps import point, scalar, vector
from symkit.spec import Field, Spec

from ..._cases import group

#: name -> g2 formula, with the symmetry that matters here
MOLECULES = {
    "water": "H2O",  # C2v: planar, one C2 axis
    "formic_acid": "HCOOH",  # Cs: planar, no other symmetry
    "ethanol": "CH3CH2OH",  # Cs: one mirror plane
    "acetaldehyde": "CH3CHO",  # Cs: one mirror plane
    "benzene": "C6H6",  # D6h: planar hexagon
    "methane": "CH4",  # Td
    "co2": "CO2",  # D_inf_h: linear
}
MIRROR = ["formic_acid", "ethanol", "acetaldehyde"]  # proper stabilizer trivial: exact in SE(3)
SYMMETRIC = ["benzene", "methane", "co2"]  # vectors cancel: flagged for every group
DTYPES = [torch.float64, torch.float32]
DTYPE_IDS = ["f64", "f32"]
#: "exact" relative to the output's own spread
EXACT = {torch.float64: 1e-9, torch.float32: 1e-5}

IN_SPEC = Spec({"h": Field(scalar(), nodes=True), "pos": Field(point(), nodes=True)})
OUT_SPEC = Spec({"e": scalar(), "v": Field(vector(), nodes=True),
                 "y": Field(point(), nodes=True)})
ENERGY_SPEC = Spec({"e": scalar()})


def positions(name: str, dtype: torch.dtype = torch.float64) -> Tensor:
    """The molecule's positions as given by ``ase`` (Angstrom), ``(N, 3)``."""
    pos = molecule(MOLECULES[name]).positions
    return torch.tensor(pos, dtype=torch.float64).to(dtype)


def numbers(name: str, dtype: torch.dtype = torch.float64) -> Tensor:
    """Atomic numbers scaled to O(1): an invariant node feature, ``(N,)``."""
    z = molecule(MOLECULES[name]).numbers
    return (torch.tensor(z, dtype=torch.float64) / 8.0).to(dtype)


def sample_of(name: str, dtype: torch.dtype = torch.float64) -> dict[str, Tensor]:
    """One molecule as a dense batch of one: ``h: (1, N)``, ``pos: (1, N, 3)``."""
    return {"h": numbers(name, dtype)[None], "pos": positions(name, dtype)[None]}


def padded(names: list[str], rows: int, dtype=torch.float64, seed: int = 0
           ) -> dict[str, Tensor]:
    """Molecules padded to ``rows`` nodes with random padding values and a node mask."""
    gen = torch.Generator().manual_seed(seed)
    pos = torch.randn(len(names), rows, 3, generator=gen, dtype=torch.float64) * 5
    h = torch.randn(len(names), rows, generator=gen, dtype=torch.float64)
    mask = torch.zeros(len(names), rows, dtype=torch.bool)
    for b, name in enumerate(names):
        p = positions(name)
        pos[b, : len(p)], h[b, : len(p)], mask[b, : len(p)] = p, numbers(name), True
    return {"h": h.to(dtype), "pos": pos.to(dtype), "mask": mask}


def ragged(names: list[str], dtype=torch.float64) -> dict[str, Tensor]:
    """Molecules concatenated node-wise with a ``batch`` vector."""
    pos = torch.cat([positions(n, dtype) for n in names])
    h = torch.cat([numbers(n, dtype) for n in names])
    batch = torch.cat([torch.full((len(positions(n)),), i) for i, n in enumerate(names)])
    return {"h": h, "pos": pos, "batch": batch, "num_graphs": len(names)}


class SetNet(nn.Module):
    """A non-equivariant backbone that reads only valid nodes (``mask`` or ragged ``batch``).

    Node features ``z_i = MLP([h_i, pos_i])`` of the raw coordinates (no symmetry at all);
    ``e = sum_i valid z_i W_e`` (per sample), ``v_i = z_i W_v``, ``y_i = z_i W_y + pos_i``.

    Shapes:
        dense: ``h (B, N)``, ``pos (B, N, 3)``, optional ``mask (B, N)``; ragged: node rows
        with ``batch``; outputs ``e (B, 2)``, ``v`` and ``y`` ``(nodes, 2, 3)``.
    """

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                 nn.Tanh())
        self.e, self.v, self.y = (nn.Linear(hidden, 2), nn.Linear(hidden, 6),
                                  nn.Linear(hidden, 6))

    def forward(self, sample):
        pos = sample["pos"]
        dtype = self.e.weight.dtype
        z = self.mlp(torch.cat([sample["h"][..., None], pos], -1).to(dtype))
        e_node = self.e(z)
        batch = sample.get("batch")
        if isinstance(batch, Tensor):
            b = int(sample.get("num_graphs", int(batch.max()) + 1 if batch.numel() else 0))
            e = e_node.new_zeros(b, 2).index_add(0, batch, e_node)
        else:
            mask = sample.get("mask")
            if mask is not None:
                e_node = torch.where(mask[..., None], e_node, torch.zeros_like(e_node))
            e = e_node.sum(-2)
        v = self.v(z).reshape(*z.shape[:-1], 2, 3)
        y = self.y(z).reshape(*z.shape[:-1], 2, 3) + pos[..., None, :].to(dtype)
        return {"e": e, "v": v, "y": y}


def build(name: str, gname: str, dtype=torch.float64, out: Spec = OUT_SPEC, init_seed: int = 0,
          **params):
    """The registered symmetrizer ``name`` around a :class:`SetNet`, in eval mode."""
    torch.manual_seed(init_seed)
    g = group(gname)
    factory = registry("symmetrizers").get(name).load()
    return factory(SetNet().to(dtype), g, IN_SPEC, out, **params).eval(), g


def spread_error(got: dict[str, Tensor], want: dict[str, Tensor], spec: Spec = OUT_SPEC
                 ) -> float:
    """Worst ``||got - want|| / spread(want)`` over fields; the spread of a point field is
    taken about its mean point (so a translation does not inflate it), of others about 0."""
    worst = 0.0
    for name in spec:
        a, b = got[name].double(), want[name].double()
        ref = b
        if isinstance(spec[name].rep, type(point())):
            flat = b.reshape(b.shape[0], -1, b.shape[-1])
            ref = flat - flat.mean(1, keepdim=True)
        worst = max(worst, float((a - b).norm() / ref.norm().clamp_min(1e-300)))
    return worst


def moved(g, element, sample: dict[str, Tensor]) -> dict[str, Tensor]:
    """``g . sample`` computed in float64 and cast back (the input is rounded once)."""
    dtype = sample["pos"].dtype
    out = IN_SPEC.act(g, element, {k: sample[k].double() for k in IN_SPEC})
    return {**sample, **{k: v.to(dtype) for k, v in out.items()}}


def acted(g, element, y: dict[str, Tensor], spec: Spec = OUT_SPEC) -> dict[str, Tensor]:
    """``g . y`` in float64."""
    return spec.act(g, element, {k: y[k].double() for k in spec})
