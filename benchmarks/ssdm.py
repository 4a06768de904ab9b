"""S-SDM's tables at this scale (SpikeReveal Tables 1 and 3): the cascade SDM -> +BSN -> +SR -> +LDN on exact
inputs, and the domain gap of the spike camera's threshold, beside the same LDN trained on sharp frames.

Trains, on ``--n-train`` samples of ``synth-blur``'s training split with spikes at threshold 1 (no sharp
frame read: :mod:`semcom.train.ssdm`), the BSN, the SR network and the LDN (distilled from SDM + BSN + SR
with the reblur loss, weight ``--lam``), each for ``--steps`` steps; and the supervised LDN (L1 to the sharp
frame) for as many.  Scores them on the test split (32 frames, 256x256) with spikes at thresholds 1, 2 and 4
(the test pictures, motions and RGB frames are the same at the three thresholds; only the spike streams differ).
Writes ``results/ssdm/cascade.csv``, ``results/ssdm/domain_gap.csv``, the training log, and the LDN as the
weights of link ``s-sdm`` (``--ckpt``).

    python benchmarks/ssdm.py [--steps 1000] [--out results/ssdm] [--ckpt ckpt/ssdm]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semcom.bench.results import write_table
from semcom.metrics.functional import psnr, ssim
from semcom.receivers.sdm import SDM
from semcom.receivers.ssdm import LDN, BlindSpotNet, Cascade, SpikeSR, spike_frames
from semcom.registry import SOURCES
from semcom.sources.base import collate
from semcom.train.ssdm import (BSN_WIDTH, load_spike_data, moments, save_receiver, train_bsn, train_ldn, train_sr,
                               train_supervised)

THETAS = (1.0, 2.0, 4.0)


def score_at_thresholds(methods: dict, thetas, *, limit: int | None = None) -> list[dict]:
    """PSNR / SSIM rows of each method (a function of a batch) on the test split with spikes at each threshold
    (the same pictures, motions and RGB frames; only the spike streams differ)."""
    rows = []
    for theta in thetas:
        ds = SOURCES.build("synth-blur", split="test", limit=limit, spike_theta=theta, events=False)
        batches = [collate([ds[i] for i in range(j, min(j + 8, len(ds)))]) for j in range(0, len(ds), 8)]
        sharp = torch.cat([b.sharp for b in batches])
        for name, fn in methods.items():
            with torch.no_grad():
                y = torch.cat([fn(b) for b in batches]).float()
            p, s = psnr(y, sharp).double().numpy(), ssim(y, sharp).double().numpy()
            rows.append({"method": name, "spike_theta": theta, "frames": len(p), "psnr": round(float(np.mean(p)), 3),
                         "psnr_ci95": round(float(1.96 * np.std(p, ddof=1) / np.sqrt(len(p))), 3),
                         "ssim": round(float(np.mean(s)), 4)})
            print(f"theta {theta:g}  {name:<52} PSNR {np.mean(p):6.2f}  SSIM {np.mean(s):.4f}", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--lam", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="results/ssdm")
    ap.add_argument("--ckpt", default="ckpt/ssdm")
    args = ap.parse_args()
    out, ck = Path(args.out), Path(args.ckpt)
    out.mkdir(parents=True, exist_ok=True)
    ck.mkdir(parents=True, exist_ok=True)
    log = ck / "log.csv"
    data = load_spike_data(n=args.n_train, workers=args.workers)
    ticks = int(data.spikes.shape[1])
    width = moments(ticks, 5)[1]
    nets = ck / "nets.pt"
    saved = torch.load(nets) if nets.exists() else {}
    if saved.get("steps") != args.steps:
        log.unlink(missing_ok=True)
        saved = {"steps": args.steps}
        times = {}
        t0 = time.perf_counter()
        bsn = train_bsn(data, steps=args.steps, width=width, log=log)
        times["bsn"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sr = train_sr(data, steps=args.steps, log=log)
        times["sr"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ldn = train_ldn(data, Cascade(bsn=bsn, sr=sr, width=width), steps=args.steps, lam=args.lam, log=log)
        times["ldn"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sup = train_supervised(data, steps=args.steps, width=width, log=log)
        times["supervised"] = time.perf_counter() - t0
        saved.update(bsn=bsn.state_dict(), sr=sr.state_dict(), ldn=ldn.state_dict(), supervised=sup.state_dict(),
                     seconds=times)
        torch.save(saved, nets)
    bsn, sr = BlindSpotNet(width=BSN_WIDTH), SpikeSR()
    ldn, sup = LDN(), LDN()
    for net, key in ((bsn, "bsn"), (sr, "sr"), (ldn, "ldn"), (sup, "supervised")):
        net.load_state_dict(saved[key])
        net.eval()
    save_receiver(ck / "s-sdm.ckpt", ldn, width=width,
                  training={"steps": args.steps, "lam": args.lam, "n_train": args.n_train, "size": 128,
                            "dataset": "synth-blur", "spike_theta": 1.0, "seconds": saved["seconds"]})
    shutil.copy(log, out / "training_log.csv")

    def ldn_run(net):
        def run(b):
            short, long = spike_frames(b.spikes, centre=b.spikes.shape[1] / 2, width=width)
            return net(b.blurry, short, long).clamp(0, 1)
        return run

    methods = {
        "blurry input": lambda b: b.blurry,
        "SDM (64-tick window, bilinear: the sdm back-end)": lambda b: SDM(window=64)(b.blurry, batch=b),
        f"SDM ({width}-tick window, bilinear)": lambda b: Cascade(width=width)(b.blurry, b.spikes),
        "SDM + BSN": lambda b: Cascade(bsn=bsn, width=width)(b.blurry, b.spikes),
        "SDM + BSN + SR (the teacher)": lambda b: Cascade(bsn=bsn, sr=sr, width=width)(b.blurry, b.spikes),
        "S-SDM: LDN distilled (self-supervised)": ldn_run(ldn),
        "LDN supervised on sharp frames": ldn_run(sup),
    }
    rows = score_at_thresholds(methods, THETAS, limit=args.limit)
    write_table(out / "cascade.csv", [r for r in rows if r["spike_theta"] == 1.0])
    gap = []
    for name in methods:
        by = {r["spike_theta"]: r["psnr"] for r in rows if r["method"] == name}
        gap.append({"method": name, **{f"psnr_theta{t:g}": by[t] for t in THETAS},
                    "loss_1_to_4_db": round(by[1.0] - by[4.0], 3)})
    write_table(out / "domain_gap.csv", gap)
    write_table(out / "seconds.csv", [{"stage": k, "seconds": round(v, 1), "steps": args.steps}
                                      for k, v in saved["seconds"].items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
