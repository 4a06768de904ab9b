"""Train every shipped checkpoint of the zoo into one folder: checkpoints, logs, learning curves, summary.

Usage:
    python scripts/train_zoo.py --out ckpt/zoo [--recipe cpu|gpu|tiny] [--only NAME,...] [--parallel N]
    torchrun is not needed: on several GPUs use --nproc N (each job runs under torchrun with N processes)

Recipes (the common `semcom train` arguments; each job adds its link, CBR, SNR mode and steps):

* ``cpu``: the photos corpus + dead leaves (``semcom data photos`` first), 2112 samples of
  160 x 160 held on the device (64 of them for validation), random 128 crops, batch 16, EMA 0.999.
* ``gpu``: ``--device cuda``, continues every shipped checkpoint (``--init`` the zoo's file, same
  architecture, ``single`` schedule, a quarter of the cpu recipe's peak learning rate) on fresh data
  simulated on the GPU through a pool (2048 samples of 160 x 160, simulated anew every 200 steps, random
  128 crops), batch 128, EMA 0.999; nothing waits for another job, so all can share one GPU at once.
  Measured on an H200 (docs/training.md): a from-scratch zoo does not fit a 10-minute lease (nine jobs
  at once got about 400 steps each), and simulating every batch anew cost three DeepJSCC steps.
  With ``--budget SECONDS`` the jobs first run a few steps together (``--probe-steps``, into
  ``<out>/probe``) to measure their seconds per step under that load; each job's step count is then
  set so that all of them finish within the budget (``<out>/plan.json``; a rerun resumes with the same
  plan), and a job still running at 1.1x the budget is stopped with its checkpoint saved.
* ``tiny``: a few steps at 32 x 32 with narrow networks, to test the script (about a minute on CPU).

``--publish DIR`` converts every checkpoint to a shipped one (fp16) into ``DIR/checkpoints`` with its
own ``DIR/manifest.json``, for bringing a remote machine's zoo back in a few megabytes.

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
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from semcom.experiments.shared import RECIPES

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

#: the common `semcom train` arguments of each recipe (kept with the experiments that train with them too)
COMMON = RECIPES
#: steps of each job are multiplied by this per recipe
STEP_SCALE = {"cpu": 1.0, "gpu": 0.5, "tiny": 0.0}
#: narrow networks for the tiny recipe, per link
TINY_WIDTHS = {"deepjscc": ["width=8"], "edi-tx-deepjscc": ["width=8"], "deepjscc-deblur": ["width=8", "unet_width=8"],
               "ev-jscc": ["width=8", "unet_width=8"], "sp-jscc": ["width=8", "unet_width=8"]}
#: the shipped checkpoints the gpu recipe continues
ZOO = Path(__file__).resolve().parents[1] / "semcom" / "zoo" / "checkpoints"


def job_for(job: tuple, recipe: str) -> tuple:
    """The job as ``recipe`` runs it: the gpu recipe continues the shipped checkpoint of the same name where
    the zoo has one (else trains from scratch), one stage, waiting for no other job."""
    if recipe != "gpu":
        return job
    name, link, cbr, snr, steps, _, _ = job
    shipped = ZOO / f"{name}.ckpt"
    init = ["--init", str(shipped)] if shipped.exists() else []
    return (name, link, cbr, snr, steps, [*init, "--schedule", "single"], None)


def _with(args: list[str], flag: str, value: str) -> list[str]:
    """``args`` with ``flag``'s value set to ``value`` (replaced where present, else appended)."""
    args = list(args)
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    return args


def command(job: tuple, *, out: Path, recipe: str, nproc: int, extra: list[str], steps: int | None = None,
            val_every: int | None = None) -> list[str]:
    """The ``semcom train`` command line of one job (``steps``: instead of the recipe's own count)."""
    name, link, cbr, snr, _, args, _ = job_for(job, recipe)
    common = list(COMMON[recipe])
    if link != "sp-jscc" and recipe == "cpu":
        common += ["--dataset-param", "spikes=false"]  # no spike camera needed: faster synthesis
    if val_every is not None:
        common = _with(common, "--val-every", str(val_every))
    widths = [a for w in TINY_WIDTHS[link] for a in ("--codec-param", w)] if recipe == "tiny" else []
    n_steps = steps if steps is not None else steps_of(job, recipe)
    train_args = ["--link", link, "--cbr", cbr, *snr, "--steps", str(n_steps), "--out", str(out / f"{name}.ckpt"),
                  "-q", *common, *widths, *[a.replace("{out}", str(out)) for a in args], *extra]
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                "-m", "semcom.train", *train_args]
    return [sys.executable, "-m", "semcom.train", *train_args]


def steps_of(job: tuple, recipe: str) -> int:
    return max(3, int(job[4] * STEP_SCALE[recipe]))


