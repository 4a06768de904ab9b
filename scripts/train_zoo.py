"""Train every shipped checkpoint of the zoo into one folder: checkpoints, logs, learning curves, summary.

Usage:
    python scripts/train_zoo.py --out ckpt/zoo [--recipe cpu|gpu|tiny] [--only NAME,...] [--parallel N]
    torchrun is not needed: on several GPUs use --nproc N (each job runs under torchrun with N processes)

Recipes (the common `semcom train` arguments; each job adds its link, CBR, SNR mode and steps):

* ``cpu``: the photos corpus + dead leaves (``scripts/install_photos.py`` first), 2112 samples of
  160 x 160 held on the device (64 of them for validation), random 128 crops, batch 16, EMA 0.999.
* ``gpu``: ``--device cuda``, fresh samples simulated on the GPU every step (dead leaves + the
  photos corpus), batch 128, EMA 0.999; jobs run ``--parallel`` at a time on the one GPU (their
  steps are sized for the whole zoo to take about 10 minutes on one H100/H200-class GPU: an
  estimate, not measured here).
* ``tiny``: a few steps at 32 x 32 with narrow networks, to test the script (about a minute on CPU).

Each job is one ``semcom train`` command; its log is ``<out>/<job>.log`` and the trainer writes
``<out>/<job>.csv`` (metrics, validation PSNR) and ``<out>/<job>.png`` (learning curve).  A job
whose checkpoint holds its final step is skipped; an interrupted one resumes; a job that waits for
another starts only once that one has exited cleanly with its final step.  Job names are the zoo names
the checkpoints are published under.  At the end
``<out>/summary.csv`` lists, per checkpoint: steps, samples seen, device, processes, wall time,
last validation PSNR.  Publish into the zoo with ``python -m semcom.zoo.publish`` (docs/training.md).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

#: (job name, link, cbr, SNR arguments, steps, extra arguments, job it waits for); "{out}" is the output folder.
#: Two checkpoints train from scratch; the others start from one of them: DeepJSCC-Deblur from DeepJSCC
#: (its JSCC, then the U-Net, then all), the same codec at another CBR or SNR mode, SP-JSCC from EV-JSCC
#: (whose tensors all fit).  The shipped zoo's exact history (steps per run) is in docs/training.md.
JOBS = [
    ("deepjscc-cbr1-48-adaptive", "deepjscc", "1/48", ["--snr-range", "0:20"], 10000, [], None),
    ("ev-jscc-cbr1-48-adaptive", "ev-jscc", "1/48", ["--snr-range", "0:20"], 16000, [], None),
    ("deepjscc-deblur-cbr1-48-adaptive", "deepjscc-deblur", "1/48", ["--snr-range", "0:20"], 8000,
     ["--schedule", "deblur-then-all", "--warm-start", "{out}/deepjscc-cbr1-48-adaptive.ckpt"],
     "deepjscc-cbr1-48-adaptive"),
    ("deepjscc-cbr1-96-adaptive", "deepjscc", "1/96", ["--snr-range", "0:20"], 2500,
     ["--warm-start", "{out}/deepjscc-cbr1-48-adaptive.ckpt"], "deepjscc-cbr1-48-adaptive"),
    ("deepjscc-cbr1-48-snr10", "deepjscc", "1/48", ["--snr", "10"], 2000,
     ["--warm-start", "{out}/deepjscc-cbr1-48-adaptive.ckpt"], "deepjscc-cbr1-48-adaptive"),
    ("deepjscc-deblur-cbr1-96-adaptive", "deepjscc-deblur", "1/96", ["--snr-range", "0:20"], 3000,
     ["--schedule", "single", "--warm-start", "{out}/deepjscc-deblur-cbr1-48-adaptive.ckpt"],
     "deepjscc-deblur-cbr1-48-adaptive"),
    ("ev-jscc-cbr1-96-adaptive", "ev-jscc", "1/96", ["--snr-range", "0:20"], 6000,
     ["--warm-start", "{out}/ev-jscc-cbr1-48-adaptive.ckpt"], "ev-jscc-cbr1-48-adaptive"),
    ("ev-jscc-cbr1-48-snr10", "ev-jscc", "1/48", ["--snr", "10"], 3000,
     ["--warm-start", "{out}/ev-jscc-cbr1-48-adaptive.ckpt"], "ev-jscc-cbr1-48-adaptive"),
    ("sp-jscc-cbr1-48-adaptive", "sp-jscc", "1/48", ["--snr-range", "0:20"], 2000,
     ["--warm-start", "{out}/ev-jscc-cbr1-48-adaptive.ckpt"], "ev-jscc-cbr1-48-adaptive"),
    # EDI at the sensor, DeepJSCC on its outputs (its own weights: it sees deblurred frames)
    ("edi-tx-deepjscc-cbr1-48-adaptive", "edi-tx-deepjscc", "1/48", ["--snr-range", "0:20"], 3000,
     ["--warm-start", "{out}/deepjscc-cbr1-48-adaptive.ckpt"], "deepjscc-cbr1-48-adaptive"),
    ("edi-tx-deepjscc-cbr1-96-adaptive", "edi-tx-deepjscc", "1/96", ["--snr-range", "0:20"], 2500,
     ["--warm-start", "{out}/edi-tx-deepjscc-cbr1-48-adaptive.ckpt"], "edi-tx-deepjscc-cbr1-48-adaptive"),
]

COMMON = {
    "cpu": ["--dataset", "photos", "--size", "160", "--crop", "128", "--n-train", "2112", "--val", "64",
            "--batch", "16", "--ema", "0.999", "--log-every", "100", "--val-every", "500", "--workers", "2"],
    "gpu": ["--device", "cuda", "--dataset", "photos", "--fresh-data", "--size", "128", "--val", "128",
            "--batch", "128", "--ema", "0.999", "--log-every", "50", "--val-every", "250"],
    "tiny": ["--dataset", "synth-blur", "--size", "32", "--n-train", "10", "--val", "2", "--batch", "2",
             "--log-every", "1", "--ema", "0.5", "--dataset-param", "cache=false"],
}
#: steps of each job are multiplied by this per recipe
STEP_SCALE = {"cpu": 1.0, "gpu": 0.5, "tiny": 0.0}
#: narrow networks for the tiny recipe, per link
TINY_WIDTHS = {"deepjscc": ["width=8"], "edi-tx-deepjscc": ["width=8"], "deepjscc-deblur": ["width=8", "unet_width=8"],
               "ev-jscc": ["width=8", "unet_width=8"], "sp-jscc": ["width=8", "unet_width=8"]}


def command(job: tuple, *, out: Path, recipe: str, nproc: int, extra: list[str]) -> list[str]:
    """The ``semcom train`` command line of one job."""
    name, link, cbr, snr, steps, args, _ = job
    common = list(COMMON[recipe])
    if link != "sp-jscc" and recipe == "cpu":
        common += ["--dataset-param", "spikes=false"]  # no spike camera needed: faster synthesis
    widths = [a for w in TINY_WIDTHS[link] for a in ("--codec-param", w)] if recipe == "tiny" else []
    n_steps = steps_of(job, recipe)
    train_args = ["--link", link, "--cbr", cbr, *snr, "--steps", str(n_steps), "--out", str(out / f"{name}.ckpt"),
                  "-q", *common, *widths, *[a.replace("{out}", str(out)) for a in args], *extra]
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                "-m", "semcom.train", *train_args]
    return [sys.executable, "-m", "semcom.train", *train_args]


def steps_of(job: tuple, recipe: str) -> int:
    return max(3, int(job[4] * STEP_SCALE[recipe]))


def complete(out: Path, job: tuple, recipe: str) -> bool:
    """Whether the job's checkpoint holds its final step (a finished job is not started again)."""
    from semcom.errors import SemcomError
    from semcom.zoo.store import read_meta

    path = out / f"{job[0]}.ckpt"
    try:
        return path.exists() and int(read_meta(path).get("step", -1)) == steps_of(job, recipe)
    except (SemcomError, ValueError, OSError):
        return False


