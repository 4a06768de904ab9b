"""Receiver back-ends on their own: the sharp frame recovered from ideal (uncoded, noiseless) inputs.

On the default evaluation set (synth-blur test split, 256x256), PSNR/SSIM against the sharp frame
of: the blurry input itself; EDI from the raw events (nominal contrast of the camera, and
estimated); EDI from the 6-channel SCER; SDM from the spike stream; and the learned deblurring
U-Net with cross attention (link ``unet-xattn``) trained here for ``--unet-steps`` steps on the
ideal blurry frames and SCER of the training split (no channel).  Writes ``results/backends/backends.csv`` and prints a table.

    python benchmarks/backends.py [--limit N] [--out results/backends]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semcom.bench.results import write_table
from semcom.metrics.functional import psnr, ssim
from semcom.receivers.edi import EDI
from semcom.receivers.sdm import SDM
from semcom.registry import SOURCES
from semcom.sources.base import collate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default="results/backends")
    ap.add_argument("--unet-steps", type=int, default=1500)
    ap.add_argument("--unet-checkpoint", default="ckpt/unet-xattn-ideal.ckpt",
                    help="where the U-Net trained on ideal inputs is kept (resumed if present)")
    args = ap.parse_args()
    ds = SOURCES.build("synth-blur", split="test", limit=args.limit)
    batches = [collate([ds[i] for i in range(j, min(j + 8, len(ds)))]) for j in range(0, len(ds), 8)]
    sharp = torch.cat([b.sharp for b in batches])
    methods = {
        "blurry input": lambda b: b.blurry,
        "edi (raw events, camera's nominal c)": lambda b: EDI(source="raw", contrast="source")(b.blurry, batch=b),
        "edi (raw events, estimated c)": lambda b: EDI(source="raw", contrast="estimate")(b.blurry, batch=b),
        "edi (scer, 6 channels, nominal c)": lambda b: EDI(source="representation")(b.blurry, batch=b),
        "sdm (spikes, 64-tick window)": lambda b: SDM(window=64)(b.blurry, batch=b),
    }
    # the learned back-end: the U-Net with cross attention trained on ideal inputs (exact blurry frame and
    # SCER -> sharp frame) on the training split; the U-Nets inside the JSCC codecs are trained on their
    # codec's decoded frames and are not back-ends for clean inputs
    from semcom.link import Link, find_link
    from semcom.train import train
    from semcom.zoo.store import load_checkpoint

    t0 = time.perf_counter()
    res = train("unet-xattn", cbr=1.0, snr_db=0.0, steps=args.unet_steps, lr=5e-4, out=args.unet_checkpoint,
                progress=False)
    unet_train_s = time.perf_counter() - t0
    link = Link(find_link("unet-xattn"), cbr=1.0).eval()
    link.receiver.load_state_dict(load_checkpoint(res.checkpoint).receiver)

    def learned(b):
        with torch.no_grad():
            return link.receiver(b.blurry, batch=b).clamp(0, 1)

    methods[f"unet-xattn (trained {args.unet_steps} steps on ideal B and SCER, {unet_train_s:.0f} s)"] = learned
    rows = []
    for name, fn in methods.items():
        t0 = time.perf_counter()
        out = torch.cat([fn(b) for b in batches])
        secs = time.perf_counter() - t0
        p = psnr(out, sharp).double().numpy()
        s = ssim(out, sharp).double().numpy()
        rows.append({"back-end": name, "n": len(p), "psnr": f"{np.mean(p):.3f}", "ssim": f"{np.mean(s):.4f}",
                     "psnr_gain_db": f"{np.mean(p) - float(rows[0]['psnr']) if rows else 0.0:.3f}",
                     "seconds": f"{secs:.1f}"})
        print(f"{name:<70} PSNR {np.mean(p):6.2f} dB  SSIM {np.mean(s):.4f}  ({secs:.1f} s)", flush=True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(out_dir / "backends.csv", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
