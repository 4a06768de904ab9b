"""DiffEvent on exact inputs and behind ``bpg-ldpc-events`` (``results/diffevent/``, issue 19): the slides'
ablation of the degradation model beside EDI and the U-Net.

On the default evaluation set (synth-blur test split, 256x256, the blurry frame and the 6-channel SCER the
source carries), PSNR / SSIM against the sharp frame of: the blurry input; EDI (raw events, and the SCER);
the event factor alone (``y / f`` with the filtered and the learned enhancement, no diffusion); DiffEvent
(projected sampler) with each degradation (a) ``Ex``, (b) ``fEx``, (c) ``x+r``, (d) ``Ex+r``, (e) ``fEx+r``
(learned ``f``), (e) with the filtered ``f`` and (e) without the last projection.  The U-Net with cross
attention on the same frames and inputs is read from ``results/backends/backends.csv`` (the ``backends``
experiment; 32 frames).  Time per frame on the machine that runs it.

The guidance weights are chosen first on frames of the *training* split (never the evaluation frames) over
the grid ``s_r`` x ``lam_r`` (``s`` fixed: the last step projects ``x``, so it hardly matters) and kept in
``tuning.csv``, which later runs reuse unless ``retune``.

Tables: ``ablation.csv`` (a row a method), ``per_frame.csv`` (per-frame PSNR), ``tuning.csv``, ``targets.csv``
(paired differences with 95 % Student-t intervals); ``link.csv`` and ``sweep/``: EDI and DiffEvent on the same
decoded frames and SCER of ``bpg-ldpc-events`` (``link_snr`` dB, CBR 1/48, the configuration its sweep picks
with EDI).  ``link_only``: just that comparison and its row of ``targets.csv``.
"""

from __future__ import annotations

import csv
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from semcom.bench.results import read_rows
from semcom.bench.sweep import SweepConfig, run_sweep
from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.errors import SemcomError
from semcom.experiments.base import Results, experiment
from semcom.experiments.shared import evaluation_batches, paired_ci95, score
from semcom.link import Link
from semcom.linkspec import find_link
from semcom.receivers.edi import EDI
from semcom.registry import SOURCES
from semcom.sources.base import collate
from semcom.zoo.build import build_receiver

__all__ = ["DiffEventConfig", "y_over_f"]

#: the row of ``ablation.csv`` the targets are about
E_LABEL = "DiffEvent (e) y = f(E)x + r"


@dataclass(frozen=True)
class DiffEventConfig:
    """Args:
        weights: DiffEvent's weights (``shipped`` or a checkpoint: ``python -m semcom.train.diffevent --out DIR``
            writes ``DIR/diffevent.ckpt``).
        steps: sampler steps of every DiffEvent.
        limit: evaluation frames (None: all 32); ``size`` their side (None: 256).
        tune_frames: training-split frames of the guidance search (256x256 unless ``size``, seed 7).
        tune_s, tune_s_r, tune_lam_r: the guidance grid; ``tune_steps``: other step counts reported at the
            chosen weights.
        retune: search again even when ``tuning.csv`` holds a row at ``steps``.
        link_snr: SNR (dB) of the comparison through ``bpg-ldpc-events`` (None: skip it).
        link_only: only that comparison (``link.csv`` and its row of ``targets.csv``).
        unet_table: the ``backends`` table whose U-Net row joins the ablation (full evaluation set only).
    """

    weights: str = "ckpt/diffevent/diffevent.ckpt"
    steps: int = 20
    limit: int | None = None
    size: int | None = None
    tune_frames: int = 4
    tune_s: float = 1e4
    tune_s_r: tuple[float, ...] = (1e-3, 1e-2, 0.1)
    tune_lam_r: tuple[float, ...] = (0.05, 0.2, 1.0, 3.0, 10.0)
    tune_steps: tuple[int, ...] = (10, 50)
    retune: bool = False
    link_snr: float | None = 10.0
    link_only: bool = False
    unet_table: str = "results/backends/backends.csv"


