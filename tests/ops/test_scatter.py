"""symkit.ops.scatter: pure-torch fallback, torch-scatter dispatch and broken-extension handling."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from symkit.ops import scatter as sc


@pytest.fixture(autouse=True)
def fresh_detection():
    saved = dict(sc._STATE)
    sc._STATE.clear()
    yield
    sc._STATE.clear()
    sc._STATE.update(saved)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fallback_matches_loop(dtype):
    src = torch.randn(7, 2, 3, dtype=dtype)
    index = torch.tensor([2, 0, 2, 1, 0, 2, 2])
    total = sc.scatter_sum(src, index, 4)
    mean = sc.scatter_mean(src, index, 4)
    for b in range(4):
        rows = src[index == b]
        torch.testing.assert_close(total[b], rows.sum(0))
        expected = rows.mean(0) if len(rows) else torch.zeros_like(total[b])
        torch.testing.assert_close(mean[b], expected)


def test_not_installed_uses_fallback(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_scatter", None)  # import raises ImportError
    assert not sc.has_torch_scatter()
    out = sc.scatter_sum(torch.ones(3), torch.tensor([0, 0, 1]), 2)
    assert out.tolist() == [2.0, 1.0]


def test_installed_extension_is_dispatched_to(monkeypatch):
    calls = []

    def scatter(src, index, dim, dim_size, reduce):
        calls.append(reduce)
        return torch.zeros(dim_size, *src.shape[1:], dtype=src.dtype).index_add_(0, index, src)

    monkeypatch.setitem(sys.modules, "torch_scatter", types.SimpleNamespace(scatter=scatter))
    assert sc.has_torch_scatter()
    out = sc.scatter_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([0, 0, 1]), 2)
    assert out.tolist() == [2.0, 5.0] and calls == ["sum", "sum"]


def test_broken_import_warns_and_falls_back(monkeypatch, tmp_path):
    pkg = tmp_path / "torch_scatter"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise OSError('undefined symbol: _ZN3c10')\n")
    monkeypatch.delitem(sys.modules, "torch_scatter", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RuntimeWarning, match="failed to import"):
        assert not sc.has_torch_scatter()
    assert sc.scatter_sum(torch.ones(2), torch.tensor([1, 1]), 2).tolist() == [0.0, 2.0]


def test_failing_call_warns_and_falls_back(monkeypatch):
    def scatter(*args, **kwargs):
        raise RuntimeError("CUDA ABI mismatch")

    monkeypatch.setitem(sys.modules, "torch_scatter", types.SimpleNamespace(scatter=scatter))
    with pytest.warns(RuntimeWarning, match="torch-scatter failed"):
        out = sc.scatter_sum(torch.ones(2), torch.tensor([0, 1]), 2)
    assert out.tolist() == [1.0, 1.0] and not sc.has_torch_scatter()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_real_torch_scatter_agrees_with_the_fallback(dtype):
    """The accelerated path, where torch-scatter is installed, gives the fallback's result."""
    torch_scatter = pytest.importorskip("torch_scatter")
    gen = torch.Generator().manual_seed(0)
    src = torch.randn(300, 4, 3, generator=gen, dtype=dtype)
    index = torch.randint(0, 17, (300,), generator=gen)
    ref = src.new_zeros((17, 4, 3)).index_add_(0, index, src)
    fast = torch_scatter.scatter(src, index, dim=0, dim_size=17, reduce="sum")
    torch.testing.assert_close(fast, ref)
    sc._STATE.clear()
    assert sc.has_torch_scatter()
    torch.testing.assert_close(sc.scatter_sum(src, index, 17), ref)
