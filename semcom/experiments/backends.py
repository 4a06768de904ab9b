"""Receiver back-ends on their own: the sharp frame recovered from ideal (uncoded, noiseless) inputs
(``results/backends/backends.csv``).

On the default evaluation set (synth-blur test split, 256x256): PSNR / SSIM against the sharp frame of the
blurry input itself; EDI from the raw events (the camera's nominal contrast, and an estimated one); EDI from
the 6-channel SCER; SDM from the spike stream; and the deblurring U-Net with cross attention (link
``unet-xattn``) trained here for ``unet_steps`` steps on the exact blurry frames and SCER of the training
split (no channel).  The U-Nets inside the JSCC codecs are trained on their codec's decoded frames and are
not back-ends for clean inputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semcom.experiments.base import Results, experiment
from semcom.experiments.shared import evaluation_batches, score, train_once
from semcom.link import Link, find_link
from semcom.receivers.edi import EDI
from semcom.receivers.sdm import SDM
from semcom.zoo.store import load_checkpoint, read_meta


@dataclass(frozen=True)
class BackendsConfig:
    """Args: ``limit`` evaluation frames (None: all 32); ``size`` their side (None: the set's 256);
    ``unet_steps`` training steps of the U-Net;
    ``unet_checkpoint`` where it is kept (resumed, skipped when complete); ``train_args`` more
    ``semcom train`` arguments (the tiny run's small data)."""

    limit: int | None = None
    size: int | None = None
    unet_steps: int = 1500
    unet_checkpoint: str = "ckpt/unet-xattn-ideal.ckpt"
    train_args: tuple[str, ...] = ()


TINY = BackendsConfig(limit=2, size=64, unet_steps=2, unet_checkpoint="",
                      train_args=("--size", "32", "--n-train", "4", "--batch", "2", "--log-every", "1",
                                  "--dataset-param", "cache=false", "--dataset-param", "spikes=false"))


@experiment("backends", config=BackendsConfig, tiny=TINY, out="results/backends")
def run(cfg: BackendsConfig, results: Results) -> None:
    """Receiver back-ends (EDI, SDM, the U-Net) on exact inputs: PSNR / SSIM against the sharp frame."""
    batches = evaluation_batches(cfg.limit, **({} if cfg.size is None else {"size": cfg.size}))
    sharp = torch.cat([b.sharp for b in batches])
    methods = {
        "blurry input": lambda b: b.blurry,
        "edi (raw events, camera's nominal c)": lambda b: EDI(source="raw", contrast="source")(b.blurry, batch=b),
        "edi (raw events, estimated c)": lambda b: EDI(source="raw", contrast="estimate")(b.blurry, batch=b),
        "edi (scer, 6 channels, nominal c)": lambda b: EDI(source="representation")(b.blurry, batch=b),
        "sdm (spikes, 64-tick window)": lambda b: SDM(window=64)(b.blurry, batch=b),
    }
    # the same run as train("unet-xattn", cbr=1.0, snr_db=0.0, steps=..., lr=5e-4): train()'s lam is 1.0
    ckpt = Path(cfg.unet_checkpoint) if cfg.unet_checkpoint else results.scratch(None) / "unet-xattn-ideal.ckpt"
    t0 = time.perf_counter()
    train_once("unet-xattn", ckpt, steps=cfg.unet_steps, recipe=None,
               args=["--cbr", "1", "--snr", "0", "--lr", "5e-4", "--lam", "1.0", *cfg.train_args])
    unet_train_s = time.perf_counter() - t0
    if unet_train_s < 1.0:  # trained before: its own training time
        unet_train_s = float(read_meta(ckpt).get("training", {}).get("seconds") or unet_train_s)
    link = Link(find_link("unet-xattn"), cbr=1.0).eval()
    link.receiver.load_state_dict(load_checkpoint(ckpt).receiver)

    def learned(b):
        with torch.no_grad():
            return link.receiver(b.blurry, batch=b).clamp(0, 1)

    methods[f"unet-xattn (trained {cfg.unet_steps} steps on ideal B and SCER, {unet_train_s:.0f} s)"] = learned
    rows = []
    for name, fn in methods.items():
        t0 = time.perf_counter()
        with torch.no_grad():
            out = torch.cat([fn(b) for b in batches])
        secs = time.perf_counter() - t0
        s = score(out, sharp)
        p_mean, s_mean = float(np.mean(s["psnr"])), float(np.mean(s["ssim"]))
        rows.append({"back-end": name, "n": len(s["psnr"]), "psnr": f"{p_mean:.3f}", "ssim": f"{s_mean:.4f}",
                     "psnr_gain_db": f"{p_mean - float(rows[0]['psnr']) if rows else 0.0:.3f}",
                     "seconds": f"{secs:.1f}"})
        results.say(f"{name:<70} PSNR {p_mean:6.2f} dB  SSIM {s_mean:.4f}  ({secs:.1f} s)")
    results.table("backends.csv", rows)
