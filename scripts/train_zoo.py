"""Train every shipped checkpoint, several jobs at once (for a GPU machine; works on a CPU too).

Usage:
    python scripts/train_zoo.py --out ckpt --device cuda [--steps-scale 1.0] [--only NAME,...] [--parallel 6]

Each job is one ``semcom train`` command; logs go to ``<out>/<job>.log``.  A job whose checkpoint
already holds its final step is skipped (training resumes otherwise).  Afterwards publish the
checkpoints into the zoo with ``python -m semcom.zoo.publish`` (see docs/training.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

# (job name, link, cbr, SNR arguments, steps, extra arguments)
JOBS = [
    ("deepjscc-1-48-adaptive", "deepjscc", "1/48", ["--snr-range", "0:20"], 6000, []),
    ("deepjscc-1-96-adaptive", "deepjscc", "1/96", ["--snr-range", "0:20"], 6000, []),
    ("deepjscc-1-48-snr10", "deepjscc", "1/48", ["--snr", "10"], 6000, []),
    ("deepjscc-deblur-1-48-adaptive", "deepjscc-deblur", "1/48", ["--snr-range", "0:20"], 6000, []),
    ("deepjscc-deblur-1-96-adaptive", "deepjscc-deblur", "1/96", ["--snr-range", "0:20"], 6000, []),
    ("ev-jscc-1-48-adaptive", "ev-jscc", "1/48", ["--snr-range", "0:20"], 6000, ["--schedule", "ev-jscc"]),
    ("ev-jscc-1-96-adaptive", "ev-jscc", "1/96", ["--snr-range", "0:20"], 6000, ["--schedule", "ev-jscc"]),
    ("ev-jscc-1-48-snr10", "ev-jscc", "1/48", ["--snr", "10"], 6000, ["--schedule", "ev-jscc"]),
    ("ev-jscc-noshared-1-48-adaptive", "ev-jscc-noshared", "1/48", ["--snr-range", "0:20"], 6000,
     ["--schedule", "ev-jscc"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="ckpt")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps-scale", type=float, default=1.0)
    ap.add_argument("--only", default=None)
    ap.add_argument("--parallel", type=int, default=6)
    ap.add_argument("--n-train", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--extra", default="", help="extra arguments for every semcom train command")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    queue = [j for j in JOBS if only is None or j[0] in only]
    running: list[tuple[str, subprocess.Popen, float]] = []
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    status = 0
    while queue or running:
        while queue and len(running) < args.parallel:
            name, link, cbr, snr, steps, extra = queue.pop(0)
            cmd = [sys.executable, "-m", "semcom.cli", "train", "--link", link, "--cbr", cbr, *snr,
                   "--steps", str(max(10, int(steps * args.steps_scale))), "--out", str(out / f"{name}.ckpt"),
                   "--device", args.device, "--n-train", str(args.n_train), "--batch-size", str(args.batch_size),
                   "-q", *extra, *args.extra.split()]
            log = open(out / f"{name}.log", "w")
            log.write(" ".join(cmd) + "\n")
            log.flush()
            running.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), time.time()))
            print(f"started {name}", flush=True)
        time.sleep(2)
        for item in list(running):
            name, proc, t0 = item
            if proc.poll() is not None:
                running.remove(item)
                print(f"finished {name}: exit {proc.returncode} after {time.time() - t0:.0f} s", flush=True)
                status = status or proc.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