TINY = DiffEventConfig(weights="shipped", steps=2, limit=2, size=64, tune_frames=1, tune_s_r=(0.01,),
                       tune_lam_r=(1.0,), tune_steps=(), unet_table="")


def y_over_f(rx: Any, image: torch.Tensor, events: torch.Tensor | None = None, batch: Any = None) -> torch.Tensor:
    """``y / f``: EDI's formula with DiffEvent ``rx``'s enhanced event factor, no diffusion."""
    with torch.no_grad():
        f = rx.event_factor(image, events=events, batch=batch).float()
        eps = rx.edi.log_eps
        return linear_to_srgb(((srgb_to_linear(image.float()) + eps) / f - eps).clamp(0, 1))


def _timed_scores(fn: Callable, batches: list) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-frame PSNR and SSIM of ``fn`` over ``batches`` and its seconds per frame."""
    t0 = time.perf_counter()
    out = torch.cat([fn(b) for b in batches])  # no torch.no_grad(): the guidance may take gradients
    secs = time.perf_counter() - t0
    s = score(out.float(), torch.cat([b.sharp for b in batches]))
    return s["psnr"], s["ssim"], secs / len(out)


def _train_batches(cfg: DiffEventConfig) -> list:
    """The guidance search's frames: the training split (skimage pictures, another seed), batches of 4."""
    ds = SOURCES.build("synth-blur", split="train", size=cfg.size or 256, n=cfg.tune_frames, seed=7)
    return [collate([ds[i] for i in range(j, min(j + 4, len(ds)))]) for j in range(0, len(ds), 4)]


def _guidance(cfg: DiffEventConfig, results: Results, build: Callable[..., Any]) -> dict[str, float]:
    """The guidance weights at ``cfg.steps``: searched on training frames (written to ``tuning.csv``) or read
    from it."""
    have = [r for r in results.rows("tuning.csv") if int(r["steps"]) == cfg.steps]
    if cfg.retune or not have:
        tune = _train_batches(cfg)
        tuning = []
        grid = [dict(s=cfg.tune_s, s_r=sr, lam_r=lr) for sr, lr in itertools.product(cfg.tune_s_r, cfg.tune_lam_r)]
        for g in grid:
            rx = build(steps=cfg.steps, **g)
            p, _, sec = _timed_scores(lambda b: rx(b.blurry, batch=b), tune)
            tuning.append({**g, "steps": cfg.steps, "psnr": f"{p.mean():.3f}", "seconds_per_frame": f"{sec:.2f}"})
            results.say(f"tune {g}: {p.mean():.2f} dB ({sec:.1f} s/frame)")
        best = max(tuning, key=lambda r: float(r["psnr"]))
        g = {k: best[k] for k in ("s", "s_r", "lam_r")}
        for steps in cfg.tune_steps:  # other step counts at the chosen weights (reported only)
            rx = build(steps=steps, **g)
            p, _, sec = _timed_scores(lambda b: rx(b.blurry, batch=b), tune)
            tuning.append({**g, "steps": steps, "psnr": f"{p.mean():.3f}", "seconds_per_frame": f"{sec:.2f}"})
            results.say(f"tune {g}, {steps} steps: {p.mean():.2f} dB ({sec:.1f} s/frame)")
        results.table("tuning.csv", tuning)
        have = [r for r in results.rows("tuning.csv") if int(r["steps"]) == cfg.steps]
    best = max(have, key=lambda r: float(r["psnr"]))
    return {k: float(best[k]) for k in ("s", "s_r", "lam_r")}


def _target(name: str, a: np.ndarray, b: np.ndarray, goal: float) -> dict[str, str]:
    """A row of ``targets.csv``: the mean paired difference ``a - b``, its 95 % interval, and whether it meets
    ``>= goal`` (``> 0`` when ``goal`` is 0)."""
    mean, half = paired_ci95(a, b)
    return {"difference": name, "mean_db": f"{mean:.3f}", "ci95_db": f"{half:.3f}",
            "target_db": f">= {goal:g}" if goal else "> 0", "met": "yes" if (mean >= goal if goal else mean > 0) else "no"}


