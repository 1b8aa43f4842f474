"""Rotated digits: train upright, test on rotated digits; accuracy, C4 error and time per epoch.

Every method is one YAML file in ``configs/digits/`` (``upright_*.yaml``): 3000 upright training
digits, 1000 upright validation digits, and 1000 test digits turned by random quarter turns
(``c4``) or by uniformly random angles (``so2``, bilinear resampling). All methods are trained in
one process, round-robin one epoch each, so that every method's epochs see the same machine load;
time per epoch is the median over epochs. After training (no model selection: the last epoch),
each model is evaluated on both test sets and its C4 invariance error is measured.

``--frozen`` measures the frozen-pretrained workflow (train upright, freeze, train only the
canonicalizer). Any ``key=value`` override applies to every config (``data.type=
vision::fashion_mnist`` runs the same table on Fashion-MNIST).

``--speed`` instead times learned canonicalization (``train_mode`` ``mix``, ``one``, optionally
``all``) against its bare backbone: the models train alternately, epoch by epoch, in one
process; the ratio is the median of per-round ratios.

Examples:
    OMP_NUM_THREADS=1 python benchmarks/digits.py --out benchmarks/results/digits.json
    OMP_NUM_THREADS=1 python benchmarks/digits.py --speed --out benchmarks/results/lc_speed.json
    OMP_NUM_THREADS=1 python benchmarks/digits.py --frozen --out benchmarks/results/frozen.json
    python benchmarks/digits.py data.type=vision::fashion_mnist ...   # Fashion-MNIST
    python benchmarks/digits.py --smoke          # a few seconds: tiny data, one epoch
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "digits"

#: method name -> (config file, overrides)
METHODS = {
    "plain CNN": ("upright_cnn.yaml", []),
    "augmentation C4": ("upright_aug_cnn.yaml", []),
    "group averaging C4": ("upright_ga4_cnn.yaml", []),
    "group averaging C8": ("upright_ga8_cnn.yaml", []),
    "canonicalization (fixed scorer)": ("upright_canon_cnn.yaml", []),
    "learned canonicalization": ("upright_lc_cnn.yaml", []),
    "learned canonicalization, prior 100": ("upright_lc_cnn.yaml", [
        "model.symmetrizer.canonicalizer.prior_weight=100"]),
    "learned canonicalization, hidden 8": ("upright_lc_cnn.yaml", [
        "model.symmetrizer.canonicalizer.hidden=8"]),
    "plain CNN [16, 32, 64]": ("upright_cnn.yaml", ["model.backbone.channels=[16,32,64]"]),
    "learned canonicalization [16, 32, 64]": ("upright_lc_cnn.yaml", [
        "model.backbone.channels=[16,32,64]"]),
    "learned canonicalization SO(2) (image frame)": ("upright_lif_cnn.yaml", []),
    "learned canonicalization, shallow (1 layer, 5x5)": ("upright_lc_cnn.yaml", [
        "model.symmetrizer.canonicalizer.layers=1", "model.symmetrizer.canonicalizer.downsample=1",
        "model.symmetrizer.canonicalizer.kernel_size=5", "model.symmetrizer.canonicalizer.hidden=8",
        "model.symmetrizer.canonicalizer.prior_weight=0.5"]),
    "learned augmentation SO(2)": ("upright_laug_cnn.yaml", []),
}

SMOKE = ["data.train_size=64", "data.valid_size=32", "data.test_size=32", "train.epochs=1"]


def machine() -> dict:
    """nproc, CPU model, torch version, threads and load average, for the record."""
    import torch

    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "python": platform.python_version(),
            "load": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


class Job:
    """One method: its config, data, model, optimizer, and per-epoch times."""

    def __init__(self, name: str, config: Path | dict, overrides: list[str]):
        import torch

        from symkit.runner.data import build_split
        from symkit.runner.parts import (
            build_loss,
            build_metric,
            build_model,
            build_optimizer,
            build_scheduler,
            materialize,
            read_config,
        )

        self.name = name
        self.run = read_config(config, overrides)
        torch.manual_seed(self.run.train.seed)
        data = self.run.cfg.data
        self.train_set = build_split(data, "train")
        self.valid_set = build_split(data, "valid")
        self.test_sets = {rot: build_split({**_plain(data), "test_rotation": rot}, "test")
                          for rot in ("c4", "so2")}
        self.model = build_model(self.run)
        materialize(self.model, self.train_set)
        self.loss_fn, self.metric_fn = build_loss(self.run), build_metric(self.run)
        self.optimizer = build_optimizer(self.run, self.model.parameters())
        self.scheduler = build_scheduler(self.run, self.optimizer)
        self.epoch_s: list[float] = []
        self.epoch = 0

    def step(self, batch) -> None:
        """One optimizer step on ``batch``: task loss plus the model's extra losses."""
        outputs = self.model(batch)
        loss = self.loss_fn(outputs, batch)
        for extra in self.model.extra_losses().values():
            loss = loss + extra
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def train_epoch(self) -> float:
        from symkit.runner.data import train_loader
        from symkit.runner.distributed import DistInfo

        self.model.train()
        start = time.perf_counter()
        for batch in train_loader(self.train_set, self.run.train, DistInfo(), self.epoch):
            self.step(batch)
        self.scheduler.step()
        self.epoch += 1
        self.epoch_s.append(time.perf_counter() - start)
        return self.epoch_s[-1]

    def accuracy(self, dataset) -> float:
        from symkit.runner.data import eval_loader
        from symkit.runner.distributed import DistInfo
        from symkit.runner.evaluation import evaluate

        loader = eval_loader(dataset, self.run.train, DistInfo())
        return evaluate(self.model, loader, self.loss_fn, self.metric_fn, DistInfo())["metric"]

    def c4_error(self, n: int = 256) -> float:
        """Relative C4 invariance error of the logits: ``|f(r^k x) - f(x)| / |f(x)|`` over the
        three quarter turns ``k = 1, 2, 3`` and the first ``n`` c4 test digits (exact rot90),
        on the digits the model does not flag (``model.flagged``: tied canonicalization scores,
        equivariant in distribution only); :meth:`c4_flagged` is the fraction it flags."""
        import torch

        self.model.eval()
        images = torch.stack([self.test_sets["c4"][i]["image"]
                              for i in range(min(n, len(self.test_sets["c4"])))])
        flagged = torch.zeros(images.shape[0], dtype=torch.bool)
        with torch.no_grad():
            ref = self.model({"image": images})["logits"]
            flagged |= self._flags(images.shape[0])
            diffs = []
            for k in (1, 2, 3):
                diffs.append(self.model({"image": torch.rot90(images, k, dims=(-2, -1))})["logits"]
                             - ref)
                flagged |= self._flags(images.shape[0])
        self._c4_flagged = float(flagged.double().mean())
        keep = ~flagged
        if not bool(keep.any()):
            return 0.0
        return float(torch.stack(diffs)[:, keep].norm() / (ref[keep].norm() * 3**0.5))

    def _flags(self, b: int):
        import torch

        flags = getattr(self.model, "flagged", None)
        return torch.zeros(b, dtype=torch.bool) if flags is None else flags.cpu().bool()

    def c4_flagged(self) -> float:
        """Fraction of the digits of the last :meth:`c4_error` that the model flagged."""
        return getattr(self, "_c4_flagged", 0.0)

    def identity_rate(self, dataset) -> float | None:
        """Fraction of ``dataset``'s images (upright ones: the validation split) that the
        model's learned canonicalizer maps to the identity; ``None`` without one."""
        import torch

        canonicalizer = getattr(self.model, "canonicalizer", None)
        if canonicalizer is None or not hasattr(canonicalizer, "identity_mask"):
            return None
        self.model.eval()
        images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
        with torch.no_grad():
            proposal = canonicalizer.propose({"image": images})
        return float(canonicalizer.identity_mask(proposal).double().mean())

    def parameters(self) -> dict[str, int]:
        count = {"total": sum(p.numel() for p in self.model.parameters())}
        backbone = getattr(self.model, "backbone", None)
        if backbone is not None:
            count["backbone"] = sum(p.numel() for p in backbone.parameters())
        canonicalizer = getattr(self.model, "canonicalizer", None)
        if canonicalizer is not None:
            count["canonicalizer"] = sum(p.numel() for p in canonicalizer.parameters())
        return count


