"""Wall time of the whole paper reproduction (``semcom reproduce --all``) and of ``make demo``'s command.

Runs each command from scratch into a temporary folder (no resumed points) and prints the wall
time, start-up included.  Targets (issues 6 and 7): the demo under 60 s and the reproduction under
15 minutes on 2 cores.

    python benchmarks/reproduce_time.py [--skip-reproduce] [--skip-demo]
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
    args = ap.parse_args()
    semcom = str(Path(sys.executable).with_name("semcom"))
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_demo:
            s = _timed([semcom, "run", "--link", "ev-jscc", "--snr", "0:20", "--cbr", "1/48", "--out",
                        f"{tmp}/demo", "-q"])
            print(f"demo (semcom run --link ev-jscc --snr 0:20 --cbr 1/48): {s:.1f} s wall (target < 60 s)")
        if not args.skip_reproduce:
            s = _timed([semcom, "reproduce", "--all", "--out", f"{tmp}/reproduce", "-q"])
            print(f"semcom reproduce --all: {s:.1f} s wall = {s / 60:.1f} min (target < 15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
