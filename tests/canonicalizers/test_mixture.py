"""The straight-through mixture ``m_b = sum_j w[b, j] g_j . x_b`` of ``train_mode: mix``."""

from __future__ import annotations

import pytest
import torch

from symkit.canonicalizers import _mixture
from symkit.canonicalizers._mixture import mix_transformed, transformed_copies
from symkit.reps import image, scalar, vector
from symkit.spec import Field, Spec
from symkit.symmetrizers.learned._relax import straight_through_onehot

from .._cases import DTYPE_IDS, DTYPES, group

#: image, vector (per sample and per node), scalar (invariant) fields; "extra" is unnamed
SPEC = Spec({"image": image(), "v": vector(), "nv": Field(vector(), nodes=True),
             "s": scalar(), "ns": Field(scalar(), nodes=True)})


def _values(b: int, dtype: torch.dtype, channels: int = 2) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    shapes = {"image": (b, channels, 6, 6), "v": (b, 3, 2), "nv": (b, 4, 2), "s": (b, 5),
              "ns": (b, 4), "extra": (b, 3)}
    out = {n: torch.randn(s, generator=gen, dtype=torch.float64).to(dtype)
           for n, s in shapes.items()}
    out["label"] = torch.arange(b)  # integer: never mixed
    return out


def _formula(g, spec, values, elements, weights, unnamed):
    """The mixture written out one sample and one element at a time."""
    out = {}
    for name, x in values.items():
        if not (x.is_floating_point() and (name in spec or unnamed)):
            continue
        rows = []
        for b in range(x.shape[0]):
            total = 0
            for j in range(weights.shape[1]):
                gj = elements[j:j + 1]
                t = spec[name].act(g, gj, x[b:b + 1]) if name in spec else x[b:b + 1]
                total = total + weights[b, j] * t
            rows.append(total)
        out[name] = torch.cat(rows)
    return out


@pytest.mark.parametrize("straight_through", [True, False], ids=["one-hot", "soft"])
@pytest.mark.parametrize("gname", ["c4", "d4", "c8"])
def test_mixture_matches_its_formula_with_gradients(gname, straight_through):
    """Values (exactly for one-hot weights and exact actions) and gradients (to rounding,
    float64) with respect to the weights and to every field equal the element-by-element sum:
    image fields through one gather (C4, D4) or through resampling (C8: the generic path),
    vector fields per sample and per node, invariant and unnamed fields by ``x sum_j w_j``."""
    g = group(*{"c8": ("cyclic", 8)}.get(gname, (gname,)))
    b = 3
    logits = torch.randn(b, g.order, generator=torch.Generator().manual_seed(2),
                         dtype=torch.float64, requires_grad=True)
    values = {n: v.requires_grad_() if v.is_floating_point() else v
              for n, v in _values(b, torch.float64).items()}
    elements = g.inverse(g.elements())

    def weights():
        return (straight_through_onehot(logits) if straight_through
                else torch.softmax(logits, -1))

    got = mix_transformed(g, SPEC, values, elements, weights(), unnamed=True)
    want = _formula(g, SPEC, values, elements, weights(), unnamed=True)
    assert sorted(got) == sorted(want) == ["extra", "image", "ns", "nv", "s", "v"]
    probe = {n: torch.randn(v.shape, generator=torch.Generator().manual_seed(3),
                            dtype=torch.float64) for n, v in want.items()}
    inputs = [logits] + [values[n] for n in sorted(want)]
    grads = {}
    for key, result in (("got", got), ("want", want)):
        for name in result:
            if straight_through and gname != "c8":  # exact actions, one-hot weights
                assert torch.equal(result[name], want[name]), name
            else:
                assert torch.allclose(result[name], want[name], rtol=1e-12, atol=1e-14), name
        loss = sum((result[n] * probe[n]).sum() for n in result)
        grads[key] = torch.autograd.grad(loss, inputs)
    for a, c in zip(grads["got"], grads["want"]):
        assert torch.allclose(a, c, rtol=1e-10, atol=1e-13)
    assert grads["got"][0].abs().sum() > 0


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gname", ["c4", "d4"])
@pytest.mark.parametrize("channels", [1, 3])
def test_image_copies_by_one_gather_equal_the_action(gname, channels, dtype):
    """C4/D4 images: the gather through the cached pixel table gives each copy bit for bit as
    the image action does, element by element."""
    g = group(gname)
    x = _values(4, dtype, channels)["image"]
    elements = g.inverse(g.elements())
    fast = _mixture._image_copies(g, elements, x)
    assert fast is not None
    for j in range(g.order):
        gj = elements[j:j + 1].expand(4, *elements.shape[1:])
        assert torch.equal(fast[:, j].reshape(x.shape), image().act(g, gj, x)), j
    generic = transformed_copies(g, Field(vector()), "v", x.flatten(1)[:, :2], elements)
    assert generic.shape == (4, g.order, 2)


def test_image_copies_fall_back_where_an_element_resamples():
    """C8 turns by 45 degrees resample: no gather table, the generic action path."""
    g = group("cyclic", 8)
    x = _values(2, torch.float64)["image"]
    assert _mixture._image_copies(g, g.elements(), x) is None
    copies = transformed_copies(g, Field(image()), "image", x, g.elements())
    for j in range(g.order):
        gj = g.elements()[j:j + 1].expand(2)
        assert torch.equal(copies[:, j].reshape(x.shape), image().act(g, gj, x)), j


def test_empty_batch():
    g = group("d4")
    values = {n: v[:0] for n, v in _values(2, torch.float64).items()}
    out = mix_transformed(g, SPEC, values, g.elements(), torch.zeros(0, g.order,
                                                                     dtype=torch.float64))
    assert {n: tuple(v.shape) for n, v in out.items()} == {
        n: tuple(values[n].shape) for n in SPEC}
