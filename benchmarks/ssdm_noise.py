"""Does S-SDM's blind-spot denoiser help once the spike camera has noise? (issue 20)

``benchmarks/ssdm.py`` found the BSN harmful on the default spike camera, whose only noise is the
quantization of counts. Here the camera gets dark current (an exponentially distributed charge per tick of
mean ``d``, added to the light's, :class:`semcom.sources.spikes.SpikeCamera`), the BSN is trained
self-supervised on spikes with that noise (the same recipe: short-window frames, 80 ticks, no sharp frame),
and on the test split with the same noise we compare:

* the short-window spike frame before and after the BSN: mean squared error against the sharp frame's
  linear luminance at the spike resolution (``mse_*``: noise and the dark current's offset), and against
  what the camera fires on average there, luminance plus dark current (``noise_*``: the noise alone; also
  for the mean of the 8 neighbours, the simplest blind-spot estimate); every frame divided by its picture
  mean; and the fraction of spike pixels that fire on more than 90 % of the ticks (``saturated``);
* SDM (80-tick window), SDM on the BSN's frame, and SDM with the dark rate ``d`` subtracted from both
  spike rates first (a dark-frame calibration: what removing the offset alone gives).

Writes ``--out/noise.csv`` and the BSN training logs.

    python benchmarks/ssdm_noise.py [--dark 0,0.05,0.2] [--steps 1000] [--n-train 256]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from semcom.bench.results import write_table
from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.metrics.functional import psnr
from semcom.receivers.ssdm import Cascade, spike_frames, window_bounds_at
from semcom.registry import SOURCES
from semcom.sources.base import collate
from semcom.sources.events import LUMA_WEIGHTS
from semcom.train.sources import load_training_data
from semcom.train.ssdm import train_bsn

WIDTH = 80
RING = torch.ones(1, 1, 3, 3).index_put_((torch.tensor([0]), torch.tensor([0]), torch.tensor([1]),
                                          torch.tensor([1])), torch.tensor(0.0)) / 8


def luminance_at_spike_res(sharp: torch.Tensor, factor: int) -> torch.Tensor:
    """Linear luminance of the frames averaged to the spike resolution (not normalized)."""
    lin = srgb_to_linear(sharp.double())
    lum = sum(w * lin[:, c:c + 1] for c, w in enumerate(LUMA_WEIGHTS))
    return F.avg_pool2d(lum, factor)


def norm(f: torch.Tensor) -> torch.Tensor:
    return f.double() / f.double().mean((1, 2, 3), keepdim=True)


def calibrated_sdm(blurry: torch.Tensor, spikes: torch.Tensor, dark: float, sdm: Cascade) -> torch.Tensor:
    """SDM (as :class:`Cascade` computes it, bilinear upsampling) on spike rates less the dark rate."""
    ticks = spikes.shape[1]
    a, b = window_bounds_at(ticks, ticks / 2, WIDTH)
    s = spikes.float()
    short = (s[:, a:b].mean(1, keepdim=True) - dark).clamp_min(0.0)
    long = (s.mean(1, keepdim=True) - dark).clamp_min(0.0)
    scale = long.mean((1, 2, 3), keepdim=True).clamp_min(1e-6)
    size = tuple(blurry.shape[-2:])
    up = lambda f: F.interpolate(f / scale, size=size, mode="bilinear", align_corners=False)  # noqa: E731
    s_hr, l_hr = up(short), up(long)
    valid = l_hr > sdm.min_rate
    ratio = torch.where(valid, (s_hr / l_hr.clamp_min(sdm.min_rate)).clamp(0.0, sdm.max_gain), torch.ones_like(l_hr))
    return linear_to_srgb((srgb_to_linear(blurry) * ratio).clamp(0.0, 1.0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dark", default="0,0.05,0.2", help="dark current values (charge per tick), comma-separated")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--n-train", type=int, default=256)
    ap.add_argument("--limit", type=int, default=None, help="test frames (default: all 32)")
    ap.add_argument("--out", default="results/ssdm/noise")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for d in (float(v) for v in args.dark.split(",")):
        params = {"events": False, "dark_current": d}
        data = load_training_data("synth-blur", size=128, n=args.n_train, seed=0, split="train", workers=0,
                                  spikes=True, params=params)
        log = out / f"bsn_dark{d:g}.csv"
        log.unlink(missing_ok=True)
        t0 = time.perf_counter()
        bsn = train_bsn(data, steps=args.steps, width=WIDTH, log=log, progress=False)
        seconds = time.perf_counter() - t0
        ds = SOURCES.build("synth-blur", split="test", limit=args.limit, **params)
        batches = [collate([ds[i] for i in range(j, min(j + 8, len(ds)))]) for j in range(0, len(ds), 8)]
        sdm, sdm_bsn = Cascade(width=WIDTH), Cascade(bsn=bsn, width=WIDTH)
        res = {k: [] for k in ("mse_raw", "mse_bsn", "noise_raw", "noise_bsn", "noise_neighbours", "saturated",
                               "psnr_blurry", "psnr_sdm", "psnr_sdm_bsn", "psnr_sdm_calibrated")}
        with torch.no_grad():
            for b in batches:
                ticks = b.spikes.shape[1]
                short, _ = spike_frames(b.spikes, centre=ticks / 2, width=WIDTH)
                factor = b.sharp.shape[-1] // short.shape[-1]
                lum = luminance_at_spike_res(b.sharp, factor)
                den = bsn(short).clamp_min(0.0)
                for ref, key in ((norm(lum), "mse"), (norm(lum + d), "noise")):
                    res[f"{key}_raw"] += (norm(short) - ref).square().mean((1, 2, 3)).tolist()
                    res[f"{key}_bsn"] += (norm(den) - ref).square().mean((1, 2, 3)).tolist()
                # the simplest blind-spot estimate: the mean of the 8 neighbours
                nb = F.conv2d(F.pad(short, (1, 1, 1, 1), mode="replicate"), RING)
                res["noise_neighbours"] += (norm(nb) - norm(lum + d)).square().mean((1, 2, 3)).tolist()
                res["saturated"] += (b.spikes.float().mean(1) > 0.9).float().mean((1, 2)).tolist()
                res["psnr_blurry"] += psnr(b.blurry, b.sharp).tolist()
                res["psnr_sdm"] += psnr(sdm(b.blurry, b.spikes), b.sharp).tolist()
                res["psnr_sdm_bsn"] += psnr(sdm_bsn(b.blurry, b.spikes), b.sharp).tolist()
                res["psnr_sdm_calibrated"] += psnr(calibrated_sdm(b.blurry, b.spikes, d, sdm), b.sharp).tolist()
        gain = np.array(res["psnr_sdm_bsn"]) - np.array(res["psnr_sdm"])
        row = {"dark_current": d, "frames": len(gain), "bsn_steps": args.steps, "bsn_seconds": round(seconds, 1),
               **{k: round(float(np.mean(v)), 3 if k.startswith("psnr") else 5) for k, v in res.items()},
               "bsn_gain_db": round(float(gain.mean()), 3),
               "bsn_gain_ci95": round(float(1.96 * gain.std(ddof=1) / np.sqrt(len(gain))), 3)}
        rows.append(row)
        print(row, flush=True)
    write_table(out / "noise.csv", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
