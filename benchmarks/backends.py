"""Receiver back-ends on their own: the sharp frame recovered from ideal (uncoded, noiseless) inputs.

On the default evaluation set (synth-blur test split, 256x256), PSNR/SSIM against the sharp frame
of: the blurry input itself; EDI from the raw events (nominal contrast of the camera, and
estimated); EDI from the 6-channel SCER; SDM from the spike stream; and the learned deblurring
U-Net with cross attention, taken from the shipped EV-JSCC checkpoint and fed the ideal blurry
frame and SCER (no channel).  Writes ``results/backends/backends.csv`` and prints a table.

    python benchmarks/backends.py [--limit N] [--out results/backends]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semcom.metrics.functional import psnr, ssim
from semcom.receivers.edi import EDI
from semcom.receivers.sdm import SDM
from semcom.registry import SOURCES
from semcom.sources.base import collate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default="results/backends")
    args = ap.parse_args()
    ds = SOURCES.build("synth-blur", split="test", limit=args.limit)
    batch = collate([ds[i] for i in range(len(ds))])
    methods = {
        "blurry input": lambda b: b.blurry,
        "edi (raw events, camera's nominal c)": lambda b: EDI(source="raw", contrast="source")(b.blurry, batch=b),
        "edi (raw events, estimated c)": lambda b: EDI(source="raw", contrast="estimate")(b.blurry, batch=b),
        "edi (scer, 6 channels, nominal c)": lambda b: EDI(source="representation")(b.blurry, batch=b),
        "sdm (spikes, 64-tick window)": lambda b: SDM(window=64)(b.blurry, batch=b),
    }
    try:
        from semcom.codecs.evjscc import EVJSCC

        unet = EVJSCC(cbr=1 / 48).eval()

        def learned(b):
            with torch.no_grad():
                return unet.deblur(b.blurry, events=b.events / unet.event_scale).clamp(0, 1)

        methods["unet-xattn (from the shipped ev-jscc cbr 1/48, ideal B and SCER)"] = learned
    except Exception as exc:  # no shipped checkpoint: report and go on
        print(f"learned U-Net skipped: {exc}", file=sys.stderr)
    rows = []
    for name, fn in methods.items():
        t0 = time.perf_counter()
        out = torch.cat([fn(collate([ds[i] for i in range(j, min(j + 8, len(ds)))]))
                         for j in range(0, len(ds), 8)])
        secs = time.perf_counter() - t0
        p = psnr(out, batch.sharp).double().numpy()
        s = ssim(out, batch.sharp).double().numpy()
        rows.append({"back-end": name, "n": len(p), "psnr": f"{np.mean(p):.3f}", "ssim": f"{np.mean(s):.4f}",
                     "psnr_gain_db": f"{np.mean(p) - float(rows[0]['psnr']) if rows else 0.0:.3f}",
                     "seconds": f"{secs:.1f}"})
        print(f"{name:<70} PSNR {np.mean(p):6.2f} dB  SSIM {np.mean(s):.4f}  ({secs:.1f} s)", flush=True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "backends.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
