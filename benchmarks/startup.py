"""Start-up time of the command line: ``semcom --help``, ``semcom links``, ``semcom run --help``.

Each command runs ``--repeats`` times as a fresh process (the console script of this
environment); the median wall time is reported.  Target (issue 16): at most 1 s.

    python benchmarks/startup.py [--repeats 5] [--csv results/startup/startup.csv]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["links"], ["run", "--help"], ["reproduce", "--list"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--csv", default=None, help="also write the table here")
    args = ap.parse_args()
    exe = Path(sys.executable).with_name("semcom")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "semcom.cli"]
    rows = []
    for argv in COMMANDS:
        times = []
        for _ in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            subprocess.run(base + argv, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        rows.append({"command": "semcom " + " ".join(argv), "median_s": round(statistics.median(times), 3),
                     "max_s": round(max(times), 3), "repeats": len(times)})
        print(f"{rows[-1]['command']:<28} median {rows[-1]['median_s']:.3f} s  max {rows[-1]['max_s']:.3f} s")
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