def complete(out: Path, job: tuple, recipe: str, plan: dict[str, int] | None = None) -> bool:
    """Whether the job's checkpoint holds its final step (a finished job is not started again)."""
    from semcom.errors import SemcomError
    from semcom.zoo.store import read_meta

    path = out / f"{job[0]}.ckpt"
    final = plan[job[0]] if plan and job[0] in plan else steps_of(job, recipe)
    try:
        return path.exists() and int(read_meta(path).get("step", -1)) == final
    except (SemcomError, ValueError, OSError):
        return False


def step_timing(log_csv: Path, wall: float) -> tuple[float, float]:
    """(seconds per step, start-up seconds) of a short run from its training log and the process's wall time:
    the rate between the first and the last log row (the first steps' warm-up left out), and whatever of
    the wall time those steps do not explain."""
    rows = [r for r in csv.DictReader(open(log_csv)) if r.get("seconds")]
    if len(rows) < 2:
        raise ValueError(f"{log_csv}: fewer than two log rows")
    first, last = rows[0], rows[-1]
    per_step = (float(last["seconds"]) - float(first["seconds"])) / (int(last["step"]) - int(first["step"]))
    return per_step, max(0.0, wall - per_step * int(last["step"]))


def plan_steps(timings: dict[str, tuple[float, float]], budget: float, *, safety: float = 0.85,
               minimum: int = 1) -> dict[str, int]:
    """Steps per job so that jobs running side by side, at the measured seconds per step and start-up, end
    within ``budget`` seconds (``safety`` keeps room for validation, checkpoints and slower later stages)."""
    return {name: max(minimum, int((budget - startup) * safety / per_step))
            for name, (per_step, startup) in timings.items()}


