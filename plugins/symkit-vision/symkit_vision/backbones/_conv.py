"""A first-layer convolution whose input gradient is fast on CPU.

``nn.Conv2d`` on CPU float32 runs through oneDNN, whose backward-by-data has no direct kernel
for fewer than 8 input channels and falls back to a GEMM path (oneDNN issue #42): for a 3x3
convolution of 32 one-channel 28 x 28 images into 16 channels it takes ~2.0 ms on one thread,
where PyTorch's own im2col kernel (``aten::_slow_conv2d_backward``) takes ~0.2 ms (3 channels
into 16 at 32 x 32: 1.5 against 0.6 ms; 8 channels: equal). Plain training never asks for that
gradient (the images are data), but anything differentiating through the image does: the
straight-through mixture of learned canonicalization's ``train_mode: mix``, input saliency,
adversarial examples.

:class:`InputGradConv2d` is an ``nn.Conv2d`` (same parameters, same state dict, the same
oneDNN forward, so bit-identical outputs) that computes only the input gradient with the
native kernel, when the input needs one and the case is the slow one: CPU float32, fewer than 8
input channels, one group, no dilation, zero padding. Weight and bias gradients stay oneDNN's.
Every other case is exactly ``nn.Conv2d``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["InputGradConv2d"]

#: below this many input channels oneDNN's backward-by-data is its slow GEMM fallback
NARROW_INPUT = 8


class _NativeInputGrad(torch.autograd.Function):
    """``conv2d(x, w, b)`` (oneDNN forward); backward: ``dx`` by the native im2col kernel,
    ``dw``, ``db`` by oneDNN. Built from differentiable ops, so double backward works."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, stride, padding) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten._slow_conv2d_backward.output_mask(
                grad, x, weight, list(weight.shape[-2:]), list(ctx.stride), list(ctx.padding),
                [True, False, False])[0]
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            _, grad_w, grad_b = torch.ops.aten.convolution_backward(
                grad, x, weight, [weight.shape[0]] if ctx.has_bias else None, list(ctx.stride),
                list(ctx.padding), [1, 1], False, [0, 0], 1,
                [False, ctx.needs_input_grad[1], ctx.needs_input_grad[2]])
        return grad_x, grad_w, grad_b, None, None


class InputGradConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` with a fast input gradient for narrow inputs on CPU (module docstring).

    Shapes:
        x: ``(B, C_in, H, W)`` -> ``(B, C_out, H', W')``, as ``nn.Conv2d``.
    """

    def _native_input_grad(self, x: Tensor) -> bool:
        return (x.requires_grad and torch.is_grad_enabled() and x.device.type == "cpu"
                and x.dtype == torch.float32 and x.ndim == 4 and self.in_channels < NARROW_INPUT
                and self.groups == 1 and self.dilation == (1, 1) and self.padding_mode == "zeros"
                and not isinstance(self.padding, str))

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting() or not self._native_input_grad(x):
            return super().forward(x)
        return _NativeInputGrad.apply(x, self.weight, self.bias, self.stride, self.padding)
