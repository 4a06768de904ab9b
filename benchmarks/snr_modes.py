"""SNR-adaptive vs single-SNR models (the paper's protocol) at one CBR, from the shipped checkpoints.

For each learned link with a shipped single-SNR checkpoint, sweeps the SNR-adaptive model and the
single-SNR model over ``--snr`` on the default evaluation set, draws both curves in one PNG, and
prints the gap at the single model's training SNR (where the paper's protocol tests it).

    python benchmarks/snr_modes.py [--out results/snr-modes] [--snr 0:20:2] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from semcom.bench.results import write_table  # noqa: E402
from semcom.bench.sweep import SweepConfig, run_sweep  # noqa: E402
from semcom.conventions import format_cbr, parse_snr  # noqa: E402
from semcom.zoo.store import entry_path, read_manifest, same_cbr  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/snr-modes")
    ap.add_argument("--snr", default="0:20:2")
    ap.add_argument("--cbr", default="1/48")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    from semcom.conventions import parse_cbr

    cbr = parse_cbr(args.cbr)
    out = Path(args.out)
    points = tuple(parse_snr(args.snr))
    entries = read_manifest()
    rows = []
    for single in [e for e in entries if e.get("snr_mode") == "single" and same_cbr(e["cbr"], cbr)]:
        codec = single["codec"]
        link = codec  # every learned codec has a link of the same name
        adaptive = [e for e in entries if e["codec"] == codec and e.get("snr_mode") == "adaptive"
                    and same_cbr(e["cbr"], cbr)]
        if not adaptive:
            continue
        snr0 = float(single["snr_db"])
        curves = {}
        for mode, entry in (("adaptive", adaptive[0]), (f"single {snr0:g} dB", single)):
            sub = out / codec / ("adaptive" if mode == "adaptive" else f"snr{snr0:g}")
            cfg = SweepConfig(link=link, cbr=cbr, snr_db=tuple(sorted(set(points) | {snr0})), limit=args.limit,
                              checkpoint=str(entry_path(entry)))
            path = run_sweep(cfg, out_dir=sub, progress=False, notice=lambda m: print(m, file=sys.stderr))
            data = list(csv.DictReader(open(path)))
            curves[mode] = {float(r["snr_db"]): (float(r["psnr"]), float(r["psnr_ci95"] or 0)) for r in data}
        fig, ax = plt.subplots(figsize=(5, 3.6), constrained_layout=True)
        for mode, c in curves.items():
            xs = sorted(c)
            ax.errorbar(xs, [c[x][0] for x in xs], yerr=[c[x][1] for x in xs], marker="o", ms=3, capsize=2,
                        label=mode)
        ax.axvline(snr0, color="gray", lw=0.8, ls=":")
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel("PSNR (dB) against the sharp frame")
        ax.set_title(f"{codec}, CBR {format_cbr(cbr)}, AWGN: SNR-adaptive vs trained at {snr0:g} dB", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        png = out / f"{codec}_snr_modes_cbr{format_cbr(cbr).replace('/', '-')}.png"
        fig.savefig(png, dpi=120)
        plt.close(fig)
        a, s = curves["adaptive"][snr0][0], curves[f"single {snr0:g} dB"][snr0][0]
        rows.append({"codec": codec, "cbr": format_cbr(cbr), "snr_db": snr0, "psnr_adaptive": f"{a:.3f}",
                     "psnr_single": f"{s:.3f}", "gap_db": f"{s - a:.3f}"})
        print(f"{codec} CBR {format_cbr(cbr)} at {snr0:g} dB: adaptive {a:.2f} dB, single-SNR {s:.2f} dB, "
              f"gap (single - adaptive) {s - a:+.2f} dB   [{png}]")
    if rows:
        write_table(out / "snr_modes.csv", rows)
    else:
        print("no shipped single-SNR checkpoint with an adaptive partner at this CBR", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
