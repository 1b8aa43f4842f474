"""Image networks that are equivariant by construction on the pixel grid.

* :class:`GroupCNNScores`: a deep lifting G-CNN for a finite planar group, globally pooled,
  whose receptive field covers the image; ``score_g(x) = psi(rho(g)^-1 x)`` satisfies
  ``score_g(h . x) = score_{h^-1 g}(x)``: the scores permute like the regular representation,
  so ``argmax`` is equivariant (exactly where the image action is: C1, C2, C4, D1, D2, D4).
* :class:`ImageVectors`: convolutions with D4-invariant kernels followed by first moments
  ``v_c = mean_p a_c(p) p`` over centred pixel coordinates ``p``. The ``v_c`` are vectors:
  exactly equivariant for the 90-degree rotations and flips of the grid, approximately (up to
  the resampling of the grid) for other angles, which is the best an image allows.

Invariant noise enters as extra constant channels (a constant image is fixed by the action).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symkit.errors import ConfigError
from symkit.groups._base import Group, map_element
from symkit.reps._image import Image

__all__ = [
    "GroupCNNScores", "POOLINGS", "ImageVectors", "with_noise_channels", "pixel_coordinates",
    "symmetric_window_mean",
]


def with_noise_channels(x: Tensor, noise: Tensor | None) -> Tensor:
    """Append each sample's noise vector as constant channels.

    Shapes:
        x: ``(B, C, H, W)``; noise: ``(B, m)``; returns ``(B, C + m, H, W)``.
    """
    if noise is None or noise.shape[-1] == 0:
        return x
    const = noise.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
    return torch.cat([x, const], dim=1)


def pixel_coordinates(size: int, dtype: torch.dtype, device=None) -> Tensor:
    """Centred coordinates ``(x, y)`` of each pixel, ``x`` right and ``y`` up (the image rep's).

    Shapes:
        returns ``(2, size, size)``.
    """
    c = (2 * torch.arange(size, dtype=dtype, device=device) + 1) / size - 1
    ys, xs = torch.meshgrid(-c, c, indexing="ij")
    return torch.stack([xs, ys])


#: pooling between the layers of :class:`GroupCNNScores`
POOLINGS = ("max", "avg")


class GroupCNNScores(nn.Module):
    """One score per element of a finite planar group: a deep lifting G-CNN, globally pooled.

    ``score_g(x) = psi(rho(g)^-1 x)``, with ``psi`` a CNN (an optional ``downsample`` average
    pooling, then ``layers`` convolutions ``kernel_size x kernel_size`` with ReLU and 2x2
    ``pooling`` between them, a global spatial mean and a linear read-out). This is a lifting
    G-CNN over the regular representation: running ``psi`` on the copy ``rho(g)^-1 x`` is the
    lifting correlation with the filters ``rho(g) W`` (read in the frame of ``g``), and each
    further layer a group convolution whose kernel is supported on the identity of ``G``. Since
    ``rho`` is a homomorphism, ``score_g(rho(h) x) = psi(rho(g^-1 h) x) = score_{h^-1 g}(x)``:
    the scores permute like the regular representation and ``argmax`` is equivariant, *for any*
    ``psi`` (pooling, stride, odd sizes). Exact, bit for bit, when ``rho`` is (rot90/flip:
    C1, C2, C4, D1, D2, D4, see :meth:`Image.is_exact`).

    Unlike a single local layer (a bag of stroke features that look alike after a half turn),
    the receptive field of the scores covers the whole image (:meth:`receptive_field`): with
    the defaults 72 pixels, more than a 28 x 28 digit, and each layer after the first runs at a
    quarter of the pixels of the one before, so the cost is about ``|G|`` small CNNs at a
    sixteenth of the image's pixels (``downsample: 4``: a 28 x 28 digit is scored at 7 x 7,
    which on MNIST-5k is as accurate as 14 x 14 at ~0.8x the cost; benchmarks/README.md §1a).
    When the side is a multiple of ``downsample`` the image is pooled *before* it is turned
    (:func:`symmetric_window_mean`, whose rounding is the same in every orientation, so the
    scores still permute bit for bit) and only the pooled copies are turned; the average
    pooling between layers runs as one matrix product (CPU ``avg_pool2d`` is several times
    slower on maps this small).

    Args:
        group: a finite group acting on the plane (exact on the grid for the groups above).
        in_channels: image channels (plus noise channels).
        hidden: channels of every layer.
        layers: number of convolutions (depth).
        kernel_size: odd filter size.
        pooling: ``max`` or ``avg``: 2x2 pooling between layers (``ceil_mode``: never empty).
        downsample: average-pooling factor of the input before the first layer (1: none).

    Shapes:
        x: ``(B, C, H, W)`` square; returns ``(B, |G|)`` ordered like ``group.elements()``.

    Raises:
        ConfigError: unknown ``pooling``, ``layers`` or ``downsample`` below 1, even kernel.
    """

    def __init__(self, group: Group, in_channels: int, hidden: int = 16, layers: int = 3,
                 kernel_size: int = 3, pooling: str = "avg", downsample: int = 4):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError("pooling", f"unknown pooling '{pooling}'; use one of {POOLINGS}")
        if layers < 1 or downsample < 1:
            raise ConfigError("layers" if layers < 1 else "downsample",
                              f"must be >= 1, got layers={layers}, downsample={downsample}")
        if kernel_size % 2 == 0:
            raise ConfigError("kernel_size", f"must be odd, got {kernel_size}")
        self.group, self.rep = group, Image()
        self.pooling, self.downsample, self.kernel_size = pooling, downsample, kernel_size
        widths = [in_channels] + [hidden] * layers
        self.convs = nn.ModuleList(nn.Conv2d(a, b, kernel_size, padding=kernel_size // 2)
                                   for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(hidden, 1)

    def receptive_field(self) -> int:
        """Side, in input pixels, of the window one score reads before the global mean."""
        field, jump = self.downsample, self.downsample
        for i in range(len(self.convs)):
            if i:
                field, jump = field + jump, 2 * jump
            field += (self.kernel_size - 1) * jump
        return field

    def _lift(self, x: Tensor) -> Tensor:
        """``rho(g)^-1 x`` for every ``g`` (element-major ``(|G| B, C, H', W')``), downsampled.

        When the side is a multiple of ``downsample`` the image is pooled first, by
        :func:`symmetric_window_mean` (whose rounding does not depend on the window's
        orientation, so pooling commutes with every rot90/flip bit for bit), and only the small
        pooled copies are turned. Otherwise the copies are turned first and pooled after
        (``ceil_mode``): a window hanging over one edge would move to the other.
        (:meth:`Image.act` turns the element-major runs as slices, without a gather.)
        """
        d = self.downsample
        aligned = d > 1 and x.shape[-1] % d == 0
        if aligned:
            x = symmetric_window_mean(x, d)
        n, b = self.group.order, x.shape[0]
        inverse = self.group.inverse(self.group.elements(device=x.device))
        g = map_element(lambda t: t.repeat_interleave(b, dim=0), inverse)  # element-major
        h = self.rep.act(self.group, g, x.repeat(n, *([1] * (x.ndim - 1))))
        return _avg_pool(h, d) if d > 1 and not aligned else h

    def forward(self, x: Tensor) -> Tensor:
        n, b = self.group.order, x.shape[0]
        if b == 0:
            return x.new_zeros(0, n)
        h = self._lift(x)
        for i, conv in enumerate(self.convs):
            if i:
                h = _avg_pool(h, 2) if self.pooling == "avg" else F.max_pool2d(h, 2, ceil_mode=True)
            h = torch.relu(conv(h))
        return self.out(h.mean(dim=(-1, -2))).reshape(n, b).transpose(0, 1)


def _symmetric_sum(x: Tensor, dim: int) -> Tensor:
    """Sum over ``dim`` as ``(x_0 + x_{d-1}) + (x_1 + x_{d-2}) + ...``: the same bits when
    ``dim`` is reversed (each pair is, since ``a + b == b + a`` in floating point)."""
    d = x.shape[dim]
    total = None
    for i in range(d // 2):
        pair = x.select(dim, i) + x.select(dim, d - 1 - i)
        total = pair if total is None else total + pair
    if d % 2:
        middle = x.select(dim, d // 2)
        total = middle if total is None else total + middle
    return total


def symmetric_window_mean(x: Tensor, d: int) -> Tensor:
    """Mean over ``d x d`` windows whose rounding is the same for all 8 orientations of a window.

    ``(R + C) / (2 d^2)`` with ``R`` the sum of the row sums and ``C`` the sum of the column
    sums, each by :func:`_symmetric_sum`: a flip reverses the order inside rows (or columns)
    and a transpose swaps ``R`` and ``C``, neither of which changes a bit. So, for a side that
    is a multiple of ``d``, ``pool(rot90(x)) == rot90(pool(x))`` and likewise for flips, exactly.

    Shapes:
        x: ``(..., H, W)`` with ``H`` and ``W`` multiples of ``d``; returns
        ``(..., H / d, W / d)``.
    """
    *lead, hgt, wid = x.shape
    w = x.reshape(*lead, hgt // d, d, wid // d, d)
    rows = _symmetric_sum(_symmetric_sum(w, -1), -2)
    cols = _symmetric_sum(_symmetric_sum(w, -3), -1)
    return (rows + cols) / (2 * d * d)


_POOL_MATRICES: dict[tuple, Tensor] = {}


def _avg_pool(x: Tensor, k: int) -> Tensor:
    """``F.avg_pool2d(x, k, ceil_mode=True)`` as one matrix product (several times faster on
    CPU for the small maps of :class:`GroupCNNScores`; windows over the edge average the
    pixels inside, as ``ceil_mode`` does).

    Shapes:
        x: ``(N, C, H, W)``; returns ``(N, C, ceil(H / k), ceil(W / k))``.
    """
    *lead, hgt, wid = x.shape
    key = (hgt, wid, k, x.dtype, x.device)
    mat = _POOL_MATRICES.get(key)
    if mat is None:
        def axis(n: int) -> Tensor:
            m = torch.zeros(n, -(-n // k), dtype=torch.float64)
            m[torch.arange(n), torch.arange(n) // k] = 1.0
            return m / m.sum(0, keepdim=True)
        mat = torch.kron(axis(hgt), axis(wid)).to(dtype=x.dtype, device=x.device)
        _POOL_MATRICES[key] = mat
    out = x.reshape(-1, hgt * wid) @ mat
    return out.reshape(*lead, -(-hgt // k), -(-wid // k))


class D4InvariantConv(nn.Module):
    """A convolution whose kernel is averaged over the 8 symmetries of the square.

    Shapes:
        x: ``(B, C_in, H, W)``; returns ``(B, C_out, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 dilation: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size)
                                   / (in_channels * kernel_size**2) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.dilation = dilation

    def kernel(self) -> Tensor:
        rots = [torch.rot90(self.weight, k, dims=(-2, -1)) for k in range(4)]
        rots += [torch.flip(r, dims=(-2,)) for r in rots]
        return torch.stack(rots).mean(0)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.kernel(), self.bias, padding=self.dilation * (
            self.weight.shape[-1] // 2), dilation=self.dilation)


class ImageVectors(nn.Module):
    """``m`` vectors ``v_c = mean_p a_c(p) p`` from D4-invariant convolution features ``a``.

    The image is first average-pooled by ``downsample`` (when its side is a multiple of it, so
    the pooled grid keeps the centre), then ``layers`` D4-invariant 3x3 convolutions with tanh,
    the ``i``-th dilated by ``2**i`` when ``dilate``: the receptive field of ``a`` is
    ``downsample * (1 + 2 (2**layers - 1))`` pixels (defaults: 30, the whole of a 28 x 28
    digit), where two plain 3x3 layers at full resolution see 5 pixels and the moments are a
    bag of local stroke features. Moments are taken over the pooled grid's centred coordinates.

    Args:
        in_channels: image channels (plus noise channels).
        num_vectors: ``m``.
        hidden: feature channels.
        layers: number of D4-invariant convolutions.
        downsample: average-pooling factor before the convolutions (1: none).
        dilate: dilate layer ``i`` by ``2**i``.

    Shapes:
        x: ``(B, C, H, W)`` square; returns ``(B, 2, m)`` (vectors as columns) and the
        reference size ``mean_p |a_c(p)| |p|`` of each vector ``(B, m)`` (its norm if nothing
        cancelled; see :func:`._matrices.complete_frame`).
    """

    def __init__(self, in_channels: int, num_vectors: int, hidden: int = 16, layers: int = 3,
                 downsample: int = 2, dilate: bool = True):
        super().__init__()
        if layers < 1 or downsample < 1:
            raise ConfigError("layers" if layers < 1 else "downsample",
                              f"must be >= 1, got layers={layers}, downsample={downsample}")
        dims = [in_channels] + [hidden] * layers
        self.convs = nn.ModuleList(D4InvariantConv(a, b, dilation=2**i if dilate else 1)
                                   for i, (a, b) in enumerate(zip(dims, dims[1:])))
        self.head = nn.Conv2d(hidden, num_vectors, 1)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        h = x
        if self.downsample > 1 and x.shape[-1] % self.downsample == 0:
            h = F.avg_pool2d(h, self.downsample)
        for conv in self.convs:
            h = torch.tanh(conv(h))
        a = self.head(h)  # (B, m, H', W')
        p = pixel_coordinates(a.shape[-1], x.dtype, x.device)  # (2, H', W')
        area = a.shape[-1] * a.shape[-2]
        size = torch.einsum("bmhw,hw->bm", a.detach().abs(), p.norm(dim=0)) / area
        return torch.einsum("bmhw,dhw->bdm", a, p) / area, size
