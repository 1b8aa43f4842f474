"""Image rep: exact rot90/flip on C4/D4 (a homomorphism bit for bit), resampling otherwise."""

import math

import torch

from symkit.registry import registry
from symkit.reps._image import _resample, exact_action

groups, reps = registry("groups"), registry("reps")


def _all_pairs(group):
    elems, n = group.elements(), group.order
    return group.repeat_interleave(elems, n), group.index(elems, torch.arange(n).repeat(n))


def test_d4_and_c4_are_exact_homomorphisms():
    image = reps.build("image")
    for name in ("c4", "d4"):
        group = groups.build(name)
        assert image.is_exact(group)
        g, h = _all_pairs(group)
        x = torch.randn(g.shape[0], 2, 3, 7, 7, generator=torch.Generator().manual_seed(0))
        assert torch.equal(image.act(group, group.compose(g, h), x),
                           image.act(group, g, image.act(group, h, x)))
        assert torch.equal(image.act(group, group.inverse(g), image.act(group, g, x)), x)
        assert torch.equal(image.act(group, group.identity(g.shape[0]), x), x)


def test_pixel_grid_convention():
    """x to the right, y up: a quarter turn moves the right-hand pixel to the top."""
    image, c4, d4 = reps.build("image"), groups.build("c4"), groups.build("d4")
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 4] = 1.0  # right of centre
    assert image.act(c4, torch.tensor([1]), x)[0, 0, 0, 2] == 1.0  # top
    y = torch.zeros(1, 1, 5, 5)
    y[0, 0, 0, 2] = 1.0  # top
    assert image.act(d4, torch.tensor([[0, 1]]), y)[0, 0, 4, 2] == 1.0  # reflected to bottom


def test_resampling_agrees_with_exact_path_at_quarter_turns():
    x = torch.randn(8, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    d4 = groups.build("d4")
    m = d4.matrix(d4.elements())
    for code in range(8):
        torch.testing.assert_close(_resample(x[code:code + 1], m[code:code + 1]),
                                   exact_action(x[code:code + 1], code), rtol=0, atol=1e-12)


def test_so2_quarter_turn_is_exact():
    image, so2, c4 = reps.build("image"), groups.build("so2"), groups.build("c4")
    m = torch.tensor([[[math.cos(math.pi / 2), -1.0], [1.0, math.cos(math.pi / 2)]]])
    x = torch.randn(1, 2, 6, 6)
    assert torch.equal(image.act(so2, m, x), image.act(c4, torch.tensor([1]), x))


def test_resampling_error_at_45_degrees_on_a_smooth_image():
    """A smooth anisotropic blob rotated by 45 degrees: bilinear error is small but not zero.

    Measured: relative L2 error 1.5e-2 on a 32x32 image (blob widths 6 and 3 pixels); the
    opposite rotation direction would give an error of order 1.
    """
    size, sx, sy = 32, 6.0, 3.0
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = -c[:, None].expand(size, size), c[None, :].expand(size, size)  # y up

    def blob(px, py):
        return torch.exp(-(px**2) / (2 * sx**2) - py**2 / (2 * sy**2))

    angle = math.pi / 4
    ca, sa = math.cos(angle), math.sin(angle)
    # (rho(R) f)(p) = f(R^-1 p)
    expected = blob(ca * xx + sa * yy, -sa * xx + ca * yy)
    m = torch.tensor([[[ca, -sa], [sa, ca]]], dtype=torch.float64)
    got = reps.build("image").act(groups.build("so2"), m, blob(xx, yy)[None, None])[0, 0]
    error = ((got - expected).norm() / expected.norm()).item()
    assert 1e-3 < error < 3e-2, error


def test_per_sample_codes_match_one_sample_at_a_time():
    """Many runs of codes (a sample-major batch) take the gather path; C8 mixes exact quarter
    turns with resampled eighth turns in one batch: every row equals acting on it alone (bit
    for bit where the action is exact; resampling computes its grid in a batched product)."""
    from symkit.reps._image import signed_permutation_code

    image = reps.build("image")
    gen = torch.Generator().manual_seed(1)
    for name, params in (("d4", {}), ("cyclic", {"n": 8}), ("dihedral", {"n": 8})):
        group = groups.build(name, **params)
        g = group.index(group.elements(), torch.randint(group.order, (40,), generator=gen))
        x = torch.randn(40, 2, 9, 9, generator=gen)
        out = image.act(group, g, x)
        for i in range(40):
            gi = group.index(g, torch.tensor([i]))
            one = image.act(group, gi, x[i:i + 1])
            if signed_permutation_code(group.matrix(gi))[0] >= 0:
                assert torch.equal(out[i:i + 1], one), (name, i)
            else:
                assert torch.allclose(out[i:i + 1], one, rtol=1e-5, atol=1e-5), (name, i)


def test_code_table_matches_the_matrices():
    """Finite planar groups look their codes up in a table built once: the same codes as
    reading each element's matrix, and none for the trivial action."""
    from symkit.reps._image import element_codes, signed_permutation_code

    for name, params in (("c4", {}), ("d4", {}), ("cyclic", {"n": 8}), ("cyclic", {"n": 2}),
                         ("dihedral", {"n": 6})):
        group = groups.build(name, **params)
        g = group.index(group.elements(), torch.randint(group.order, (25,)))
        assert torch.equal(element_codes(group, g), signed_permutation_code(group.matrix(g)))
    trivial = groups.build("trivial")
    assert element_codes(trivial, trivial.identity(3)) is None
