"""Margins between the learned links in the reproduced figures (EV-JSCC paper's claims, measured).

Reads the sweep CSVs that ``semcom reproduce`` wrote (``results/reproduce/<figure>/*.csv``) and
prints, per figure and SNR, the PSNR of each link and the margins the paper claims:
EV-JSCC over DeepJSCC-Deblur, DeepJSCC-Deblur over DeepJSCC, EV-JSCC over DeepJSCC; then the
smallest and mean margin per figure.  Writes ``results/reproduce/margins.csv``.

    python benchmarks/margins.py [--dir results/reproduce]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from semcom.bench.results import write_table

PAIRS = (("ev-jscc", "deepjscc-deblur"), ("deepjscc-deblur", "deepjscc"), ("ev-jscc", "deepjscc"),
         ("ev-jscc", "bpg-ldpc"))


def _curves(folder: Path) -> dict[str, dict[float, dict[str, float]]]:
    out: dict[str, dict[float, dict[str, float]]] = {}
    for path in sorted(folder.glob("*.csv")):
        for r in csv.DictReader(open(path)):
            vals = {m: float(r[m]) for m in ("psnr", "ssim", "dists") if r.get(m) not in (None, "")}
            out.setdefault(r["link"], {})[float(r["snr_db"])] = vals
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="results/reproduce")
    args = ap.parse_args()
    root = Path(args.dir)
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        curves = _curves(folder)
        if not curves:
            continue
        snrs = sorted(set.intersection(*(set(c) for c in curves.values())))
        print(f"\n{folder.name}: PSNR (dB) against the sharp frame")
        links = [n for n in ("ev-jscc", "deepjscc-deblur", "deepjscc", "bpg-ldpc", "bpg-capacity") if n in curves]
        print("snr  " + "  ".join(f"{n:>15}" for n in links))
        for s in snrs:
            print(f"{s:>4g} " + "  ".join(f"{curves[n][s]['psnr']:>15.2f}" for n in links))
        for a, b in PAIRS:
            if a not in curves or b not in curves:
                continue
            for metric in ("psnr", "ssim"):
                diffs = [curves[a][s][metric] - curves[b][s][metric] for s in snrs
                         if metric in curves[a][s] and metric in curves[b][s]]
                if not diffs:
                    continue
                above = sum(d > 0 for d in diffs)
                rows.append({"figure": folder.name, "pair": f"{a} - {b}", "metric": metric,
                             "min": f"{min(diffs):.4f}", "mean": f"{sum(diffs) / len(diffs):.4f}",
                             "max": f"{max(diffs):.4f}", "above_at": f"{above}/{len(diffs)}"})
                unit = " dB" if metric == "psnr" else ""
                print(f"  {metric} {a} - {b}: min {min(diffs):+.3f}{unit}, mean {sum(diffs) / len(diffs):+.3f}{unit}, "
                      f"max {max(diffs):+.3f}{unit}; above at {above} of {len(diffs)} SNR points")
    if not rows:
        print(f"no sweep CSVs under {root}", file=sys.stderr)
        return 1
    write_table(root / "margins.csv", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
