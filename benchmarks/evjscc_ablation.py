"""Small EV-JSCC ablation at equal training budget: channel-use split, EDI prior, shared encoder, events.

Each variant is trained from scratch with the same short schedule (``--steps`` steps of batch 8 on
the 128x128 frames of the synth-blur training split, single SNR; 64x64 crops were tried first and
do not transfer to 256x256 frames: the 4x4 latent is all border) and evaluated at that SNR on the
first ``--limit`` frames of the default evaluation set (256x256); PSNR/SSIM against the sharp
frame.  Short runs rank the variants; they do not give converged numbers.  Variants: the
(image, shared, event) split, the shared encoder's EDI prior on or off, no shared encoder
(``ev-jscc-noshared``), no events at all (``deepjscc-deblur``, trained end to end), and the
feature width of EV-JSCC's encoders and decoders (32, the default, 48, 64).

    python benchmarks/evjscc_ablation.py --out results/ablation [--steps 1500] [--snr 10] [--cbr 1/48]

Resumes: a variant whose checkpoint and result row exist is skipped.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = [
    # name, link, codec params
    ("split-0.5-0.25-0.25", "ev-jscc", ["split=[0.5,0.25,0.25]"]),
    ("split-0.5-0.25-0.25-noprior", "ev-jscc", ["split=[0.5,0.25,0.25]", "prior=\"none\""]),
    ("noshared-0.667-0-0.333", "ev-jscc-noshared", []),
    ("split-0.625-0.125-0.25", "ev-jscc", ["split=[0.625,0.125,0.25]"]),
    ("deepjscc-deblur", "deepjscc-deblur", []),
    # model size: EV-JSCC's default width 32 gives 0.59 M parameters (image tail 50 k), DeepJSCC-Deblur
    # (width 64) 0.68 M (decoder 179 k); the same EV-JSCC at widths 48 and 64
    ("split-0.5-0.25-0.25-width48", "ev-jscc", ["split=[0.5,0.25,0.25]", "width=48"]),
    ("split-0.5-0.25-0.25-width64", "ev-jscc", ["split=[0.5,0.25,0.25]", "width=64"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/ablation")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--snr", default="10")
    ap.add_argument("--cbr", default="1/48")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    out = Path(args.out)
    (out / "ckpt").mkdir(parents=True, exist_ok=True)
    table = out / "evjscc_ablation.csv"
    done = set()
    if table.exists():
        done = {r["variant"] for r in csv.DictReader(open(table))}
    exe = [sys.executable, "-m", "semcom.cli"]
    for name, link, params in VARIANTS:
        if name in done:
            continue
        ck = out / "ckpt" / f"{name}.ckpt"
        t0 = time.perf_counter()
        cp = [a for p in params for a in ("--codec-param", p)]
        subprocess.run(exe + ["train", "--link", link, "--cbr", args.cbr, "--snr", args.snr, "--steps",
                              str(args.steps), "--lr", "8e-4", "--out", str(ck), "--threads",
                              str(args.threads), "-q", *cp], check=True)
        train_s = time.perf_counter() - t0
        run_dir = out / "runs" / name
        subprocess.run(exe + ["run", "--link", link, "--cbr", args.cbr, "--snr", args.snr, "--checkpoint",
                              str(ck), "--limit", str(args.limit), "--metrics", "psnr,ssim", "--out", str(run_dir),
                              "--no-plot", "-q", "--overwrite"], check=True)
        rows = list(csv.DictReader(open(next(run_dir.glob("*.csv")))))
        new = not table.exists()
        with open(table, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["variant", "link", "params", "steps", "snr_db", "cbr", "psnr", "ssim", "train_seconds"])
            w.writerow([name, link, " ".join(params), args.steps, args.snr, args.cbr, rows[0]["psnr"], rows[0]["ssim"],
                        f"{train_s:.0f}"])
        print(f"{name}: PSNR {float(rows[0]['psnr']):.2f} dB, SSIM {float(rows[0]['ssim']):.4f} "
              f"(trained in {train_s:.0f} s)", flush=True)
    print(open(table).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
