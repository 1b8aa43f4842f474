"""How big a backbone call is: the activation bytes that ``chunk_size = "auto"`` plans by.

A backbone's activations per copy are measured once per input shape by a *dry call*
(:func:`measure_per_copy`): forward hooks on its leaf modules sum the bytes of the tensors they
return (:func:`activation_bytes`), i.e. the activations one forward keeps. The dry call leaves
no trace: it runs in the caller's autograd mode with every module in eval mode, inside
:func:`torch.random.fork_rng`, and every buffer it changes is put back. The calls of a forward
are then planned against the byte budget of :func:`auto_budget` (see
:mod:`symkit.symmetrizers._streaming` and ``docs/cost-model.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

__all__ = ["AUTO_BUDGET", "auto_budget", "activation_bytes", "measure_per_copy"]

#: bytes of backbone activations per call that ``chunk_size = "auto"`` aims for on a CPU (16 MiB:
#: below glibc's largest reusable block, 32 MiB, and about a last-level cache)
AUTO_BUDGET = 16 * 2**20
#: on a CUDA device: this fraction of the free memory, at most ``AUTO_BUDGET_CUDA_MAX`` bytes
AUTO_BUDGET_CUDA_FRACTION = 0.25
AUTO_BUDGET_CUDA_MAX = 8 * 2**30


def auto_budget(device: torch.device) -> int:
    """Activation bytes per backbone call that ``chunk_size = "auto"`` aims for on ``device``.

    A CPU wants calls that stay in cache and in the allocator's reusable blocks
    (:data:`AUTO_BUDGET`, measured in ``benchmarks/symmetrizer_overhead.py``); a GPU wants as
    few, large calls as fit: a quarter of the free device memory, at most 8 GiB (on an H200 one
    unchunked call of 8 elements ran 3x faster than 8 calls, and 16 MiB calls 2-8x slower).
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(min(free * AUTO_BUDGET_CUDA_FRACTION, AUTO_BUDGET_CUDA_MAX))
    return AUTO_BUDGET


def activation_bytes(backbone: Callable, sample: Mapping[str, object]) -> tuple[object, int]:
    """Call ``backbone(sample)`` and sum the bytes of every leaf module's tensor outputs.

    Returns:
        the backbone's output and the byte count of the tensors its leaf modules return (in
        nested tuples, lists and dicts too; 0 when none returns a tensor, e.g. a plain
        function).
    """
    total = [0]
    leaves = _hookable_leaves(backbone)

    def hook(module, args, output):
        total[0] += _tensor_bytes(output)

    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        out = backbone(sample)
    finally:
        for h in handles:
            h.remove()
    return out, total[0]


def _tensor_bytes(output: object) -> int:
    """Bytes of the tensors in a module's output, nested tuples, lists and dicts included (an
    LSTM's ``(out, (h, c))``, a leaf module that returns a dict of fields)."""
    if isinstance(output, Tensor):
        return output.numel() * output.element_size()
    if isinstance(output, Mapping):
        output = output.values()
    elif not isinstance(output, (tuple, list)):
        return 0
    return sum(_tensor_bytes(v) for v in output)


def _hookable_leaves(backbone: Callable) -> list[nn.Module]:
    """The leaf modules of ``backbone`` that take forward hooks: TorchScript modules (and the
    modules inside them) take none, so they are not measured."""
    if not isinstance(backbone, nn.Module):
        return []
    return [m for m in backbone.modules() if not isinstance(m, torch.jit.ScriptModule)
            and not any(True for _ in m.children())]


def measure_per_copy(backbone: Callable, sample: Mapping[str, object], copies: int) -> int:
    """Activation bytes per copy of ``backbone`` on ``sample`` (``copies`` copies), measured by a
    dry call whose output is dropped.

    The dry call runs as the real calls will, in the caller's autograd mode (a backbone that
    differentiates inside its forward, e.g. forces ``-dE/dx`` by :func:`torch.autograd.grad`,
    needs it), with every module in eval mode (each module's own mode restored: no running
    statistics change, no dropout) and inside :func:`torch.random.fork_rng` (the global random
    state is restored: a backbone that draws random numbers draws the same ones in the real
    calls). Buffers the dry call changes in place (a step counter, statistics a module keeps in
    any mode) get their values back: it leaves no trace in the backbone's state. The real calls
    then follow one plan on every forward, the first included (the same outputs, bit for bit,
    on every call).

    A backbone with no leaf module to measure (a plain function, a TorchScript module: those
    take no hooks) gets no dry call and 1 byte per copy, i.e. all copies in one call."""
    if not _hookable_leaves(backbone):
        return 1
    modes = [(m, m.training) for m in backbone.modules()]
    devices = sorted({v.device.index or 0 for v in sample.values()
                      if isinstance(v, Tensor) and v.device.type == "cuda"})
    saved = _buffer_values(backbone)
    try:
        for m, _ in modes:
            m.training = False
        with torch.random.fork_rng(devices=devices):
            _, nbytes = activation_bytes(backbone, sample)
    finally:
        for m, mode in modes:
            m.training = mode
        _restore_buffers(saved)
    return max(1, nbytes // max(copies, 1))


def _buffer_values(backbone: nn.Module) -> list[tuple[nn.Module, str, Tensor, int, Tensor]]:
    """Each materialized buffer (by module and name) with its version counter and a copy of its
    values. Lazy, uninitialized buffers are left out (the dry call may materialize them, as the
    first real call would), and so are inference tensors (no version counter; only code inside
    :func:`torch.inference_mode` can change them)."""
    out = []
    for module in backbone.modules():
        for name, buf in module._buffers.items():
            if buf is None or isinstance(buf, nn.parameter.UninitializedBuffer) \
                    or buf.is_inference():
                continue
            out.append((module, name, buf, buf._version, buf.detach().clone()))
    return out


def _restore_buffers(saved: list[tuple[nn.Module, str, Tensor, int, Tensor]]) -> None:
    """Put back the buffers changed since :func:`_buffer_values`: rebound ones
    (``self.count = self.count + 1``) get their object back, ones changed in place their
    values."""
    with torch.no_grad():
        for module, name, buf, version, value in saved:
            if module._buffers.get(name) is not buf:
                module._buffers[name] = buf
            if buf._version != version:
                buf.copy_(value)