def _through_link(cfg: DiffEventConfig, g: dict[str, float], build: Callable[..., Any], results: Results) -> dict:
    """EDI and DiffEvent on the same decoded frames and SCER of ``bpg-ldpc-events``; writes ``link.csv`` and
    returns the row of ``targets.csv``."""
    size = {} if cfg.size is None else {"dataset_params": {"size": cfg.size}}
    path = run_sweep(SweepConfig(link="bpg-ldpc-events", cbr=1 / 48, snr_db=(float(cfg.link_snr),), metrics=("psnr",),
                                 limit=cfg.limit, **size), out_dir=results.folder("sweep"), progress=False)
    with open(path, newline="") as f:
        config = next(csv.DictReader(f))["config"]
    link = Link(find_link("bpg-ldpc-events"), cbr=1 / 48).eval()
    link.codec.set_variant(config)
    edi = EDI(source="representation")
    rx = build(steps=cfg.steps, **g)
    rx_b = build(steps=cfg.steps, degradation="fEx", **g)
    res: dict[str, list] = {"decoded frame": [], "EDI on the decoded SCER": [],
                            "y / f(E), learned f, on the decoded SCER": [],
                            "DiffEvent (b) y = f(E)x on the decoded SCER": [], "DiffEvent (e) on the decoded SCER": []}
    extra = {} if cfg.size is None else {"size": cfg.size}
    for i, b in enumerate(evaluation_batches(cfg.limit, batch_size=4, **extra)):
        b = link.at_sensor(b)
        with torch.no_grad():
            snr = torch.full((b.size,), float(cfg.link_snr))
            _, rec = link.codec.transmit(b, link.channel, snr_db=snr, generator=torch.Generator().manual_seed(100 + i))
            outs = [rec.image.clamp(0, 1), edi(rec.image, events=rec.events, batch=b),
                    y_over_f(rx, rec.image, events=rec.events, batch=b),
                    rx_b(rec.image, events=rec.events, batch=b), rx(rec.image, events=rec.events, batch=b)]
        for k, o in zip(res, outs):
            res[k].append(score(o.float(), b.sharp, ("psnr",))["psnr"])
    rows = []
    for k in res:
        v = np.concatenate(res[k])
        res[k] = v
        rows.append({"method": k, "link": "bpg-ldpc-events", "config": config, "snr_db": cfg.link_snr,
                     "cbr": "1/48", "n": len(v), "psnr": f"{v.mean():.3f}"})
        results.say(f"through bpg-ldpc-events at {cfg.link_snr} dB ({config}): {k:<44} {v.mean():6.2f} dB")
    results.table("link.csv", rows)
    row = _target(f"(e) - EDI, bpg-ldpc-events {cfg.link_snr:g} dB 1/48", res["DiffEvent (e) on the decoded SCER"],
                  res["EDI on the decoded SCER"], 0.0)
    results.say(f"(e) - EDI through the link: {row['mean_db']} ± {row['ci95_db']} dB")
    return row


