"""``InputGradConv2d``: an ``nn.Conv2d`` whose input gradient takes PyTorch's native kernel."""

from __future__ import annotations

import pytest
import torch
from symkit_vision.backbones import InputGradConv2d, cnn_classifier


def _pair(cin: int, cout: int, **kw):
    torch.manual_seed(0)
    fast = InputGradConv2d(cin, cout, 3, **kw)
    plain = torch.nn.Conv2d(cin, cout, 3, **kw)
    plain.load_state_dict(fast.state_dict())
    return fast, plain


@pytest.mark.parametrize("cin, stride, padding, bias", [(1, 1, 1, True), (3, 2, 1, True),
                                                        (2, 1, 0, False), (8, 1, 1, True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_same_outputs_and_gradients_as_conv2d(cin, stride, padding, bias, dtype):
    """Outputs and weight/bias gradients bit for bit those of ``nn.Conv2d`` (the same
    oneDNN calls); the input gradient (native kernel in float32 below 8 channels) equal to
    float rounding; double backward through it equal to rounding too."""
    fast, plain = _pair(cin, 16, stride=stride, padding=padding, bias=bias)
    fast, plain = fast.to(dtype), plain.to(dtype)
    x = torch.randn(5, cin, 12, 12, dtype=dtype, requires_grad=True)
    ya, yb = fast(x), plain(x)
    assert torch.equal(ya, yb)
    probe = torch.randn_like(ya)
    params = [x, *fast.parameters()], [x, *plain.parameters()]
    ga = torch.autograd.grad(ya, params[0], probe, create_graph=True)
    gb = torch.autograd.grad(yb, params[1], probe, create_graph=True)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(ga[0], gb[0], rtol=tol, atol=tol * float(gb[0].detach().abs().max()))
    for a, b in zip(ga[1:], gb[1:]):
        assert torch.equal(a, b)
    dda = torch.autograd.grad(sum((g * g).sum() for g in ga), params[0][:2])
    ddb = torch.autograd.grad(sum((g * g).sum() for g in gb), params[1][:2])
    for a, b in zip(dda, ddb):  # input and weight
        assert torch.allclose(a, b, rtol=tol, atol=tol * float(b.detach().abs().max()))


def test_native_path_only_where_it_is_faster():
    """The custom backward runs only for CPU float32 inputs that need a gradient, with fewer
    than 8 channels; otherwise the module is exactly ``nn.Conv2d``."""
    fast, _ = _pair(1, 4, padding=1)
    x = torch.randn(2, 1, 6, 6)
    assert fast(x).grad_fn is not None and "NativeInputGrad" not in fast(x).grad_fn.name()
    assert "NativeInputGrad" in fast(x.requires_grad_()).grad_fn.name()
    with torch.no_grad():
        assert fast(x).grad_fn is None
    assert "NativeInputGrad" not in fast.double()(x.double()).grad_fn.name()
    wide, _ = _pair(8, 4, padding=1)
    assert "NativeInputGrad" not in wide(torch.randn(2, 8, 6, 6, requires_grad=True)).grad_fn.name()


def test_cnn_classifier_state_dict_unchanged():
    """The CNN's first convolution is an ``InputGradConv2d`` with ``nn.Conv2d``'s state dict."""
    torch.manual_seed(0)
    model = cnn_classifier(channels=(4, 8))
    assert isinstance(model.features[0], InputGradConv2d)
    assert sorted(model.state_dict())[:2] == ["features.0.bias", "features.0.weight"]
    x = torch.rand(3, 1, 28, 28, requires_grad=True)
    model({"image": x})["logits"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
