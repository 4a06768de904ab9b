"""Does EV-JSCC's event stream earn its channel uses?  The event share trained vs. given to the image stream.

Two variants at equal budget (same channel uses, same training steps, data and schedule), both
warm-started from the shipped EV-JSCC at CBR 1/48 (SNR-adaptive) and fine-tuned with the zoo's
``cpu`` recipe (``scripts/train_zoo.py``) and EV-JSCC's three-stage schedule:

* ``trained``: the paper's split (image, shared, event) = (0.5, 0.25, 0.25): the event stream keeps
  its quarter of the channel uses;
* ``given``: split (0.75, 0.25, 0): the event stream's quarter goes to the image stream; the events
  still reach the shared encoder (and its EDI prior) and the receiver decodes them from the shared
  stream for the U-Net.

Warm starts copy every tensor whose shape fits (``given`` re-learns its image head, whose latent
grew, and drops the event head), so neither variant is trained from scratch.  Each is evaluated
on the default evaluation set (PSNR against the sharp frame, decoded-event NMSE, power per
stream; ``benchmarks/evjscc_events.py``) at 0, 10 and 20 dB.

    python benchmarks/evjscc_event_share.py [--steps 2000] [--out results/ablation]

Checkpoints go to ``ckpt/event-share/`` (resumed if interrupted, skipped when complete); the
table to ``<out>/evjscc_event_share.csv``, learning curves to ``<out>/event-share/``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "semcom" / "zoo" / "checkpoints" / "ev-jscc-cbr1-48-adaptive.ckpt"
VARIANTS = {"trained": "[0.5,0.25,0.25]", "given": "[0.75,0.25,0.0]"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--recipe", default="cpu", help="a recipe of scripts/train_zoo.py (tiny: to test this script)")
    ap.add_argument("--snr", default="0,10,20")
    ap.add_argument("--limit", type=int, default=32)
    ap.add_argument("--ckpt-dir", type=Path, default=ROOT / "ckpt" / "event-share")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "ablation")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "scripts"))
    from evjscc_events import measure
    from train_zoo import train_once

    from semcom.bench.results import write_table

    args.ckpt_dir.mkdir(parents=True, exist_ok=True)
    curves = args.out / "event-share"
    curves.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, split in VARIANTS.items():
        ck = train_once("ev-jscc", args.ckpt_dir / f"{name}.ckpt", steps=args.steps, recipe=args.recipe,
                        args=["--cbr", "1/48", "--snr-range", "0:20", "--warm-start", str(SHIPPED),
                              "--codec-param", f"split={split}"])
        for ext in (".csv", ".png"):
            if ck.with_suffix(ext).exists():
                shutil.copyfile(ck.with_suffix(ext), curves / f"{name}{ext}")
        for row in measure(str(ck), snrs=[float(s) for s in args.snr.split(",")], limit=args.limit, cbr=1 / 48):
            rows.append({"variant": name, "split": split, "steps": args.steps, **row, "checkpoint": ck.name})
    table = args.out / "evjscc_event_share.csv"
    write_table(table, rows)
    print(f"wrote {table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