@experiment("diffevent", config=DiffEventConfig, tiny=TINY, out="results/diffevent")
def run(cfg: DiffEventConfig, results: Results) -> None:
    """DiffEvent's ablation of the degradation model on exact inputs, its guidance search and its targets."""
    torch.manual_seed(0)
    if cfg.weights != "shipped" and not Path(cfg.weights).exists():
        raise SemcomError(f"{cfg.weights}: no DiffEvent weights (train them with python -m semcom.train.diffevent "
                          "--out DIR, or --set weights=shipped)")

    def build(**params: Any) -> Any:
        return build_receiver("diffevent", weights=cfg.weights, sampler="projected", **params).eval()

    g = _guidance(cfg, results, build)
    results.say(f"guidance: {g}, {cfg.steps} steps")
    if cfg.link_only:
        if cfg.link_snr is None:
            raise SemcomError("link_only needs link_snr")
        row = _through_link(cfg, g, build, results)
        kept = [r for r in results.rows("targets.csv") if not r["difference"].startswith("(e) - EDI, bpg-ldpc-events")]
        results.table("targets.csv", kept + [row])
        return

    extra = {} if cfg.size is None else {"size": cfg.size}
    batches = evaluation_batches(cfg.limit, batch_size=4, **extra)
    rx = build(steps=cfg.steps, **g)
    rx_filter = build(steps=cfg.steps, enhance="filter", **g)
    methods: dict[str, Callable] = {
        "blurry input": lambda b: b.blurry,
        "EDI (raw events)": lambda b: EDI(source="raw")(b.blurry, batch=b),
        "EDI (SCER)": lambda b: EDI(source="representation")(b.blurry, batch=b),
        "y / f(E), filtered f (no diffusion)": lambda b: y_over_f(rx_filter, b.blurry, batch=b),
        "y / f(E), learned f (no diffusion)": lambda b: y_over_f(rx, b.blurry, batch=b),
    }
    for deg, label in (("Ex", "(a) y = Ex"), ("fEx", "(b) y = f(E)x"), ("x+r", "(c) y = x + r"),
                       ("Ex+r", "(d) y = Ex + r"), ("fEx+r", "(e) y = f(E)x + r")):
        m = build(steps=cfg.steps, degradation=deg, **g)
        methods[f"DiffEvent {label}"] = (lambda mm: (lambda b: mm(b.blurry, batch=b)))(m)
    mf = build(steps=cfg.steps, enhance="filter", **g)
    methods["DiffEvent (e), filtered f"] = lambda b: mf(b.blurry, batch=b)
    mw = build(steps=cfg.steps, project_last=False, **g)
    methods["DiffEvent (e), last step as written (no projection)"] = lambda b: mw(b.blurry, batch=b)

    rows, per = [], {}
    for name, fn in methods.items():
        p, s, sec = _timed_scores(fn, batches)
        per[name] = p
        rows.append({"method": name, "n": len(p), "psnr": f"{p.mean():.3f}", "ssim": f"{s.mean():.4f}",
                     "seconds_per_frame": f"{sec:.3f}"})
        results.say(f"{name:<45} PSNR {p.mean():6.2f}  SSIM {s.mean():.4f}  {sec:.2f} s/frame")
    unet = Path(cfg.unet_table) if cfg.unet_table else None
    if unet is not None and unet.exists() and cfg.limit in (None, 32) and cfg.size is None:
        for r in read_rows(unet):
            if r["back-end"].startswith("unet-xattn"):
                rows.append({"method": f"U-Net with cross attention (results/backends: {r['back-end']})",
                             "n": r["n"], "psnr": r["psnr"], "ssim": r["ssim"], "seconds_per_frame": ""})
    results.table("ablation.csv", rows)
    n = len(next(iter(per.values())))
    results.table("per_frame.csv", [{"frame": i, **{k: f"{per[k][i]:.3f}" for k in per}} for i in range(n)])

    e, b_, a_ = per[E_LABEL], per["DiffEvent (b) y = f(E)x"], per["DiffEvent (a) y = Ex"]
    targets = [_target("(e) - EDI raw events", e, per["EDI (raw events)"], 1.0),
               _target("(e) - EDI SCER (same events)", e, per["EDI (SCER)"], 1.0),
               _target("(e) - (b)", e, b_, 0.0), _target("(b) - (a)", b_, a_, 0.0)]
    for t in targets:
        results.say(f"{t['difference']:<32} {t['mean_db']} ± {t['ci95_db']} dB")
    if cfg.link_snr is not None:
        targets.append(_through_link(cfg, g, build, results))
    results.table("targets.csv", targets)
