"""Wall time of the whole paper reproduction (``semcom reproduce --all``) and of ``make demo``'s command.

Runs each command from scratch into a temporary folder (no resumed points) and prints the wall
time, start-up included.  Targets (issues 6 and 7): the demo under 60 s and the reproduction under
15 minutes on 2 cores.

    python benchmarks/reproduce_time.py [--skip-reproduce] [--skip-demo] [--out DIR]

``--out DIR`` keeps the reproduction's outputs in DIR (which must hold no earlier sweep, so that
nothing is resumed), e.g. to regenerate ``results/reproduce`` and time it in one go.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-reproduce", action="store_true")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--from-results", default=None, metavar="DIR",
                    help="instead of running: add up the per-point evaluation seconds recorded in DIR's sweep CSVs")
    ap.add_argument("--out", default=None, metavar="DIR",
                    help="write the reproduction here (must hold no earlier sweep) instead of a temporary folder")
    args = ap.parse_args()
    if args.out and any(Path(args.out).glob("*/*.csv")):
        print(f"error: {args.out} already holds sweep results (they would be resumed, not timed); "
              "remove them or choose another --out", file=sys.stderr)
        return 2
    if args.from_results:
        import csv

        total = 0.0
        for path in sorted(Path(args.from_results).glob("*/*.csv")):
            if path.name.endswith("_configs.csv"):
                continue
            secs = sum(float(r["seconds"]) for r in csv.DictReader(open(path)) if r.get("seconds"))
            total += secs
            print(f"{path.parent.name}/{path.name}: {secs:.0f} s")
        print(f"evaluation time recorded in {args.from_results}: {total:.0f} s = {total / 60:.1f} min "
              "(as measured when each point ran, sharing the cores with whatever else ran then)")
        return 0
    semcom = str(Path(sys.executable).with_name("semcom"))
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_demo:
            s = _timed([semcom, "run", "--link", "ev-jscc", "--snr", "0:20", "--cbr", "1/48", "--out",
                        f"{tmp}/demo", "-q"])
            print(f"demo (semcom run --link ev-jscc --snr 0:20 --cbr 1/48): {s:.1f} s wall (target < 60 s)")
        if not args.skip_reproduce:
            s = _timed([semcom, "reproduce", "--all", "--out", args.out or f"{tmp}/reproduce", "-q"])
            print(f"semcom reproduce --all: {s:.1f} s wall = {s / 60:.1f} min (target < 15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
