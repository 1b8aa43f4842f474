"""Tensor operations shared by symkit's modules (scatter reductions over ragged batches)."""

from symkit.ops.scatter import has_torch_scatter, scatter_mean, scatter_sum

__all__ = ["has_torch_scatter", "scatter_mean", "scatter_sum"]