def _plain(node) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True) if not isinstance(node, dict) else node


def table(args: argparse.Namespace) -> dict:
    """Train every method round-robin, then evaluate."""
    overrides = list(args.overrides) + (SMOKE if args.smoke else [])
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    names = args.methods or list(METHODS)
    jobs = [Job(n, CONFIGS / METHODS[n][0], METHODS[n][1] + overrides) for n in names]
    epochs = max(job.run.train.epochs for job in jobs)  # each job trains its own epochs
    start = machine()
    for epoch in range(epochs):
        for job in jobs:
            if epoch >= job.run.train.epochs:
                continue
            t = job.train_epoch()
            print(f"epoch {epoch + 1}/{job.run.train.epochs}  {job.name:<34} {t:7.2f} s",
                  flush=True)
    rows = []
    for job in jobs:
        row = {"method": job.name, "config": f"configs/digits/{METHODS[job.name][0]}",
               "epochs": job.epoch, "valid_upright": job.accuracy(job.valid_set),
               "test_c4": job.accuracy(job.test_sets["c4"]),
               "test_so2": job.accuracy(job.test_sets["so2"]),
               "c4_error": job.c4_error(), "c4_flagged": job.c4_flagged(),
               "identity_rate_upright": job.identity_rate(job.valid_set),
               "epoch_s_median": statistics.median(job.epoch_s),
               "epoch_s": [round(t, 3) for t in job.epoch_s],
               "train_s": round(sum(job.epoch_s), 2), "parameters": job.parameters()}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "epoch_s"}), flush=True)
    plain = rows[0]["method"].startswith("plain")  # a ratio needs the bare CNN in the run
    for row in rows:
        row["epoch_vs_plain"] = (row["epoch_s_median"] / rows[0]["epoch_s_median"] if plain
                                 else None)
    return {"kind": "table", "machine_start": start, "machine_end": machine(),
            "overrides": overrides, "rows": rows}


