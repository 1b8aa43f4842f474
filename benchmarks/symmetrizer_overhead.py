"""Overhead of the shared symmetrizer forward versus K plain backbone calls, and its memory.

For each symmetrizer (group averaging with K = 8 Haar samples of O(3), PCA frame averaging over
E(3) with K = 8, PCA canonicalization over E(3) with K = 1) and two workloads with realistic
backbones (100 n-body systems of 5 charged particles through the graph plugin's message-passing
GNN, hidden 128, 4 layers, the size of the n-body benchmark runs; 32 point clouds of 1024 points
through the point-cloud plugin's PointNet), it reports

    overhead = time(symmetrized, K elements) / (K x time(backbone on the same batch))

for the batched forward (one call of B x K copies, and chunked to K calls of B copies) and for a
naive Python loop over the K elements. The K reference calls are the backbone work that no
symmetrizer can avoid: call k on the samples whose weight for element k is not 0 (all of them for
group and frame averaging; for canonicalization, where PCA returns K = 2 for the batch when a
sample has an undecided sign, the batch plus those samples: the K column then shows the mean copies
per sample and the call sizes); the naive loop skips the same copies. 'backbone K*B' is
time(backbone on the B x K copies) / (K x time(backbone on B)): how far the backbone itself is from
linear in the batch (the floor of an unchunked row); 'own ms' is the symmetrizer's own time
(frames, elements, transforms, tiling, averaging), measured with the backbone replaced by a free
stub of the same output shapes, and 'own / (K x backbone)' its share. Repetitions of all methods
are interleaved, each method timed right after its reference (K backbone calls), and medians of the
ratios taken. Times are the main thread's CPU time by default (``time.thread_time``; with one
thread that is all the work, and it does not count the time the process waits for a core on a
shared machine); ``--clock wall`` uses wall-clock time. A second table shows that chunking bounds
memory: backbone calls are instrumented (largest number of copies per call, and the bytes of all
module outputs produced inside one call, i.e. the activations alive at once in an inference
forward).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/symmetrizer_overhead.py [--reps 15] [--clock cpu]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from symkit.groups import e3, o3  # noqa: E402
from symkit.plugins import ensure_loaded  # noqa: E402
from symkit.registry import registry  # noqa: E402
from symkit.reps import point, scalar, vector  # noqa: E402
from symkit.spec import Field, Spec  # noqa: E402
from symkit.symmetrizers import Canonicalization, FrameAveraging, GroupAveraging  # noqa: E402

K = 8


def nbody():
    """100 charged 5-body systems; plain GNN (hidden 128, 4 layers) predicting positions."""
    gen = torch.Generator().manual_seed(0)
    x = {"pos": torch.randn(100, 5, 3, generator=gen), "vel": torch.randn(100, 5, 3, generator=gen),
         "charge": torch.randn(100, 5, 1, generator=gen).sign()}
    in_spec = Spec({"pos": Field(point(), nodes=True), "vel": Field(vector(), nodes=True),
                    "charge": Field(scalar(), nodes=True)})
    out_spec = Spec({"target": Field(point(), nodes=True)})
    ensure_loaded()  # register the core parts and installed plugins, once
    net = registry("backbones").build("graph::gnn", hidden=128, layers=4, in_spec=in_spec)
    return "n-body 100x5, GNN h128 L4", x, net, in_spec, out_spec


def clouds():
    """32 clouds of 1024 points; PointNet (per-point MLP 64-128, max pool, head 64)."""
    gen = torch.Generator().manual_seed(1)
    x = {"pos": torch.randn(32, 1024, 3, generator=gen)}
    in_spec = Spec({"pos": Field(point(), nodes=True)})
    net = registry("backbones").build("pointcloud::pointnet", hidden=[64, 128], head=[64],
                                      writes={"e": [1]}, in_spec=in_spec)
    return "clouds 32x1024, PointNet", x, net, in_spec, Spec({"e": scalar()})


DEVICE = torch.device("cpu")


ONLY = ""  # --only: run the symmetrizer rows whose name contains one of these (comma list)
WORKLOADS = "nbody,clouds"


def workloads():
    out = []
    for make in (nbody, clouds):
        if make.__name__ not in WORKLOADS.split(","):
            continue
        name, x, net, in_spec, out_spec = make()
        x = {n: v.to(DEVICE) for n, v in x.items()}
        net.to(DEVICE).eval()
        with torch.no_grad():
            net(x)  # materialize lazy layers
        out.append((name, x, net, in_spec, out_spec))
    return out


def symmetrizers(backbone, in_spec, out, batch: int):
    """The three kinds, unchunked, with ``chunk_size = batch`` (K calls of the batch size) and
    with ``chunk_size = "auto"`` (calls sized from the backbone's measured activations)."""
    models = {}
    for chunk in (None, batch, "auto"):
        tag = {None: ", unchunked", batch: f", chunk {chunk}", "auto": ", auto"}[chunk]
        models[f"group averaging O(3), K={K}{tag}"] = GroupAveraging(
            backbone, o3(), in_spec, out, eval_samples=K, chunk_size=chunk)
        models[f"frame averaging E(3), K={K}{tag}"] = FrameAveraging(
            backbone, e3(), in_spec, out, chunk_size=chunk)
    models["canonicalization E(3), K=1, unchunked"] = Canonicalization(
        backbone, e3(), in_spec, out, chunk_size=None)
    models["canonicalization E(3), K=1, auto"] = Canonicalization(
        backbone, e3(), in_spec, out, chunk_size="auto")
    if ONLY:
        models = {n: m for n, m in models.items() if any(o in n for o in ONLY.split(","))}
    return models


def naive_loop(model, x):
    """Reference: one backbone call per element, in Python, on the samples whose weight for
    that element is not 0 (the same backbone work as :func:`slot_inputs`)."""
    g, w = model.elements(x)
    b, k = w.shape
    acc = None
    for j in range(k):
        rows = torch.nonzero(w[:, j]).flatten() if j else None
        if rows is not None and rows.numel() == b:
            rows = None
        gj = g[j::k] if rows is None else g[rows * k + j]
        xj = x if rows is None else {n: v[rows] for n, v in x.items()}
        y = model.backbone(model.in_spec.act(model.group, model.group.inverse(gj), xj))
        y = model.out_spec.act(model.group, gj, y)
        wj = w[:, j] if rows is None else w[rows, j]
        y = {n: v * wj.reshape(-1, *[1] * (v.ndim - 1)) for n, v in y.items()}
        if rows is not None:
            y = {n: torch.zeros((b, *v.shape[1:]), dtype=v.dtype).index_add_(0, rows, v)
                 for n, v in y.items()}
        acc = {n: v + (acc[n] if acc else 0) for n, v in y.items()}
    return acc


def slot_inputs(model, x) -> list[dict[str, Tensor]]:
    """The backbone work a symmetrizer cannot avoid: for each element slot ``k``, the samples
    whose weight in that slot is not 0 (the whole batch for group and frame averaging; for
    canonicalization the batch once, plus the few samples with undecided signs)."""
    w = model.elements(x)[1]
    out = []
    for j in range(w.shape[1]):
        rows = torch.nonzero(w[:, j]).flatten()
        out.append(x if rows.numel() == w.shape[0] else {n: v[rows] for n, v in x.items()})
    return out


CLOCK = time.thread_time


def timed(fn) -> float:
    if DEVICE.type == "cuda":  # wall-clock time of the queued kernels
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start
    start = CLOCK()
    fn()
    return CLOCK() - start


class Stub(nn.Module):
    """A free backbone with the real one's output shapes: isolates the symmetrizer's own cost."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = outputs  # {name: fn(sample) -> tensor}

    def forward(self, sample):
        return {name: fn(sample) for name, fn in self.outputs.items()}


STUB_OUTPUTS = {  # cheap views of the input with the backbones' output shapes
    "target": lambda s: s["pos"],
    "e": lambda s: s["pos"][:, 0, :1],
}


def overhead_table(reps: int) -> list[str]:
    """Per repetition, each method is timed right after its reference (K backbone calls on the
    batch), so the two share the machine's state; the table shows medians of these ratios."""
    rows = ["| workload | symmetrizer | K | K x backbone ms | batched ms | overhead | "
            "own ms | own / (K x backbone) | backbone K*B | naive loop |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for wname, x, backbone, in_spec, out in workloads():
        b = x["pos"].shape[0]
        models = symmetrizers(backbone, in_spec, out, b)
        stub = Stub({n: STUB_OUTPUTS[n] for n in out})
        stubbed = symmetrizers(stub, in_spec, out, b)
        for m in (*models.values(), *stubbed.values()):
            m.eval()
        tiled = {n: v.repeat_interleave(K, dim=0) for n, v in x.items()}

        # reference work per row: K backbone calls, on the samples of non-zero weight
        slots = {1: [x], K: [x] * K}

        def reference(k, bb=backbone, slots=slots):
            for xj in slots[k]:
                bb(xj)

        fns = {"backbone K*B": (K, lambda bb=backbone, t=tiled: bb(t))}
        for name, m in models.items():
            parts = slot_inputs(m, x)
            k = tuple(p["pos"].shape[0] for p in parts)
            k = len(k) if set(k) == {b} else k
            slots[k] = parts
            fns[name] = (k, lambda m=m, x=x: m(x))
            fns[name + " naive"] = (k, lambda m=m, x=x: naive_loop(m, x))
            fns[name + " own"] = (k, lambda m=stubbed[name], x=x: m(x))
        ratio: dict[str, list[float]] = {key: [] for key in fns}
        times: dict[str, list[float]] = {key: [] for key in fns}
        refs: dict[int, list[float]] = {}
        with torch.inference_mode():
            reference(1)
            for _, f in fns.values():
                f()  # warm-up
            for name, m in models.items():  # the stub's "auto" plans the real backbone's calls
                stubbed[name]._activation_bytes = dict(m._activation_bytes)
            for _ in range(reps):
                for key, (k, f) in fns.items():  # interleaved, each next to its reference
                    ref = timed(lambda k=k: reference(k))
                    t = timed(f)
                    refs.setdefault(k, []).append(ref)
                    ratio[key].append(t / ref)
                    times[key].append(t)
        med = {key: statistics.median(v) for key, v in ratio.items()}
        ms = {key: statistics.median(v) * 1e3 for key, v in times.items()}
        for name, m in models.items():
            k = fns[name][0]
            base = statistics.median(refs[k]) * 1e3
            linear = (f"{med['backbone K*B']:.3f}" if (k == K and m.chunk_size is None)
                      else "-")
            kk = k if isinstance(k, int) else f"{sum(k) / b:.2f} ({'+'.join(map(str, k))})"
            rows.append(
                f"| {wname} | {name} | {kk} | {base:.2f} | {ms[name]:.2f} | {med[name]:.3f} | "
                f"{ms[name + ' own']:.2f} | {med[name + ' own']:.3f} | {linear} | "
                f"{med[name + ' naive']:.3f} |"
            )
            print(rows[-1], flush=True)
    return rows


def minimal_canonicalization(backbone, x: dict[str, Tensor], compiled=None) -> dict[str, Tensor]:
    """A lower bound, not a usable canonicalizer: the least eager PyTorch work of PCA
    canonicalization over E(3) on a dense, unmasked batch whose signs are all decided.

    One finite check (one host read), float64 centroid and covariance, one batched ``eigh``,
    third-moment signs and their ambiguity test (one host read), the inverse action on ``pos``
    and ``vel``, the backbone, the output action: the math of ``pca`` canonicalization with none
    of symkit's bookkeeping (no masks, ragged batches, degenerate or undecided samples, element
    objects, flags, metrics, output checks). ``compiled``: the frame part as a
    ``torch.compile``-d function of ``pos``.
    """
    pos, vel = x["pos"], x["vel"]
    lo, hi = torch.aminmax(torch.cat([pos, vel], 1))
    if not bool(torch.isfinite(lo - hi)):
        raise ValueError("non-finite input")
    rot, c, undecided = (compiled or _minimal_frame)(pos)
    if bool(undecided.any()):
        raise ValueError("the floor covers decided batches only")
    rot32 = rot.to(pos.dtype)
    inp = {"pos": (pos.double() - c).to(pos.dtype) @ rot32, "vel": vel @ rot32,
           "charge": x["charge"]}
    y = backbone(inp)["target"]
    return {"target": (y.double() @ rot.mT + c).to(y.dtype)}


def _minimal_frame(pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    x64 = pos.double()
    c = x64.mean(1, keepdim=True)
    xc = x64 - c
    lam, q = torch.linalg.eigh(xc.mT @ xc)
    m3 = (xc @ q).pow(3).mean(1)
    r = xc.norm(dim=-1).pow(3).mean(1, keepdim=True)
    undecided = (m3.abs() <= 1e-6 * r) | ((lam.diff(dim=1) / lam[:, -1:]).amin(1) < 1e-3)[:, None]
    return q * torch.where(m3 < 0, -1.0, 1.0)[:, None, :], c, undecided


def floor_rows(reps: int, compile_frame: bool = False) -> list[str]:
    """Canonicalization's own cost on the n-body workload against the floor of eager PyTorch.

    The batch is the n-body batch with its samples of undecided signs replaced by the first
    decided ones (same size, all decided: one backbone call of the batch). Per repetition: the
    backbone on the batch (the reference), then each method right after it (``cold``: its caches
    were just evicted by the backbone, as in a real forward), then again (``hot``). Methods run
    with a free stub backbone, so their time is their own work; ``1 + cold / backbone`` is the
    overhead they would add.
    """
    name, x, net, in_spec, out = nbody()
    net.eval()
    stub = Stub({n: STUB_OUTPUTS[n] for n in out})
    model = Canonicalization(stub, e3(), in_spec, out, chunk_size="auto").eval()
    with torch.inference_mode():
        _, weights = model.elements(x)
    keep = torch.nonzero(weights[:, 1:].sum(1) == 0).flatten() if weights.shape[1] > 1 \
        else torch.arange(x["pos"].shape[0])
    b = x["pos"].shape[0]
    keep = keep.repeat(-(-b // len(keep)))[:b]  # batch size kept (the allocator's cost jumps
    x = {n: v[keep] for n, v in x.items()}      # with it): decided samples fill the places
    methods = {"symkit canonicalization E(3) (pca, auto)": lambda: model(x),
               "eager floor (minimal_canonicalization)": lambda: minimal_canonicalization(stub, x)}
    if compile_frame:
        compiled = torch.compile(_minimal_frame, dynamic=False)
        methods["eager floor, frame part torch.compile-d"] = (
            lambda: minimal_canonicalization(stub, x, compiled))
    ref: list[float] = []
    cold: dict[str, list[float]] = {m: [] for m in methods}
    hot: dict[str, list[float]] = {m: [] for m in methods}
    with torch.inference_mode():
        for f in (lambda: net(x), *methods.values()):
            f(), f()  # warm-up (and compilation)
        for _ in range(reps):
            for m, f in methods.items():
                ref.append(timed(lambda: net(x)))
                cold[m].append(timed(f))
                hot[m].append(timed(f))
        sizes = {}
        for n in (96, 98, 100, 101, 102, 104, 128):  # the backbone alone, b rows of the batch
            xn = {k: v[torch.arange(n) % b] for k, v in x.items()}
            net(xn), net(xn)
            sizes[n] = statistics.median(timed(lambda xn=xn: net(xn)) for _ in range(reps))
    base = statistics.median(ref) * 1e3
    rows = [f"Workload: {name}, {len(keep)} samples, all with decided signs; backbone "
            f"{base:.2f} ms per call (median of {len(ref)}).", "",
            "| method | own ms, hot | own ms, cold (after a backbone call) | "
            "1 + cold / backbone |", "|---|---|---|---|"]
    for m in methods:
        c, h = statistics.median(cold[m]) * 1e3, statistics.median(hot[m]) * 1e3
        rows.append(f"| {m} | {h:.3f} | {c:.3f} | {1 + c / base:.3f} |")
        print(rows[-1], flush=True)
    rows += ["", "The backbone alone on b rows (ms, median of --reps calls, in this order):", "",
             "| b | " + " | ".join(map(str, sizes)) + " |", "|---" * (len(sizes) + 1) + "|",
             "| ms | " + " | ".join(f"{v * 1e3:.2f}" for v in sizes.values()) + " |"]
    return rows


def activation_bytes(model, x) -> tuple[int, int]:
    """Largest copies per backbone call and largest bytes of module outputs within one call."""
    calls: list[list[int]] = []
    leaves = [m for m in model.backbone.modules() if not list(m.children())]

    def hook(module, args, output):
        if isinstance(output, Tensor):
            calls[-1][1] += output.numel() * output.element_size()

    def pre(module, args):
        calls.append([args[0]["pos"].shape[0], 0])

    handles = [m.register_forward_hook(hook) for m in leaves]
    handles.append(model.backbone.register_forward_pre_hook(pre))
    with torch.inference_mode():
        model(x)
    for h in handles:
        h.remove()
    return max(c[0] for c in calls), max(c[1] for c in calls)


def memory_table() -> list[str]:
    _, x, backbone, in_spec, out = workloads()[-1]
    rows = ["| chunk_size | largest call (copies) | activation MiB per call | max abs diff |",
            "|---|---|---|---|"]
    ref = None
    for chunk in (None, 64, 16, "auto"):
        m = FrameAveraging(backbone, e3(), in_spec, out, chunk_size=chunk).eval()
        copies, nbytes = activation_bytes(m, x)
        with torch.inference_mode():
            y = m(x)["e"]
        ref = y if ref is None else ref
        rows.append(f"| {chunk} | {copies} | {nbytes / 2**20:.1f} | "
                    f"{(y - ref).abs().max().item():.1e} |")
    return rows


def curve_rows(reps: int, sizes=(256, 1024, 4096, 16384, 65536), ks=(1, 4, 16, 64),
               batch: int = 8) -> list[str]:
    """Overhead of ``chunk_size = "auto"`` against points per cloud N (frame averaging E(3),
    K = 8, and canonicalization) and against K (group averaging O(3), N = 1024), PointNet on
    ``batch`` clouds; interleaved medians of ``reps`` ratios to the backbone work the method
    cannot avoid (:func:`slot_inputs`: one call per element slot on its samples of non-zero
    weight, e.g. K x backbone(batch) for averaging). ``copies`` is that work in batch units:
    canonicalization runs more than 1 where PCA leaves a sample's signs undecided or its
    eigenvalues degenerate (its exact finite frame set then has 2 or more elements)."""
    rows = ["| curve | N | K | copies | reference ms | batched ms | overhead | own ms | "
            "own share |", "|---|---|---|---|---|---|---|---|---|"]
    ensure_loaded()  # the point-cloud plugin's PointNet (also when called from Python)
    in_spec = Spec({"pos": Field(point(), nodes=True)})
    out = Spec({"e": scalar()})
    net = registry("backbones").build("pointcloud::pointnet", hidden=[64, 128], head=[64],
                                      writes={"e": [1]}, in_spec=in_spec).eval()
    stub = Stub({"e": STUB_OUTPUTS["e"]})
    cases = [("N", n, 8, lambda bb: FrameAveraging(bb, e3(), in_spec, out, chunk_size="auto"))
             for n in sizes]
    cases += [("N, canonicalization", n, 1,
               lambda bb: Canonicalization(bb, e3(), in_spec, out, chunk_size="auto"))
              for n in sizes]
    cases += [("K", 1024, k, lambda bb, k=k: GroupAveraging(
        bb, o3(), in_spec, out, eval_samples=k, chunk_size="auto")) for k in ks]
    gen = torch.Generator().manual_seed(2)
    with torch.inference_mode():
        for curve, n, k, make in cases:
            x = {"pos": torch.randn(batch, n, 3, generator=gen)}
            model, own = make(net).eval(), make(stub).eval()
            model(x)
            own._activation_bytes = dict(model._activation_bytes)
            slots = slot_inputs(model, x)
            copies = sum(p["pos"].shape[0] for p in slots) / batch
            ratio, t_ms, own_ms, ref_ms = [], [], [], []
            for _ in range(reps):
                ref = timed(lambda slots=slots: [net(p) for p in slots])
                t = timed(lambda m=model, x=x: m(x))
                t_own = timed(lambda m=own, x=x: m(x))
                ratio.append(t / ref)
                t_ms.append(t * 1e3)
                own_ms.append(t_own * 1e3)
                ref_ms.append(ref * 1e3)
            med = statistics.median
            rows.append(f"| {curve} | {n} | {k} | {copies:g} | {med(ref_ms):.1f} | "
                        f"{med(t_ms):.1f} | "
                        f"{med(ratio):.3f} | {med(own_ms):.2f} | "
                        f"{med(own_ms) / med(ref_ms):.3f} |")
            print(rows[-1], flush=True)
    return rows


def fixed_malloc() -> str:
    """Fix glibc's malloc thresholds for this process: ``M_MMAP_THRESHOLD`` 32 MiB (its
    maximum), ``M_TRIM_THRESHOLD`` 1 GiB.

    By default glibc raises its mmap threshold to the largest block freed so far and trims the
    heap top above twice that, so whether a backbone's large activations come from the heap or
    from fresh, page-faulted mmaps depends on the sizes allocated before. Measured on the
    n-body GNN (inference, one thread, ``--floor``'s last table): 9.7 ms at b = 100 rows but
    12.1 at 98 and 16-17 ms at 101-102 with the default, 8.6-9.1 ms for all of them with fixed
    thresholds. A symmetrizer whose backbone calls have
    other sizes than its reference calls (canonicalization's 100 + 2 copies in one call of 102)
    can then gain or lose 50 % for reasons that are not its own work. Returns what was set.
    """
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    if not (libc.mallopt(-3, 32 << 20) and libc.mallopt(-1, 1 << 30)):
        raise RuntimeError("mallopt refused the thresholds")
    return "glibc, mallopt M_MMAP_THRESHOLD = 32 MiB, M_TRIM_THRESHOLD = 1 GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15, help="interleaved repetitions")
    parser.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: the thread's CPU time (default); wall: wall-clock time")
    parser.add_argument("--curves", action="store_true",
                        help="print the overhead curves against N and K instead (cost model)")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default) or cuda (then wall-clock time, synchronized)")
    parser.add_argument("--workloads", default="nbody,clouds", help="comma list: nbody,clouds")
    parser.add_argument("--only", default="", help="comma list of row-name substrings")
    parser.add_argument("--fixed-malloc", action="store_true",
                        help="glibc: fixed mmap/trim thresholds (see fixed_malloc)")
    parser.add_argument("--floor", action="store_true",
                        help="n-body canonicalization's own cost against the eager-PyTorch floor")
    parser.add_argument("--compile", action="store_true",
                        help="with --floor: also the floor with its frame part torch.compile-d")
    args = parser.parse_args()
    ensure_loaded()  # register the core parts and installed plugins, once
    allocator = fixed_malloc() if args.fixed_malloc else "default"
    global CLOCK, DEVICE, ONLY, WORKLOADS
    ONLY, WORKLOADS = args.only, args.workloads
    DEVICE = torch.device(args.device)
    CLOCK = time.thread_time if args.clock == "cpu" else time.perf_counter
    torch.manual_seed(0)
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    if args.curves:
        print(f"load average before: {load}")
        curve_rows(args.reps)
        print("load average after: " + " / ".join(f"{v:.1f}" for v in os.getloadavg()))
        return
    if args.floor:
        rows = floor_rows(args.reps, args.compile)
        text = "\n".join([
            "", "## Canonicalization against the eager floor "
            "(`benchmarks/symmetrizer_overhead.py --floor`)", "",
            f"Command: `OMP_NUM_THREADS=1 taskset -c 1 {Path(sys.executable).name} "
            f"benchmarks/symmetrizer_overhead.py --floor --reps {args.reps}"
            f"{' --compile' if args.compile else ''}"
            f"{' --fixed-malloc' if args.fixed_malloc else ''}`  ",
            f"Allocator: {allocator}  ",
            f"Load average before / after: {load} / "
            + " / ".join(f"{v:.1f}" for v in os.getloadavg()) + "  ",
            f"Date: {time.strftime('%Y-%m-%d %H:%M')}", "", *rows, ""])
        print(text)
        if not args.no_record:
            with open(args.results, "a") as f:
                f.write(text)
        return
    over = overhead_table(args.reps)
    mem = memory_table() if "clouds" in WORKLOADS.split(",") else []
    thread_clock = args.clock == "cpu" and DEVICE.type == "cpu"
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
               f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
               f"Python {platform.python_version()}"
               + (f", {torch.cuda.get_device_name()}" if DEVICE.type == "cuda" else ""))
    text = "\n".join([
        "", "## Symmetrizer overhead (`benchmarks/symmetrizer_overhead.py`)", "",
        f"Command: `OMP_NUM_THREADS=1 taskset -c 1 {Path(sys.executable).name} "
        f"benchmarks/symmetrizer_overhead.py --reps {args.reps} --clock {args.clock}"
        f"{' --device ' + args.device if DEVICE.type != 'cpu' else ''}"
        f"{' --fixed-malloc' if args.fixed_malloc else ''}`  ",
        f"Machine: {machine}  ",
        f"Allocator: {allocator}  ",
        f"Load average (1/5/15 min) before / after: {load} / "
        + " / ".join(f"{v:.1f}" for v in os.getloadavg()) + "  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}", "",
        f"Times: {'thread CPU time' if thread_clock else 'wall-clock time'}. "
        "overhead = time(symmetrized, K elements) / (K x time(backbone on the batch)); medians "
        "of per-repetition ratios, each method timed right after its reference (K backbone "
        "calls). 'own ms' = the symmetrizer with a free stub backbone (frames, elements, "
        "transforms, tiling, averaging), 'own / (K x backbone)' its share; "
        "'backbone K*B' = time(backbone on all B x K copies) / (K x time(backbone on B)), the "
        "floor of an unchunked row; 'naive loop' = one backbone call per element in Python.",
        "", *over, "",
        "Memory bound by chunking (frame averaging E(3), K=8, PointNet on 32 clouds x 1024 "
        "points = 256 "
        "copies): every backbone call is instrumented with forward hooks; 'activation MiB per "
        "call' sums the outputs of all leaf modules in one call (the activations an inference "
        "forward allocates), which scales with the copies per call, i.e. with chunk_size; "
        "outputs are identical.", "", *mem, "",
    ])
    print(text)
    if not args.no_record:
        with open(args.results, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
