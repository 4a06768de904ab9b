"""The supervised baseline of SpikeReveal's Table 1 at this scale (issue 20): the deblurring U-Net with
cross attention (``unet-xattn``, SP-JSCC's receiver network) trained on sharp frames with the spike stream
at threshold 1, fed the six windows' firing rates as they come from the camera (spikes per tick, as SP-JSCC
sends them), and tested at thresholds 1, 2 and 4 beside S-SDM (the shipped ``s-sdm``), whose spike frames are
divided by the picture's mean rate.

Training: the 512 samples ``benchmarks/ssdm.py`` uses (synth-blur train split, 128x128, threshold 1),
random 96-pixel crops, batch 8, L1 against the sharp frame, Adam 5e-4 on a cosine curve, ``--steps`` steps.
Writes ``--out/unet.csv``, ``--out/unet_gap.csv`` and the training log; the weights stay in ``--ckpt``.

    python benchmarks/ssdm_unet.py [--steps 6000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from ssdm import THETAS, score_at_thresholds  # benchmarks/ssdm.py, beside this script

from semcom.bench.results import write_table
from semcom.codecs.spjscc import spike_windows
from semcom.receivers.ssdm import SSDM
from semcom.receivers.unet_xattn import UNetXAttn
from semcom.train.ssdm import load_spike_data
from semcom.train.stages import run_stage

WINDOWS = 6
EVENT_SCALE = 0.25  # SP-JSCC's: rates are divided by this before the network


def windows(b) -> torch.Tensor:
    return spike_windows(b.spikes, num_windows=WINDOWS, size=tuple(b.blurry.shape[-2:]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--limit", type=int, default=None, help="test frames (default: all 32)")
    ap.add_argument("--ckpt", default="ckpt/ssdm-unet")
    ap.add_argument("--out", default="results/ssdm")
    args = ap.parse_args()
    ck, out = Path(args.ckpt), Path(args.out)
    ck.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    path = ck / "unet.pt"
    net = UNetXAttn(event_channels=WINDOWS, event_scale=EVENT_SCALE)
    saved = torch.load(path) if path.exists() else {}
    if saved.get("steps") != args.steps:
        data = load_spike_data(n=args.n_train)
        torch.manual_seed(0)
        net.train()
        log = ck / "log.csv"
        log.unlink(missing_ok=True)

        def loss_fn(step: int) -> torch.Tensor:
            b = data.draw(seed=0, step=step, batch_size=8, crop=96)
            return F.l1_loss(net(b.blurry, events=windows(b)), b.sharp)

        t0 = time.perf_counter()
        run_stage("unet-supervised", list(net.parameters()), loss_fn, steps=args.steps, lr=5e-4, log=log)
        saved = {"steps": args.steps, "state": net.state_dict(), "seconds": round(time.perf_counter() - t0, 1)}
        torch.save(saved, path)
        (out / "unet_training_log.csv").write_text(log.read_text())
    net.load_state_dict(saved["state"])
    net.eval()
    ssdm = SSDM(weights="shipped").eval()
    unet_name = f"U-Net with cross attention, supervised on sharp frames at threshold 1 ({saved['seconds']:.0f} s)"
    rows = score_at_thresholds({"S-SDM (shipped s-sdm)": lambda b: ssdm(b.blurry, batch=b),
                                unet_name: lambda b: net(b.blurry, events=windows(b)).clamp(0.0, 1.0)},
                               THETAS, limit=args.limit)
    write_table(out / "unet.csv", rows)
    by = {(r["method"], r["spike_theta"]): r["psnr"] for r in rows}
    gap = [{"method": m, **{f"psnr_theta{t:g}": by[(m, t)] for t in THETAS},
            "loss_1_to_4_db": round(by[(m, 1.0)] - by[(m, 4.0)], 3)} for m in dict.fromkeys(r["method"] for r in rows)]
    write_table(out / "unet_gap.csv", gap)
    for g in gap:
        print(g, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