def speed(args: argparse.Namespace) -> dict:
    """Learned canonicalization (``mix``, optionally ``all``) against the bare backbone."""
    overrides = list(args.overrides) + (SMOKE if args.smoke else [])
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    channels = f"model.backbone.channels=[{','.join(str(c) for c in args.channels)}]"
    hidden = f"model.symmetrizer.canonicalizer.hidden={args.hidden}"
    lc = CONFIGS / "upright_lc_cnn.yaml"
    # model.symmetrizer.* overrides shape the canonicalized models only (the bare CNN has none)
    bare_overrides = [o for o in overrides if not o.startswith("model.symmetrizer.")]
    jobs = {"bare": Job("bare backbone", CONFIGS / "upright_cnn.yaml", [*bare_overrides, channels])}
    for mode in args.modes:
        jobs[mode] = Job(f"learned canonicalization ({mode})", lc,
                         [*overrides, channels, hidden, f"model.symmetrizer.train_mode={mode}"])
    epochs = jobs["bare"].run.train.epochs
    start = machine()
    for epoch in range(epochs):
        order = list(jobs.values())
        if epoch % 2:  # alternate who goes first, so that neither always follows the other
            order.reverse()
        for job in order:
            t = job.train_epoch()
            print(f"epoch {epoch + 1}/{epochs}  {job.name:<32} {t:7.2f} s", flush=True)
    bare = jobs["bare"].epoch_s
    out = {"kind": "speed", "machine_start": start, "machine_end": machine(),
           "overrides": overrides, "channels": args.channels, "hidden": args.hidden, "rows": []}
    for job in jobs.values():
        ratios = [t / b for t, b in zip(job.epoch_s, bare)]
        out["rows"].append({
            "model": job.name, "epoch_s_median": statistics.median(job.epoch_s),
            "epoch_s": [round(t, 3) for t in job.epoch_s],
            "ratio_median": statistics.median(ratios), "ratios": [round(r, 3) for r in ratios],
            "parameters": job.parameters(), "test_c4": job.accuracy(job.test_sets["c4"]),
            "test_so2": job.accuracy(job.test_sets["so2"]), "c4_error": job.c4_error(),
            "c4_flagged": job.c4_flagged(),
        })
        print(json.dumps({k: v for k, v in out["rows"][-1].items()
                          if k not in ("epoch_s", "ratios")}), flush=True)
    return out


