"""Video links through the channel (AWGN 10 dB, CBR 1/48) on synth-blur-video's test sequences, against the
exact-input table of ``benchmarks/stra.py``: does the channel keep its ordering?

Each link's counterpart on exact inputs: ``deepjscc`` (the frame as sent, no deblurring) <-> the blurry input;
``bpg-ldpc-events`` (EDI on the decoded SCER) <-> EDI per frame; ``ev-jscc`` (its U-Net with events, one
frame) <-> the single-frame U-Net; ``deepjscc-stra`` and ``bpg-ldpc-events-stra`` <-> STRA (with the event
skips: the shipped ``stra-skips`` weights).  Runs ``semcom run``'s sweep for each (resumable: the CSVs
under ``--out``) and writes ``--out/links.csv``.

    python benchmarks/stra_links.py [--snr 10] [--out results/stra/links]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from semcom.bench.results import write_table
from semcom.bench.sweep import SweepConfig, run_sweep

LINKS = {  # link -> its counterpart in the exact-input table
    "deepjscc": "blurry input",
    "bpg-ldpc-events": "EDI per frame (raw events, nominal contrast)",
    "ev-jscc": "single-frame U-Net with events (unet-xattn)",
    "deepjscc-stra": "STRA full, event skips (ours)",
    "bpg-ldpc-events-stra": "STRA full, event skips (ours)",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--cbr", type=float, default=1 / 48)
    ap.add_argument("--out", default="results/stra/links")
    ap.add_argument("--table", default="results/stra/table.csv", help="the exact-input table (benchmarks/stra.py)")
    args = ap.parse_args()
    out = Path(args.out)
    exact = {}
    if Path(args.table).exists():
        exact = {r["method"]: r["psnr"] for r in csv.DictReader(open(args.table))}
    rows = []
    for link, counterpart in LINKS.items():
        path = run_sweep(SweepConfig(link=link, cbr=args.cbr, snr_db=(args.snr,), dataset="synth-blur-video",
                                     metrics=("psnr", "ssim")), out_dir=out, progress=False)
        r = next(csv.DictReader(open(path)))
        rows.append({"link": link, "snr_db": args.snr, "cbr": round(args.cbr, 6), "frames": r["n_images"],
                     "psnr": round(float(r["psnr"]), 3), "psnr_ci95": round(float(r["psnr_ci95"]), 3),
                     "ssim": round(float(r["ssim"]), 4), "cbr_used": round(float(r["cbr_used"]), 6),
                     "exact_input_counterpart": counterpart, "counterpart_psnr": exact.get(counterpart, "")})
        print(f"{link:<22} PSNR {float(r['psnr']):6.2f} dB   (exact inputs: {counterpart} {exact.get(counterpart)})",
              flush=True)
    write_table(out / "links.csv", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
