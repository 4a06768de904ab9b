"""DiffEvent on exact inputs: the slides' ablation of the degradation model beside EDI and the U-Net.

On the default evaluation set (synth-blur test split, 256x256, the blurry frame and the 6-channel SCER the
source carries), PSNR / SSIM against the sharp frame of: the blurry input; EDI (raw events, and the SCER);
the event factor alone (``y / f`` with the filtered and the learned enhancement, no diffusion); DiffEvent
with each degradation (a) ``Ex``, (b) ``fEx``, (c) ``x+r``, (d) ``Ex+r``, (e) ``fEx+r`` (learned ``f``) and (e)
with the filtered ``f``.  The U-Net with cross attention on the same frames and inputs is read from
``results/backends/backends.csv`` (trained there; 32 frames).  The guidance weights are chosen first on
frames of the *training* split (``--tune``; never the evaluation frames).  Time per frame on this CPU.

Writes ``results/diffevent/ablation.csv`` (one row a method), ``per_frame.csv``, ``tuning.csv`` and
``targets.csv`` (paired differences with 95 % intervals).

    python benchmarks/diffevent.py [--weights ckpt/diffevent/diffevent.ckpt] [--limit N] [--steps 20]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semcom.bench.results import write_table
from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.metrics.functional import psnr, ssim
from semcom.receivers.diffevent import DiffEvent
from semcom.receivers.edi import EDI
from semcom.registry import SOURCES
from semcom.sources.base import collate


def _batches(split: str, limit: int | None, seed: int = 0, bs: int = 4):
    kw = {"size": 256, "n": limit, "seed": seed} if split == "train" else {"limit": limit}
    ds = SOURCES.build("synth-blur", split=split, **kw)
    n = len(ds)
    return [collate([ds[i] for i in range(j, min(j + bs, n))]) for j in range(0, n, bs)]


def _y_over_f(rx: DiffEvent, image: torch.Tensor, events: torch.Tensor | None = None, batch=None) -> torch.Tensor:
    """``y / f`` (EDI's formula with ``rx``'s enhanced factor), no diffusion."""
    with torch.no_grad():
        f = rx.event_factor(image, events=events, batch=batch).float()
        eps = rx.edi.log_eps
        return linear_to_srgb(((srgb_to_linear(image.float()) + eps) / f - eps).clamp(0, 1))


def _score(fn, batches):
    t0 = time.perf_counter()
    out = torch.cat([fn(b) for b in batches])
    secs = time.perf_counter() - t0
    sharp = torch.cat([b.sharp for b in batches])
    return psnr(out, sharp).double().numpy(), ssim(out, sharp).double().numpy(), secs / len(out)


def _interval(d: np.ndarray) -> tuple[float, float]:
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    return float(d.mean()), float(half)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="ckpt/diffevent/diffevent.ckpt")
    ap.add_argument("--limit", type=int, default=None, help="evaluation frames (default all 32)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--tune-frames", type=int, default=4)
    ap.add_argument("--retune", action="store_true", help="tune the guidance again (else reuse tuning.csv)")
    ap.add_argument("--link-snr", type=float, default=10.0, help="SNR of the bpg-ldpc-events comparison (dB)")
    ap.add_argument("--link-only", action="store_true",
                    help="only the comparison through bpg-ldpc-events (link.csv and its row of targets.csv)")
    ap.add_argument("--out", default="results/diffevent")
    args = ap.parse_args()
    torch.manual_seed(0)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    # 1. guidance weights on training-split frames (skimage training pictures, 256x256, another seed); reused
    # from tuning.csv unless --retune
    tune_csv = out_dir / "tuning.csv"
    if args.retune or not tune_csv.exists():
        tune = _batches("train", args.tune_frames, seed=7)
        # a first pass on these frames (s in 10, 1e4; s_r in 0.1, 10, 1e4; lam_r in 0, 0.05) found s immaterial
        # (the last step projects x) and a strong r guidance ruinous (14-15 dB: r takes the picture), so the grid
        # (its first version stopped at lam_r = 1, which came out best; 3 and 10 were added for that reason):
        grid = [dict(s=1e4, s_r=sr, lam_r=lr)
                for sr, lr in itertools.product((1e-3, 1e-2, 0.1), (0.05, 0.2, 1.0, 3.0, 10.0))]
        tuning = []
        for g in grid:
            rx = DiffEvent(weights=args.weights, sampler="projected", steps=args.steps, **g).eval()
            p, _, sec = _score(lambda b: rx(b.blurry, batch=b), tune)
            tuning.append({**g, "steps": args.steps, "psnr": f"{p.mean():.3f}", "seconds_per_frame": f"{sec:.2f}"})
            print(f"tune {g}: {p.mean():.2f} dB ({sec:.1f} s/frame)", flush=True)
        best = max(tuning, key=lambda r: float(r["psnr"]))
        g = {k: best[k] for k in ("s", "s_r", "lam_r")}
        for steps in (10, 50):  # the step count at the chosen weights (reported; the ablation uses --steps)
            rx = DiffEvent(weights=args.weights, sampler="projected", steps=steps, **g).eval()
            p, _, sec = _score(lambda b: rx(b.blurry, batch=b), tune)
            tuning.append({**g, "steps": steps, "psnr": f"{p.mean():.3f}", "seconds_per_frame": f"{sec:.2f}"})
            print(f"tune {g}, {steps} steps: {p.mean():.2f} dB ({sec:.1f} s/frame)", flush=True)
        write_table(tune_csv, tuning)
    rows_t = [r for r in csv.DictReader(tune_csv.open()) if int(r["steps"]) == args.steps]
    if not rows_t:
        raise SystemExit(f"{tune_csv} has no row at {args.steps} steps; run with --retune")
    best = max(rows_t, key=lambda r: float(r["psnr"]))
    g = {k: float(best[k]) for k in ("s", "s_r", "lam_r")}
    print(f"guidance: {g}, {args.steps} steps", flush=True)

    # 2. the ablation on the evaluation set
    if args.link_only:
        row = through_link(args, g, out_dir)
        kept = [r for r in csv.DictReader((out_dir / "targets.csv").open())
                if not r["difference"].startswith("(e) - EDI, bpg-ldpc-events")]
        write_table(out_dir / "targets.csv", kept + [row])
        return 0
    batches = _batches("test", args.limit)
    rx = DiffEvent(weights=args.weights, sampler="projected", steps=args.steps, **g).eval()
    rx_filter = DiffEvent(weights=args.weights, sampler="projected", steps=args.steps, enhance="filter", **g).eval()
    methods = {
        "blurry input": lambda b: b.blurry,
        "EDI (raw events)": lambda b: EDI(source="raw")(b.blurry, batch=b),
        "EDI (SCER)": lambda b: EDI(source="representation")(b.blurry, batch=b),
        "y / f(E), filtered f (no diffusion)": lambda b: _y_over_f(rx_filter, b.blurry, batch=b),
        "y / f(E), learned f (no diffusion)": lambda b: _y_over_f(rx, b.blurry, batch=b),
    }
    for deg, label in (("Ex", "(a) y = Ex"), ("fEx", "(b) y = f(E)x"), ("x+r", "(c) y = x + r"),
                       ("Ex+r", "(d) y = Ex + r"), ("fEx+r", "(e) y = f(E)x + r")):
        m = DiffEvent(weights=args.weights, sampler="projected", steps=args.steps, degradation=deg, **g).eval()
        methods[f"DiffEvent {label}"] = (lambda mm: (lambda b: mm(b.blurry, batch=b)))(m)
    mf = DiffEvent(weights=args.weights, sampler="projected", steps=args.steps, enhance="filter", **g).eval()
    methods["DiffEvent (e), filtered f"] = lambda b: mf(b.blurry, batch=b)
    mw = DiffEvent(weights=args.weights, sampler="projected", steps=args.steps, project_last=False, **g).eval()
    methods["DiffEvent (e), last step as written (no projection)"] = lambda b: mw(b.blurry, batch=b)

    rows, per = [], {}
    for name, fn in methods.items():
        p, s, sec = _score(fn, batches)
        per[name] = p
        rows.append({"method": name, "n": len(p), "psnr": f"{p.mean():.3f}", "ssim": f"{s.mean():.4f}",
                     "seconds_per_frame": f"{sec:.3f}"})
        print(f"{name:<45} PSNR {p.mean():6.2f}  SSIM {s.mean():.4f}  {sec:.2f} s/frame", flush=True)
    unet = Path("results/backends/backends.csv")
    if unet.exists() and args.limit in (None, 32):
        for r in csv.DictReader(unet.open()):
            if r["back-end"].startswith("unet-xattn"):
                rows.append({"method": f"U-Net with cross attention (results/backends: {r['back-end']})",
                             "n": r["n"], "psnr": r["psnr"], "ssim": r["ssim"], "seconds_per_frame": ""})
    write_table(out_dir / "ablation.csv", rows)
    with (out_dir / "per_frame.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", *per])
        for i in range(len(next(iter(per.values())))):
            w.writerow([i, *(f"{per[k][i]:.3f}" for k in per)])

    e, b_, a_ = per["DiffEvent (e) y = f(E)x + r"], per["DiffEvent (b) y = f(E)x"], per["DiffEvent (a) y = Ex"]
    edi_raw, edi_scer = per["EDI (raw events)"], per["EDI (SCER)"]
    targets = []
    for name, d, goal in (("(e) - EDI raw events", e - edi_raw, 1.0), ("(e) - EDI SCER (same events)", e - edi_scer, 1.0),
                          ("(e) - (b)", e - b_, 0.0), ("(b) - (a)", b_ - a_, 0.0)):
        mean, half = _interval(d)
        targets.append({"difference": name, "mean_db": f"{mean:.3f}", "ci95_db": f"{half:.3f}",
                        "target_db": f">= {goal:g}" if goal else "> 0",
                        "met": "yes" if (mean >= goal if goal else mean > 0) else "no"})
        print(f"{name:<32} {mean:+.2f} ± {half:.2f} dB", flush=True)
    if args.link_snr is not None:
        targets.append(through_link(args, g, out_dir))
    write_table(out_dir / "targets.csv", targets)
    return 0


def through_link(args, g: dict, out_dir: Path) -> dict:
    """EDI and DiffEvent on the same decoded frames and SCER of ``bpg-ldpc-events`` (AWGN, ``--link-snr``,
    CBR 1/48, the configuration its envelope picks with EDI); writes ``link.csv``, returns the target row."""
    from semcom.bench.sweep import SweepConfig, run_sweep
    from semcom.link import Link, find_link

    path = run_sweep(SweepConfig(link="bpg-ldpc-events", cbr=1 / 48, snr_db=(args.link_snr,), metrics=("psnr",),
                                 limit=args.limit), out_dir=out_dir / "sweep", progress=False)
    config = next(csv.DictReader(open(path)))["config"]
    link = Link(find_link("bpg-ldpc-events"), cbr=1 / 48).eval()
    link.codec.set_variant(config)
    edi = EDI(source="representation")
    rx = DiffEvent(weights=args.weights, sampler="projected", steps=args.steps, **g).eval()
    rx_b = DiffEvent(weights=args.weights, sampler="projected", steps=args.steps, degradation="fEx", **g).eval()
    res = {"decoded frame": [], "EDI on the decoded SCER": [], "y / f(E), learned f, on the decoded SCER": [],
           "DiffEvent (b) y = f(E)x on the decoded SCER": [], "DiffEvent (e) on the decoded SCER": []}
    for i, b in enumerate(_batches("test", args.limit)):
        b = link.at_sensor(b)
        with torch.no_grad():
            snr = torch.full((b.size,), float(args.link_snr))
            _, rec = link.codec.transmit(b, link.channel, snr_db=snr, generator=torch.Generator().manual_seed(100 + i))
            outs = [rec.image.clamp(0, 1), edi(rec.image, events=rec.events, batch=b),
                    _y_over_f(rx, rec.image, events=rec.events, batch=b),
                    rx_b(rec.image, events=rec.events, batch=b), rx(rec.image, events=rec.events, batch=b)]
        for k, o in zip(res, outs):
            res[k].append(psnr(o, b.sharp).double().numpy())
    rows = []
    for k, v in res.items():
        v = np.concatenate(v)
        res[k] = v
        rows.append({"method": k, "link": "bpg-ldpc-events", "config": config, "snr_db": args.link_snr,
                     "cbr": "1/48", "n": len(v), "psnr": f"{v.mean():.3f}"})
        print(f"through bpg-ldpc-events at {args.link_snr} dB ({config}): {k:<44} {v.mean():6.2f} dB", flush=True)
    write_table(out_dir / "link.csv", rows)
    mean, half = _interval(res["DiffEvent (e) on the decoded SCER"] - res["EDI on the decoded SCER"])
    print(f"(e) - EDI through the link: {mean:+.2f} ± {half:.2f} dB", flush=True)
    return {"difference": f"(e) - EDI, bpg-ldpc-events {args.link_snr:g} dB 1/48", "mean_db": f"{mean:.3f}",
            "ci95_db": f"{half:.3f}", "target_db": "> 0", "met": "yes" if mean > 0 else "no"}


if __name__ == "__main__":
    sys.exit(main())