def frozen(args: argparse.Namespace) -> dict:
    """The frozen-pretrained workflow (Mondal et al. 2023): train the plain CNN upright
    (``--epochs``), save its weights, then train only a learned canonicalizer in front of the
    frozen CNN (``frozen_lc_cnn.yaml`` with ``model.backbone.init`` set, ``--frozen-epochs``)."""
    import tempfile

    import torch

    overrides = list(args.overrides) + (SMOKE if args.smoke else [])
    start = machine()
    base = Job("upright CNN", CONFIGS / "upright_cnn.yaml",
               [*overrides, f"train.epochs={args.epochs or 20}"])
    for _ in range(base.run.train.epochs):
        print(f"upright CNN epoch {base.epoch + 1}: {base.train_epoch():.2f} s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "upright_cnn.pt"
        torch.save(base.model.state_dict(), weights)
        adapted = Job("frozen CNN + learned canonicalization", CONFIGS / "frozen_lc_cnn.yaml",
                      [*overrides, f"model.backbone.init={weights}",
                       f"train.epochs={args.frozen_epochs}"])
        for _ in range(adapted.run.train.epochs):
            print(f"canonicalizer epoch {adapted.epoch + 1}: {adapted.train_epoch():.2f} s",
                  flush=True)
    for job in (base, adapted):
        trainable = sum(p.numel() for p in job.model.parameters() if p.requires_grad)
        rows.append({"model": job.name, "epochs": job.epoch,
                     "valid_upright": job.accuracy(job.valid_set),
                     "test_c4": job.accuracy(job.test_sets["c4"]),
                     "test_so2": job.accuracy(job.test_sets["so2"]),
                     "identity_rate_upright": job.identity_rate(job.valid_set),
                     "c4_error": job.c4_error(), "trainable_parameters": trainable,
                     "epoch_s_median": statistics.median(job.epoch_s)})
        print(json.dumps(rows[-1]), flush=True)
    return {"kind": "frozen", "machine_start": start, "machine_end": machine(),
            "overrides": overrides, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the JSON results here")
    parser.add_argument("--epochs", type=int, help="override train.epochs of every config")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), metavar="METHOD",
                        help=f"subset of: {'; '.join(METHODS)}")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--smoke", action="store_true", help="tiny data, one epoch: seconds")
    parser.add_argument("--speed", action="store_true",
                        help="time learned canonicalization against the bare backbone")
    parser.add_argument("--frozen", action="store_true",
                        help="train the CNN upright, freeze it, train a canonicalizer in front")
    parser.add_argument("--frozen-epochs", type=int, default=5,
                        help="--frozen: epochs of the canonicalizer (default 5)")
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64],
                        help="--speed: backbone channels")
    parser.add_argument("--hidden", type=int, default=4,
                        help="--speed: canonicalizer channels per group element")
    parser.add_argument("--modes", nargs="+", default=["mix", "one"],
                        choices=["mix", "one", "all"],
                        help="--speed: training modes of learned canonicalization to time "
                        "(all: |G| backbone copies)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotlist overrides applied to every config")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result = speed(args) if args.speed else frozen(args) if args.frozen else table(args)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
