"""Train every shipped checkpoint with the recipes used for the zoo, several jobs at once.

Usage:
    python scripts/train_zoo.py --out ckpt [--device cuda] [--steps-scale 1.0] [--only NAME,...] [--parallel 2]

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

# (job name, link, cbr, SNR arguments, steps, extra arguments, job it waits for) -- the recipes of the
# shipped checkpoints (docs/training.md).  "{out}" stands for the output folder.
JOBS = [
    ("deepjscc-1-48-adaptive", "deepjscc", "1/48", ["--snr-range", "0:20"], 3000, ["--lr", "8e-4"], None),
    ("deepjscc-1-96-adaptive", "deepjscc", "1/96", ["--snr-range", "0:20"], 3000, ["--lr", "8e-4"], None),
    ("deepjscc-1-48-adaptive-b", "deepjscc", "1/48", ["--snr-range", "0:20"], 5000,
     ["--lr", "5e-4", "--init", "{out}/deepjscc-1-48-adaptive.ckpt"], "deepjscc-1-48-adaptive"),
    ("deepjscc-1-96-adaptive-b", "deepjscc", "1/96", ["--snr-range", "0:20"], 4000,
     ["--lr", "5e-4", "--init", "{out}/deepjscc-1-96-adaptive.ckpt"], "deepjscc-1-96-adaptive"),
    ("deepjscc-deblur-1-48-adaptive", "deepjscc-deblur", "1/48", ["--snr-range", "0:20"], 3000,
     ["--lr", "5e-4", "--schedule", "deblur-then-all", "--warm-start", "{out}/deepjscc-1-48-adaptive-b.ckpt"],
     "deepjscc-1-48-adaptive-b"),
    ("deepjscc-deblur-1-96-adaptive", "deepjscc-deblur", "1/96", ["--snr-range", "0:20"], 3000,
     ["--lr", "5e-4", "--schedule", "deblur-then-all", "--warm-start", "{out}/deepjscc-1-96-adaptive-b.ckpt"],
     "deepjscc-1-96-adaptive-b"),
    ("deepjscc-1-48-snr10", "deepjscc", "1/48", ["--snr", "10"], 8000, ["--lr", "8e-4"], None),
    ("ev-jscc-1-48-adaptive", "ev-jscc", "1/48", ["--snr-range", "0:20"], 6000, ["--lr", "8e-4"], None),
    ("ev-jscc-1-96-adaptive", "ev-jscc", "1/96", ["--snr-range", "0:20"], 6000, ["--lr", "8e-4"], None),
    ("ev-jscc-1-48-snr10", "ev-jscc", "1/48", ["--snr", "10"], 3000, ["--lr", "8e-4"], None),
    ("sp-jscc-1-48-adaptive", "sp-jscc", "1/48", ["--snr-range", "0:20"], 3000, ["--lr", "8e-4"], None),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="ckpt")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps-scale", type=float, default=1.0)
    ap.add_argument("--only", default=None)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--extra", default="", help="extra arguments for every semcom train command")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    queue = [j for j in JOBS if only is None or j[0] in only]
    running: list[tuple[str, subprocess.Popen, float]] = []
    finished: set[str] = set()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    status = 0
    while queue or running:
        while queue and len(running) < args.parallel:
            ready = [j for j in queue if j[6] is None or j[6] in finished
                     or (j[6] not in {q[0] for q in queue} and not any(r[0] == j[6] for r in running)
                         and (out / f"{j[6]}.ckpt").exists())]
            if not ready:
                if not running:
                    print(f"cannot start {[j[0] for j in queue]}: their prerequisites have no checkpoint in {out}",
                          file=sys.stderr)
                    return 2
                break
            job = ready[0]
            queue.remove(job)
            name, link, cbr, snr, steps, extra, _ = job
            extra = [a.replace("{out}", str(out)) for a in extra]
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
                finished.add(name)
                print(f"finished {name}: exit {proc.returncode} after {time.time() - t0:.0f} s", flush=True)
                status = status or proc.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