def probe(jobs: list[tuple], *, out: Path, recipe: str, nproc: int, extra: list[str], steps: int,
          env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Run every job for ``steps`` steps at once (into ``<out>/probe``) and time them (:func:`step_timing`).
    A job that fails is left out with its log's last line printed."""
    pdir = out / "probe"
    pdir.mkdir(parents=True, exist_ok=True)
    every = max(1, steps // 4)
    procs = []
    for job in jobs:
        cmd = command(job, out=pdir, recipe=recipe, nproc=nproc, extra=extra, steps=steps, val_every=steps)
        cmd = _with(cmd, "--log-every", str(every)) + ["--overwrite"]
        log = open(pdir / f"{job[0]}.log", "w")
        procs.append((job[0], subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), time.time(), log))
    ended: dict[str, float] = {}  # each job's own exit time (waiting in turn would add the others' to it)
    while len(ended) < len(procs):
        for name, proc, _, _ in procs:
            if name not in ended and proc.poll() is not None:
                ended[name] = time.time()
        time.sleep(0.2)
    timings = {}
    for name, proc, t0, log in procs:
        wall = ended[name] - t0
        log.close()
        try:
            if proc.returncode:
                raise ValueError(f"exit {proc.returncode}")
            timings[name] = step_timing(pdir / f"{name}.csv", wall)
            print(f"probe {name}: {timings[name][0] * 1000:.0f} ms/step, start-up {timings[name][1]:.0f} s",
                  flush=True)
        except (ValueError, OSError) as exc:
            tail = (pdir / f"{name}.log").read_text().strip().splitlines()[-1:] or [""]
            print(f"probe {name} failed ({exc}): {tail[0]}", file=sys.stderr, flush=True)
    return timings


def publish_all(out: Path, names: list[str], dest: Path) -> int:
    """Shipped (fp16) copies of the checkpoints in ``out`` into ``dest/checkpoints`` + ``dest/manifest.json``."""
    from semcom.errors import SemcomError
    from semcom.zoo.publish import publish

    dest.mkdir(parents=True, exist_ok=True)
    done = 0
    for name in names:
        path = out / f"{name}.ckpt"
        if path.exists():
            try:
                publish(path, name=name, manifest=dest / "manifest.json")
                done += 1
            except SemcomError as exc:
                print(f"publish {name}: {exc}", file=sys.stderr)
    return done


def summarize(out: Path, names: list[str], plan: dict[str, int] | None = None) -> Path:
    """``<out>/summary.csv``: how each checkpoint was made (from its metadata; ``planned``: the budget's steps)."""
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
                     "val_psnr": None if tr.get("val_psnr") is None else round(float(tr["val_psnr"]), 3),
                     **({"planned": plan.get(name)} if plan else {})})
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
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for all jobs at once, their timing probe included: each job's steps are sized "
                         "to fit, and a job still running at 1.1x the budget is stopped (checkpoint saved)")
    ap.add_argument("--probe-steps", type=int, default=40, help="steps of the timing probe (with --budget)")
    ap.add_argument("--publish", default=None, help="also write fp16 shipped copies and a manifest here")
    args = ap.parse_args(argv)
    recipe = "gpu" if args.device and args.device.startswith("cuda") else args.recipe
    names = [j[0] for j in JOBS]
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(names):
        print(f"unknown job(s) {sorted(only - set(names))} (known: {', '.join(names)})", file=sys.stderr)
        return 2
    if (args.parallel is not None and args.parallel < 1) or args.nproc < 1:
        print("--parallel and --nproc must be at least 1", file=sys.stderr)
        return 2
    queue = [j for j in JOBS if only is None or j[0] in only]
    if args.budget is not None:
        waiting = [j[0] for j in queue if job_for(j, recipe)[6] is not None]
        if args.budget <= 0 or args.probe_steps < 2:
            print("--budget must be positive and --probe-steps at least 2", file=sys.stderr)
            return 2
        if waiting:
            print(f"--budget runs every job at once, but {', '.join(waiting)} start(s) from another job's checkpoint "
                  f"under the {recipe} recipe (under the gpu recipe no job waits for another)", file=sys.stderr)
            return 2
    parallel = len(queue) if args.budget is not None else args.parallel or (4 if recipe == "gpu" else 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extra = args.extra.split()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t_start = time.time()
    plan: dict[str, int] | None = None
    dropped: list[str] = []
    plan_file = out / "plan.json"
    if args.budget is not None:
        plan = json.loads(plan_file.read_text()) if plan_file.exists() else {}
        unplanned = [j for j in queue if j[0] not in plan]
        if unplanned:
            timings = probe(unplanned, out=out, recipe=recipe, nproc=args.nproc, extra=extra,
                            steps=args.probe_steps, env=env)
            left = args.budget - (time.time() - t_start)
            plan.update(plan_steps(timings, left, minimum=args.probe_steps))
            plan_file.write_text(json.dumps(plan, indent=1))
        dropped = [j[0] for j in queue if j[0] not in plan]
        if dropped:
            print(f"not trained (their probe failed): {', '.join(dropped)}", file=sys.stderr)
        queue = [j for j in queue if j[0] in plan]
    running: list[tuple[str, subprocess.Popen, float, object]] = []
    finished: set[str] = set()  # jobs whose checkpoint holds their final step
    for job in list(queue):
        if complete(out, job, recipe, plan):
            queue.remove(job)
            finished.add(job[0])
            print(f"{job[0]}: already complete", flush=True)
    status = 1 if plan is not None and dropped else 0
    deadline = t_start + 1.1 * args.budget if args.budget is not None else None
    try:
        status = _run_queue(queue, running, finished, status, out=out, recipe=recipe, plan=plan, parallel=parallel,
                            nproc=args.nproc, extra=extra, env=env, deadline=deadline)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the trainers save their checkpoints; wait, then report
        for _, proc, _, _ in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc, _, _ in running:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        status = 130
    print(f"summary: {summarize(out, names, plan)}")
    if args.publish:
        print(f"published {publish_all(out, names, Path(args.publish))} checkpoint(s) into {args.publish}")
    return status


def _run_queue(queue: list[tuple], running: list, finished: set[str], status: int, *, out: Path, recipe: str,
               plan: dict[str, int] | None, parallel: int, nproc: int, extra: list[str], env: dict[str, str],
               deadline: float | None) -> int:
    """Start jobs as their prerequisites finish, ``parallel`` at a time, until all have exited; returns the
    first nonzero exit status (or ``status``)."""
    while queue or running:
        while queue and len(running) < parallel:
            queued = {q[0] for q in queue}
            prereq = {j[0]: j for j in JOBS}
            ready = [j for j in queue if job_for(j, recipe)[6] is None or j[6] in finished
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
            steps = plan[job[0]] if plan else None
            cmd = command(job, out=out, recipe=recipe, nproc=nproc, extra=extra, steps=steps,
                          val_every=None if steps is None else _val_every(steps, recipe))
            log = open(out / f"{job[0]}.log", "a")
            log.write(" ".join(cmd) + "\n")
            log.flush()
            running.append((job[0], subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), time.time(),
                            log))
            print(f"started {job[0]}" + (f" ({steps} steps)" if steps else ""), flush=True)
        time.sleep(0.5)
        if deadline is not None and time.time() > deadline:
            for name, proc, _, _ in running:
                if proc.poll() is None:
                    print(f"{name}: past the budget, stopped (its checkpoint is saved)", flush=True)
                    proc.send_signal(signal.SIGTERM)  # SIGINT may be ignored in a background job
            deadline = None
        for item in list(running):
            name, proc, t0, log = item
            if proc.poll() is not None:
                running.remove(item)
                log.close()
                job = next(j for j in JOBS if j[0] == name)
                if proc.returncode == 0 and complete(out, job, recipe, plan):  # only then may dependants start
                    finished.add(name)
                print(f"finished {name}: exit {proc.returncode} after {time.time() - t0:.0f} s", flush=True)
                status = status or proc.returncode
    return status


def _val_every(steps: int, recipe: str) -> int:
    """About 15 validations per run, on a multiple of the recipe's --log-every."""
    every = int(COMMON[recipe][COMMON[recipe].index("--log-every") + 1])
    return max(every, round(steps / 15 / every) * every)


if __name__ == "__main__":
    from semcom.cli import raise_interrupt

    signal.signal(signal.SIGTERM, raise_interrupt)  # `timeout` and `kill` stop the zoo as Ctrl-C does
    sys.exit(main())
