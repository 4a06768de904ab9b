"""BLER of the 5G LDPC + QAM configurations on AWGN, and their gap to capacity.

For each (modulation, code rate) of the ``bpg-ldpc`` table, with the block layout the link
uses for a ``--size`` frame at ``--cbr``, this scans the SNR upwards from the Shannon
threshold of the configuration's spectral efficiency ``eta = m * r`` (``10 log10(2^eta - 1)``,
complex AWGN, Gaussian inputs) in ``--step`` dB steps, measures the block error rate (a block
is in error when its CRC fails), and stops once the BLER is at most the target (1e-2).  The
SNR at the target is interpolated linearly in log10(BLER) between the two points that
bracket it (a point with no error counts as 0.5 errors).  Printed as a table and written to
``results/ldpc-bler/ldpc_bler.csv`` (and the BLER curves ``ldpc_bler_curves.csv`` beside it).

Run:  .venv/bin/python benchmarks/ldpc_bler.py            (about 4 minutes on one CPU core)
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from semcom.codecs.digital.ldpc import BlockCoder, BlockPlan, parse_code_rate  # noqa: E402
from semcom.codecs.digital.qam import Modem, bits_per_symbol  # noqa: E402
from semcom.conventions import channel_uses_budget, parse_cbr  # noqa: E402


def shannon_snr_db(eta: float) -> float:
    return 10 * math.log10(2.0 ** eta - 1.0)


def measure(coder: BlockCoder, modem: Modem, snr_db: float, *, max_blocks: int, batch: int,
            enough_errors: int, gen: torch.Generator) -> tuple[int, int]:
    """(block errors, blocks) at one SNR, stopping early once ``enough_errors`` are seen."""
    plan = coder.plan
    nv = 10.0 ** (-snr_db / 10.0)
    errors = blocks = 0
    frames = max(1, batch // plan.num_blocks)
    while blocks < max_blocks and errors < enough_errors:
        u = torch.randint(0, 2, (frames, plan.payload_bits), generator=gen).float()
        x = modem.map(coder.encode(u))
        noise = torch.complex(torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen))
        y = x + noise * math.sqrt(nv / 2)
        _, ok = coder.decode(modem.demap(y, torch.full(y.shape, nv)))
        errors += int((~ok).sum())
        blocks += ok.numel()
    return errors, blocks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128, help="frame side in pixels (sets the block layout)")
    ap.add_argument("--cbr", default="1/48")
    ap.add_argument("--modulations", default="qpsk,16qam,64qam,256qam")
    ap.add_argument("--rates", default="1/3,1/2,2/3,3/4,5/6")
    ap.add_argument("--target", type=float, default=1e-2, help="BLER target")
    ap.add_argument("--step", type=float, default=0.5, help="SNR step, dB")
    ap.add_argument("--max-blocks", type=int, default=128, help="blocks per SNR point at most")
    ap.add_argument("--batch", type=int, default=32, help="blocks per decoder call")
    ap.add_argument("--enough-errors", type=int, default=24, help="stop a point after this many block errors")
    ap.add_argument("--num-iter", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/ldpc-bler/ldpc_bler.csv")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    uses = channel_uses_budget(parse_cbr(args.cbr), args.size, args.size)
    gen = torch.Generator().manual_seed(args.seed)
    rows, curves = [], []
    t0 = time.perf_counter()
    print(f"# {args.size}x{args.size} frame, CBR {args.cbr}: {uses} channel uses; BP {args.num_iter} iterations; "
          f"BLER target {args.target:g}, <= {args.max_blocks} blocks per point")
    print(f"{'config':>11} {'blocks x n':>11} {'eta':>5} {'shannon dB':>10} {'snr@bler dB':>11} {'gap dB':>7} {'time s':>6}")
    for mod in args.modulations.split(","):
        m = bits_per_symbol(mod)
        modem = Modem(modulation=mod)
        for rate_text in args.rates.split(","):
            rate = parse_code_rate(rate_text)
            plan = BlockPlan.for_budget(channel_uses=uses, num_bits_per_symbol=m, code_rate=rate)
            coder = BlockCoder(plan=plan, num_iter=args.num_iter, early_stop=False)   # fixed iterations, as documented
            eta = m * float(rate)
            start = math.floor(shannon_snr_db(eta) / args.step) * args.step
            t = time.perf_counter()
            points = []
            snr = start
            while True:
                err, n = measure(coder, modem, snr, max_blocks=args.max_blocks, batch=args.batch,
                                 enough_errors=args.enough_errors, gen=gen)
                bler = err / n
                points.append((snr, err, n, bler))
                curves.append({"config": f"{mod}-{rate_text}", "snr_db": snr, "block_errors": err, "blocks": n,
                               "bler": bler})
                if bler <= args.target or snr > start + 12:
                    break
                snr = round(snr + args.step, 6)
            # interpolate log10(BLER) between the bracketing points
            thr = float("nan")
            if len(points) >= 2 and points[-1][3] <= args.target:
                (s0, e0, n0, _), (s1, e1, n1, _) = points[-2], points[-1]
                l0 = math.log10(max(e0, 0.5) / n0)
                l1 = math.log10(max(e1, 0.5) / n1)
                lt = math.log10(args.target)
                thr = s1 if l0 == l1 else s0 + (l0 - lt) / (l0 - l1) * (s1 - s0)
                thr = min(max(thr, s0), s1)
            elif len(points) == 1 and points[0][3] <= args.target:
                thr = points[0][0]
            shannon = shannon_snr_db(eta)
            row = {"config": f"{mod}-{rate_text}", "num_bits_per_symbol": m, "code_rate": rate_text,
                   "num_blocks": plan.num_blocks, "n": plan.n, "k": plan.k, "spectral_efficiency": round(eta, 4),
                   "shannon_snr_db": round(shannon, 3), "snr_at_target_db": round(thr, 3),
                   "gap_db": round(thr - shannon, 3), "points": len(points),
                   "blocks_simulated": sum(p[2] for p in points), "seconds": round(time.perf_counter() - t, 1)}
            rows.append(row)
            print(f"{row['config']:>11} {plan.num_blocks:>3} x {plan.n:<5} {eta:5.2f} {shannon:10.2f} "
                  f"{thr:11.2f} {thr - shannon:7.2f} {row['seconds']:6.1f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    curve_path = out.with_name(out.stem + "_curves.csv")
    with curve_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(curves[0]))
        w.writeheader()
        w.writerows(curves)
    gaps = [r["gap_db"] for r in rows if not math.isnan(r["gap_db"])]
    print(f"# gap to capacity: min {min(gaps):.2f} dB, max {max(gaps):.2f} dB, mean {sum(gaps) / len(gaps):.2f} dB; "
          f"total {time.perf_counter() - t0:.0f} s; wrote {out} and {curve_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
