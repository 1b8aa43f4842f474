"""Benchmark: pure-torch kNN (cdist + topk) against torch-cluster's kNN, when it is installed.

Run: ``.venv/bin/python plugins/symkit-pointcloud/benchmarks/knn_scatter.py``. Prints, for a
few cloud sizes, the median time of each path, their ratio, and whether they agree (the same
neighbour distances and valid slots; indices may differ only between tied neighbours).
Single-threaded (``OMP_NUM_THREADS=1``) so numbers are comparable between machines.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import torch  # noqa: E402
from symkit_pointcloud.ops import knn_cluster, knn_torch, torch_cluster  # noqa: E402

CASES = [(8, 256, 16), (8, 1024, 16), (2, 4096, 16)]  # (clouds B, points N, neighbours k)


def median_time(fn: Callable[[], object], repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    cluster = torch_cluster()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    if cluster is None:
        print("torch-cluster not installed: timing the pure-torch fallback only")
    g = torch.Generator().manual_seed(0)
    for b, n, k in CASES:
        x = torch.randn(b, n, 3, generator=g)
        mask = torch.rand(b, n, generator=g) > 0.1
        t_torch = median_time(lambda: knn_torch(x, mask, k))  # noqa: B023
        line = f"B={b:2d} N={n:5d} k={k:2d}  torch {1e3 * t_torch:8.2f} ms"
        if cluster is not None:
            t_cluster = median_time(lambda: knn_cluster(cluster, x, mask, k))  # noqa: B023
            idx_a, valid_a = knn_torch(x, mask, k)
            idx_b, valid_b = knn_cluster(cluster, x, mask, k)
            rows = torch.arange(b).view(-1, 1, 1)
            dist_a = (x[rows, idx_a] - x.unsqueeze(2)).norm(dim=-1) * valid_a
            dist_b = (x[rows, idx_b] - x.unsqueeze(2)).norm(dim=-1) * valid_b
            equal = torch.equal(valid_a, valid_b) and torch.allclose(dist_a, dist_b, atol=1e-5)
            line += (f"  torch-cluster {1e3 * t_cluster:8.2f} ms"
                     f"  speed-up x{t_torch / t_cluster:5.1f}  equal: {equal}")
        print(line)


if __name__ == "__main__":
    main()
