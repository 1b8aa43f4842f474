"""Image networks: the deep lifting G-CNN's scores permute like the regular representation
(bit for bit on the exact groups, for every depth, kernel, pooling and image size), its
receptive field, and the image-frame moments with dilation and pooling."""

from __future__ import annotations

import pytest
import torch

from symkit.errors import ConfigError
from symkit.reps import image
from symkit.symmetrizers.learned._image_nets import GroupCNNScores, ImageVectors

from ..._cases import DTYPE_IDS, DTYPES, group


def _regular_permutation(g) -> torch.Tensor:
    """``perm[h, j]``: the index of ``h^-1 g_j`` (so ``score(h x)[j] = score(x)[perm[h, j]]``)."""
    el = g.elements()
    n = el.shape[0]
    rows = []
    for k in range(n):
        h_inv = g.inverse(el[k:k + 1]).expand(n, *el.shape[1:])
        rows.append(g.element_index(g.compose(h_inv, el)))
    return torch.stack(rows)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(("gname", "options", "size"), [
    ("c4", {}, 28), ("d4", {}, 28), ("cyclic2", {}, 12), ("d4", {"pooling": "max"}, 15),
    ("c4", {"layers": 1, "downsample": 1, "kernel_size": 5}, 9),
    ("d4", {"layers": 4, "downsample": 3, "pooling": "max"}, 13),
])
def test_scores_permute_exactly(gname, options, size, dtype):
    """``score(h x)_g = score(x)_{h^-1 g}`` bit for bit: odd sizes and ceil-mode pooling too."""
    g = group("cyclic", 2) if gname == "cyclic2" else group(gname)
    torch.manual_seed(0)
    net = GroupCNNScores(g, 2, hidden=6, **options).to(dtype)
    x = torch.randn(3, 2, size, size, dtype=dtype)
    el, perm = g.elements(), _regular_permutation(g)
    with torch.no_grad():
        ref = net(x)
        for k in range(el.shape[0]):
            moved = image().act(g, el[k:k + 1].expand(3, *el.shape[1:]), x)
            assert torch.equal(net(moved), ref[:, perm[k]]), (gname, k)


def test_scores_shapes_and_empty_batch():
    g = group("d4")
    net = GroupCNNScores(g, 1)
    assert net(torch.rand(5, 1, 28, 28)).shape == (5, 8)
    assert net(torch.rand(0, 1, 28, 28)).shape == (0, 8)


def test_receptive_field_covers_a_digit():
    """Defaults: average-pool 2, three 3x3 layers with 2x2 pooling: 2 + 4 + 2 + 8 + 4 + 16 + ...
    = 36 pixels >= 28; one full-resolution 5x5 layer sees 5."""
    g = group("c4")
    assert GroupCNNScores(g, 1).receptive_field() == 72
    assert GroupCNNScores(g, 1, layers=1, downsample=1, kernel_size=5).receptive_field() == 5
    assert GroupCNNScores(g, 1, kernel_size=5).receptive_field() == 128
    assert GroupCNNScores(g, 1, downsample=2).receptive_field() == 36


@pytest.mark.parametrize(("options", "key"), [({"pooling": "median"}, "pooling"),
                                              ({"layers": 0}, "layers"),
                                              ({"downsample": 0}, "downsample"),
                                              ({"kernel_size": 4}, "kernel_size")])
def test_bad_options_name_the_key(options, key):
    with pytest.raises(ConfigError, match=key):
        GroupCNNScores(group("c4"), 1, **options)


@pytest.mark.parametrize("downsample", [1, 2])
def test_image_vectors_rotate_with_quarter_turns(downsample):
    """``v(r x) = R v(x)`` for the quarter turn ``r`` (float64, to rounding), dilated layers and
    pooling included; sides that are not a multiple of ``downsample`` are not pooled."""
    torch.manual_seed(0)
    net = ImageVectors(1, 2, hidden=6, layers=3, downsample=downsample).double()
    g = group("c4")
    r = g.elements()[1:2]
    for size in (28, 9):
        x = torch.randn(2, 1, size, size, dtype=torch.float64)
        with torch.no_grad():
            v, s = net(x)
            v_r, s_r = net(image().act(g, r.expand(2), x))
        rot = g.matrix(r)[0].double()
        assert torch.allclose(v_r, rot @ v, atol=1e-12 * v.abs().max().item())
        assert torch.allclose(s_r, s, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("d", [2, 3, 4])
def test_symmetric_window_mean_commutes_with_the_square_bit_for_bit(d, dtype):
    """``pool(a . x) == a . pool(x)`` exactly for all 8 symmetries of the square (a plain
    ``avg_pool2d`` sums each window in a turned order and differs in the last bits), and it is
    the window mean to rounding. Values spread over many binades make rounding matter."""
    from symkit.reps._image import exact_action
    from symkit.symmetrizers.learned._image_nets import symmetric_window_mean

    gen = torch.Generator().manual_seed(d)
    x = (torch.randn(64, 3, 4 * d, 4 * d, generator=gen, dtype=torch.float64)
         * torch.exp(3 * torch.randn(64, 3, 4 * d, 4 * d, generator=gen, dtype=torch.float64))
         ).to(dtype).clamp(-1e4, 1e4)
    pooled = symmetric_window_mean(x, d)
    for code in range(8):
        assert torch.equal(symmetric_window_mean(exact_action(x, code), d),
                           exact_action(pooled, code)), code
    ref = torch.nn.functional.avg_pool2d(x.double(), d)
    tol = {torch.float16: 2e-2, torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    assert torch.allclose(pooled.double(), ref, rtol=tol, atol=tol * ref.abs().max())


@pytest.mark.parametrize("size", [7, 8, 13])
def test_matrix_pooling_is_ceil_mode_average_pooling(size):
    from symkit.symmetrizers.learned._image_nets import _avg_pool

    x = torch.randn(5, 4, size, size, dtype=torch.float64)
    assert torch.allclose(_avg_pool(x, 2), torch.nn.functional.avg_pool2d(x, 2, ceil_mode=True),
                          rtol=1e-14, atol=1e-14)
