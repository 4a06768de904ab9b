"""Which widths?  Short from-scratch trainings of DeepJSCC and EV-JSCC at several widths, equal steps
(``results/ablation/width_sweep.csv``, the runs in ``width-sweep/``).

Each variant trains from scratch with the ``cpu`` recipe (photos + dead leaves, random 128 crops, batch 16;
EMA 0.99 instead of 0.999, for short runs) for ``steps`` steps, SNR-adaptive over 0..20 dB at CBR 1/48, and
is evaluated at ``snr`` dB on the first ``limit`` frames of the default evaluation set (PSNR against the
sharp frame).  Short runs rank the widths at equal steps and show what a wider network costs per step on
this machine; they do not converge (the shipped checkpoints train 5-10 times longer).  One row per variant:
parameters, seconds per step, validation and evaluation PSNR.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from semcom.conventions import parse_snr
from semcom.experiments.base import Results, experiment
from semcom.experiments.shared import Variant, pick, sweep, train_once
from semcom.zoo import build_codec
from semcom.zoo.store import read_meta

#: the shipped widths: DeepJSCC 64, EV-JSCC 32 with a U-Net of 24
VARIANTS = (
    Variant("deepjscc-w32", "deepjscc", ("width=32",)),
    Variant("deepjscc-w64", "deepjscc", ("width=64",)),
    Variant("deepjscc-w96", "deepjscc", ("width=96",)),
    Variant("ev-jscc-w32", "ev-jscc", ("width=32",)),
    Variant("ev-jscc-w48", "ev-jscc", ("width=48",)),
)


@dataclass(frozen=True)
class WidthSweepConfig:
    """Args: ``steps`` of each training; ``recipe`` of :data:`~semcom.experiments.shared.RECIPES`; ``snr``
    of the evaluation; ``limit`` its frames; ``only`` these variants (empty: all); ``ckpt_dir`` for the
    checkpoints (None: ``<out>/ckpt``)."""

    steps: int = 1000
    recipe: str = "cpu"
    snr: str = "10"
    limit: int = 16
    only: tuple[str, ...] = ()
    ckpt_dir: str | None = "ckpt/width-sweep"


TINY = WidthSweepConfig(steps=2, recipe="tiny", limit=2, only=("deepjscc-w32",), ckpt_dir=None)


@experiment("width-sweep", config=WidthSweepConfig, tiny=TINY, out="results/ablation")
def run(cfg: WidthSweepConfig, results: Results) -> None:
    """DeepJSCC and EV-JSCC at several widths: short from-scratch trainings at equal steps."""
    ckpts = results.scratch(cfg.ckpt_dir)
    rows = []
    for v in pick(VARIANTS, cfg.only):
        # EMA 0.99 (the last --ema wins): the average spans ~100 steps whatever the steps (the recipe's
        # 0.999 ramps up as (1 + n) / (10 + n) and is still ~0.99 at step 1000)
        ck = train_once(v.link, ckpts / f"{v.name}.ckpt", steps=cfg.steps, recipe=cfg.recipe,
                        args=["--cbr", "1/48", "--snr-range", "0:20", *v.train_args(), "--ema", "0.99"])
        meta = read_meta(ck)
        t0 = time.perf_counter()
        _, data = sweep(v.link, cbr=1 / 48, snr_db=parse_snr(cfg.snr), checkpoint=str(ck), limit=cfg.limit,
                        metrics=("psnr",), out_dir=results.folder(f"width-sweep/{v.name}"), say=results.say)
        codec = build_codec(meta["codec"], cbr=1 / 48, checkpoint=str(ck))
        tr = meta.get("training", {})
        seconds = float(tr.get("seconds") or 0.0)
        rows.append({"variant": v.name, "link": v.link, "params": v.described,
                     "parameters": sum(p.numel() for p in codec.parameters()), "steps": cfg.steps,
                     "seconds_per_step": round(seconds / max(1, cfg.steps), 3),
                     "val_psnr": None if tr.get("val_psnr") is None else round(float(tr["val_psnr"]), 3),
                     **{f"psnr_{s:g}dB": round(float(r["psnr"]), 3) for s, r in sorted(data.items())},
                     "eval_seconds": round(time.perf_counter() - t0, 1)})
        results.say(str(rows[-1]))
    results.table("width_sweep.csv", rows)