def train_once(link: str, ckpt: Path, *, steps: int, recipe: str = "cpu", args: list[str] = (),
               env: dict[str, str] | None = None) -> Path:
    """Train ``link`` into ``ckpt`` with a recipe's common arguments plus ``args`` (CBR, SNR, warm start,
    codec parameters), unless ``ckpt`` already holds its final step; an interrupted run resumes.
    For the benchmarks that train variants (event share, width, blurry target)."""
    from semcom.errors import SemcomError
    from semcom.zoo.store import read_meta

    try:
        if ckpt.exists() and int(read_meta(ckpt).get("step", -1)) == steps:
            return ckpt
    except (SemcomError, ValueError, OSError):
        pass
    extra = ["--dataset-param", "spikes=false"] if recipe == "cpu" else []
    subprocess.run([sys.executable, "-m", "semcom.train", "--link", link, "--steps", str(steps), "--out", str(ckpt),
                    "--checkpoint-every", "500", "-q", *COMMON[recipe], *extra, *args], check=True, env=env)
    return ckpt


def summarize(out: Path, names: list[str]) -> Path:
    """``<out>/summary.csv``: how each checkpoint was made (from its metadata)."""
    from semcom.zoo.store import read_meta

    rows = []
    for name in names:
        path = out / f"{name}.ckpt"
        if not path.exists():
            continue
        meta = read_meta(path)
        tr = meta.get("training", {})
        rows.append({"job": name, "link": meta.get("link"), "cbr": meta.get("cbr_label"),
                     "snr_mode": meta.get("snr_mode"), "steps": meta.get("step"), "samples": tr.get("samples"),
                     "batch": tr.get("batch_size"), "device": tr.get("device"), "processes": tr.get("world_size"),
                     "fresh_data": tr.get("fresh_data"), "seconds": tr.get("seconds"),
                     "val_psnr": None if tr.get("val_psnr") is None else round(float(tr["val_psnr"]), 3)})
    summary = out / "summary.csv"
    with open(summary, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["job"])
        w.writeheader()
        w.writerows(rows)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="ckpt/zoo")
    ap.add_argument("--recipe", choices=sorted(COMMON), default="cpu")
    ap.add_argument("--device", default=None, help="(kept for compatibility: --device cuda means --recipe gpu)")
    ap.add_argument("--only", default=None, help="comma-separated job names")
    ap.add_argument("--parallel", type=int, default=None, help="jobs at once (default: 4 on gpu, else 1)")
    ap.add_argument("--nproc", type=int, default=1, help="processes (GPUs) per job, through torchrun")
    ap.add_argument("--extra", default="", help="extra arguments for every semcom train command")
    args = ap.parse_args(argv)
    recipe = "gpu" if args.device and args.device.startswith("cuda") else args.recipe
    parallel = args.parallel or (4 if recipe == "gpu" else 1)
    names = [j[0] for j in JOBS]
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(names):
        print(f"unknown job(s) {sorted(only - set(names))} (known: {', '.join(names)})", file=sys.stderr)
        return 2
    if parallel < 1 or args.nproc < 1:
        print("--parallel and --nproc must be at least 1", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    queue = [j for j in JOBS if only is None or j[0] in only]
    running: list[tuple[str, subprocess.Popen, float, object]] = []
    finished: set[str] = set()  # jobs whose checkpoint holds their final step
    for job in list(queue):
        if complete(out, job, recipe):
            queue.remove(job)
            finished.add(job[0])
            print(f"{job[0]}: already complete", flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    status = 0
    while queue or running:
        while queue and len(running) < parallel:
            queued = {q[0] for q in queue}
            prereq = {j[0]: j for j in JOBS}
            ready = [j for j in queue if j[6] is None or j[6] in finished
                     or (j[6] not in queued and not any(r[0] == j[6] for r in running)
                         and complete(out, prereq[j[6]], recipe))]
            if not ready:
                if not running:
                    print(f"cannot start {[j[0] for j in queue]}: their prerequisites have no complete checkpoint "
                          f"in {out}", file=sys.stderr)
                    return status or 2
                break
            job = ready[0]
            queue.remove(job)
            cmd = command(job, out=out, recipe=recipe, nproc=args.nproc, extra=args.extra.split())
            log = open(out / f"{job[0]}.log", "a")
            log.write(" ".join(cmd) + "\n")
            log.flush()
            running.append((job[0], subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), time.time(),
                            log))
            print(f"started {job[0]}", flush=True)
        time.sleep(0.5)
        for item in list(running):
            name, proc, t0, log = item
            if proc.poll() is not None:
                running.remove(item)
                log.close()
                job = next(j for j in JOBS if j[0] == name)
                if proc.returncode == 0 and complete(out, job, recipe):  # only then may dependants start
                    finished.add(name)
                print(f"finished {name}: exit {proc.returncode} after {time.time() - t0:.0f} s", flush=True)
                status = status or proc.returncode
    print(f"summary: {summarize(out, names)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
