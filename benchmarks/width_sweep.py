"""Which widths?  Short from-scratch trainings of DeepJSCC and EV-JSCC at several widths, equal steps.

Each variant trains from scratch with the zoo's ``cpu`` recipe (``scripts/train_zoo.py``: photos +
dead leaves, random 128 crops, batch 16; EMA 0.99 instead of 0.999, for short runs) for ``--steps`` steps, SNR-adaptive over 0..20 dB at
CBR 1/48, and is evaluated at ``--snr`` dB on the first ``--limit`` frames of the default
evaluation set (PSNR against the sharp frame).  Short runs rank the widths at equal steps and
show what a wider network costs per step on this machine; they do not give converged numbers
(the shipped checkpoints train 5-10 times longer).

    python benchmarks/width_sweep.py [--steps 1000] [--only deepjscc-w32,...] [--out results/ablation]

Checkpoints go to ``ckpt/width-sweep/`` (resumed, skipped when complete); one row per variant in
``<out>/width_sweep.csv``: parameters, seconds per step, validation and evaluation PSNR.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name, link, codec parameters (the shipped widths: DeepJSCC 64, EV-JSCC 32 with a U-Net of 24)
VARIANTS = [
    ("deepjscc-w32", "deepjscc", ["width=32"]),
    ("deepjscc-w64", "deepjscc", ["width=64"]),
    ("deepjscc-w96", "deepjscc", ["width=96"]),
    ("ev-jscc-w32", "ev-jscc", ["width=32"]),
    ("ev-jscc-w48", "ev-jscc", ["width=48"]),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--recipe", default="cpu", help="a recipe of scripts/train_zoo.py (tiny: to test this script)")
    ap.add_argument("--snr", default="10")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--only", default=None, help="comma-separated variant names")
    ap.add_argument("--ckpt-dir", type=Path, default=ROOT / "ckpt" / "width-sweep")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "ablation")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_zoo import train_once

    from semcom.bench.results import write_table
    from semcom.zoo import build_codec
    from semcom.zoo.store import read_meta

    names = [v[0] for v in VARIANTS]
    only = set(args.only.split(",")) if args.only else set(names)
    if only - set(names):
        print(f"unknown variant(s) {sorted(only - set(names))} (known: {', '.join(names)})", file=sys.stderr)
        return 2
    args.ckpt_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, link, params in VARIANTS:
        if name not in only:
            continue
        cp = [a for p in params for a in ("--codec-param", p)]
        # EMA 0.99 (the last --ema wins): the average spans ~100 steps whatever --steps is (the
        # recipe's 0.999 ramps up as (1 + n) / (10 + n) and is still ~0.99 at step 1000)
        ck = train_once(link, args.ckpt_dir / f"{name}.ckpt", steps=args.steps, recipe=args.recipe,
                        args=["--cbr", "1/48", "--snr-range", "0:20", *cp, "--ema", "0.99"])
        meta = read_meta(ck)
        run_dir = args.out / "width-sweep" / name
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "semcom.cli", "run", "--link", link, "--cbr", "1/48", "--snr", args.snr,
                        "--checkpoint", str(ck), "--limit", str(args.limit), "--metrics", "psnr", "--out",
                        str(run_dir), "--no-plot", "-q"], check=True)
        made = sorted(run_dir.glob("*.csv"), key=lambda p: p.stat().st_mtime)
        with open(made[-1], newline="") as f:
            evals = {float(r["snr_db"]): float(r["psnr"]) for r in csv.DictReader(f)}
        codec = build_codec(meta["codec"], cbr=1 / 48, checkpoint=str(ck))
        tr = meta.get("training", {})
        seconds = float(tr.get("seconds") or 0.0)
        rows.append({"variant": name, "link": link, "params": " ".join(params),
                     "parameters": sum(p.numel() for p in codec.parameters()), "steps": args.steps,
                     "seconds_per_step": round(seconds / max(1, args.steps), 3),
                     "val_psnr": None if tr.get("val_psnr") is None else round(float(tr["val_psnr"]), 3),
                     **{f"psnr_{s:g}dB": round(v, 3) for s, v in sorted(evals.items())},
                     "eval_seconds": round(time.perf_counter() - t0, 1)})
        print(rows[-1], flush=True)
    table = args.out / "width_sweep.csv"
    write_table(table, rows)
    print(f"wrote {table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
