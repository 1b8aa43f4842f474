"""Pure-torch scatter fallback vs torch-scatter on the same inputs: time ratio and equality.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scatter_accel.py``. Both paths are timed
interleaved in one process (median of ``--reps`` rounds); results must agree to float rounding.
Without torch-scatter installed it says so and times the fallback only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from symkit.ops import scatter  # noqa: E402


def fallback_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    return src.new_zeros((dim_size, *src.shape[1:])).index_add_(0, index, src)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=21)
    args = parser.parse_args()
    torch.manual_seed(0)
    accel = scatter.has_torch_scatter()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"torch-scatter {'installed' if accel else 'not installed: fallback only'}")
    print(f"{'graphs':>7} {'nodes':>8} {'features':>8} {'fallback ms':>12} {'torch-scatter ms':>17}"
          f" {'ratio':>6} {'max abs diff':>13}")
    for graphs, nodes, features in [(100, 5, 64), (32, 1024, 64), (256, 200, 128)]:
        total = graphs * nodes
        src = torch.randn(total, features)
        index = torch.randint(0, graphs, (total,)).sort().values
        ref = fallback_sum(src, index, graphs)
        fb, ts = [], []
        for _ in range(args.reps):
            fb.append(timed(fallback_sum, src, index, graphs))
            if accel:
                ts.append(timed(scatter.scatter_sum, src, index, graphs))
        fb_ms = statistics.median(fb) * 1e3
        if accel:
            ts_ms = statistics.median(ts) * 1e3
            diff = (scatter.scatter_sum(src, index, graphs) - ref).abs().max().item()
            print(f"{graphs:>7} {total:>8} {features:>8} {fb_ms:>12.3f} {ts_ms:>17.3f}"
                  f" {ts_ms / fb_ms:>6.2f} {diff:>13.2e}")
        else:
            print(f"{graphs:>7} {total:>8} {features:>8} {fb_ms:>12.3f}"
                  f" {'-':>17} {'-':>6} {'-':>13}")


if __name__ == "__main__":
    main()
