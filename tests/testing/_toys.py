"""Hand-written models with a known outcome on every input, to test the checkers themselves."""

from __future__ import annotations

import torch
from torch import nn

from symkit.errors import SampleError
from symkit.groups import haar_orthogonal


def _dense(sample):
    """``(pos (B, N, 3), mask (B, N))`` of a dense or ragged batch (ragged: one graph per row)."""
    pos = sample["pos"]
    batch = sample.get("batch")
    if batch is not None:
        b = int(sample["num_graphs"])
        counts = torch.bincount(batch, minlength=b)
        n = int(counts.max()) if counts.numel() and b else 0
        dense = pos.new_zeros(b, n, 3)
        mask = torch.zeros(b, n, dtype=torch.bool)
        start = torch.cumsum(counts, 0) - counts
        slot = torch.arange(pos.shape[0]) - start[batch]
        dense[batch, slot], mask[batch, slot] = pos, True
        return dense, mask, (batch, slot)
    mask = sample.get("mask")
    mask = torch.ones(pos.shape[:2], dtype=torch.bool) if mask is None else mask
    return pos, mask, None


class Toy(nn.Module):
    """Exactly E(3)-equivariant: ``e = sum |x_i - c|^2``, ``v_i = x_i - c``, ``y_i = x_i``.

    ``noise`` adds ``noise * N(0, 1)`` to ``y`` (fresh each forward, silently wrong);
    ``flag`` marks every sample; ``randomize`` rotates ``v`` by a fresh Haar-random rotation
    (equivariant in distribution only); ``offset`` adds a fixed vector to ``v`` (wrong, not
    random); ``nan`` is ``"raise"`` (a SampleError naming the sample), ``"crash"`` (a bare
    error) or ``"pass"`` (NaN outputs).
    """

    is_exact = True

    def __init__(self, noise=0.0, flag=False, randomize=False, offset=0.0, nan="raise"):
        super().__init__()
        self.noise, self.flag, self.randomize, self.offset, self.nan = (
            noise, flag, randomize, offset, nan)
        self.flagged = None

    def forward(self, sample):
        pos, mask, ragged = _dense(sample)
        bad = ~torch.isfinite(pos).flatten(1).all(1) if pos.numel() else torch.zeros(0, dtype=bool)
        if bad.any() and self.nan != "pass":
            if self.nan == "crash":
                raise RuntimeError("linalg error")
            raise SampleError(int(bad.nonzero()[0]), "non-finite positions", field="pos")
        w = mask[..., None].to(pos.dtype)
        c = (pos * w).sum(1) / w.sum(1).clamp_min(1)
        v = (pos - c[:, None]) * w
        e = (v**2).sum((1, 2))[:, None].expand(-1, 2)
        if self.randomize:
            q = haar_orthogonal(pos.shape[0], 3, None).to(pos.dtype)
            v = v @ q.transpose(1, 2)
        v = v + self.offset
        y = pos + self.noise * torch.randn_like(pos)
        v, y = v[:, :, None].expand(-1, -1, 2, -1), y[:, :, None].expand(-1, -1, 2, -1)
        if ragged is not None:
            v, y = v[ragged], y[ragged]
        self.flagged = torch.full((pos.shape[0],), self.flag)
        return {"e": e, "v": v, "y": y}
