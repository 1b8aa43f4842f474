"""Time one training step of the digits protocol: bare CNN, learned canonicalization ``one``
and ``mix`` (thread CPU time, alternating rounds), and the first convolution's input gradient.

The models are those of ``benchmarks/digits.py --speed`` (``configs/digits/upright_cnn.yaml``
and ``upright_lc_cnn.yaml`` with ``--channels`` and canonicalizer ``hidden`` 16). Each round
runs the same 20 batches of 32 digits through every model (forward, losses, backward, Adam
step); the order alternates between rounds. ``--profile`` adds torch.profiler tables.

Example:
    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/lc_step_profile.py --rounds 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digits import CONFIGS, Job  # noqa: E402  (the sibling benchmark script)


def _ms(fn, n: int = 200) -> float:
    for _ in range(10):
        fn()
    start = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - start) / n * 1e3


def first_conv_input_gradient(channels: int) -> dict[str, float]:
    """ms per call of a 3x3 ``1 -> channels`` convolution's gradients on 32 digits: oneDNN's
    weight+bias only, oneDNN's with the input, and the native kernel's input gradient."""
    x, w = torch.randn(32, 1, 28, 28), torch.randn(channels, 1, 3, 3)
    g = torch.randn(32, channels, 28, 28)

    def onednn(mask):
        return lambda: torch.ops.aten.convolution_backward(
            g, x, w, [channels], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)

    native = lambda: torch.ops.aten._slow_conv2d_backward.output_mask(  # noqa: E731
        g, x, w, [3, 3], [1, 1], [1, 1], [True, False, False])
    return {"onednn_weight_bias": _ms(onednn([False, True, True])),
            "onednn_input_weight_bias": _ms(onednn([True, True, True])),
            "native_input": _ms(native)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    channels = f"model.backbone.channels=[{','.join(map(str, args.channels))}]"
    common = [channels, "data.train_size=640"]
    jobs = {"bare": Job("bare", CONFIGS / "upright_cnn.yaml", common)}
    for mode in ("one", "mix"):
        jobs[mode] = Job(mode, CONFIGS / "upright_lc_cnn.yaml", [
            *common, "model.symmetrizer.canonicalizer.hidden=16",
            f"model.symmetrizer.train_mode={mode}"])
    from symkit.runner.data import train_loader
    from symkit.runner.distributed import DistInfo

    bare = jobs["bare"]
    batches = list(train_loader(bare.train_set, bare.run.train, DistInfo(), 0))[:20]
    for job in jobs.values():
        job.model.train()
        for batch in batches:
            job.step(batch)
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for r in range(args.rounds):
        order = list(jobs.items()) if r % 2 == 0 else list(reversed(jobs.items()))
        for name, job in order:
            start = time.thread_time()
            for batch in batches:
                job.step(batch)
            times[name].append((time.thread_time() - start) / len(batches) * 1e3)
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:5s} step {med[name]:6.2f} ms (median of {len(t)} rounds, min "
              f"{min(t):6.2f})  / bare {med[name] / med['bare']:.3f}")
    print(f"one - bare {med['one'] - med['bare']:.2f} ms, "
          f"mix - one {med['mix'] - med['one']:.2f} ms")
    print("first convolution, ms per call:",
          {k: round(v, 3) for k, v in first_conv_input_gradient(args.channels[0]).items()})
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for name in ("one", "mix"):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for batch in batches:
                    jobs[name].step(batch)
            print(f"== {name} ({len(batches)} steps)")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
