"""The JSCC backbone study: candidates trained on the image task at equal wall-clock compute.

Each candidate (backbone, size, latent grid) trains the image-transmission link
(``image-deepjscc[-BACKBONE]``: a sharp photograph in, the same photograph out) at one CBR,
SNR-adaptive over 0-20 dB, for the same wall-clock budget on this machine, one run at a time.
The number of steps that fills the budget comes from a probe of the candidate's training step
(forward, channel, backward, Adam) on a batch of the training size, taken before the run and
kept in the plan, so a resumed study trains exactly what it planned.  After training, each
candidate is scored on the held-out photographs at one SNR beside ``image-bpg-capacity`` and
``image-bpg-ldpc``.

Everything a run needs to resume lives under ``--state`` (git-ignored: checkpoints with the
optimizer and the log); what is published goes to ``--out``:

* ``runs.csv``: one row per finished candidate: parameters, probe and measured seconds per step,
  samples, final validation PSNR and its slope over the last quarter of the budget (dB per
  minute), test PSNR / SSIM at the evaluation SNR, the gap to the capacity bound, inference ms per
  256x256 frame;
* ``curves.png``: validation PSNR against wall time and against samples, one line per candidate;
* ``logs/<candidate>.csv``: each run's training log (the learning curve's data).

    python -m semcom.bench.backbones run --budget-min 6 --round 1     # resumes; one job at a time
    python -m semcom.bench.backbones plan --budget-min 6 --round 2    # probe now (idle machine), train later
    python -m semcom.bench.backbones report                           # runs.csv + curves.png

A tiny configuration runs in the test suite (``tests/test_backbone_study.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from semcom.bench.results import read_json, read_rows, write_json, write_table
from semcom.errors import SemcomError

DEFAULT_STATE = Path(".study/jscc-backbones")
DEFAULT_OUT = Path("results/jscc-backbones")
LINKS = {"conv": "image-deepjscc", "resconv": "image-deepjscc-resconv", "swin": "image-deepjscc-swin"}


@dataclass(frozen=True)
class Candidate:
    """One design point: a backbone at a size and a latent grid (``None``: the backbone's default)."""

    backbone: str
    width: int | None = None
    depth: int | None = None
    downsample: int = 16
    #: peak learning rate at batch 8 in place of the study's shared one (a named departure)
    lr: float | None = None

    @property
    def name(self) -> str:
        from semcom.codecs.backbones import backbone_defaults

        w, d, ds = backbone_defaults(self.backbone, width=self.width, depth=self.depth, downsample=self.downsample)
        return f"{self.backbone}-w{w}-d{d}-ds{ds}" + (f"-lr{self.lr:g}" if self.lr is not None else "")

    @property
    def link(self) -> str:
        return LINKS[self.backbone]

    def codec_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"downsample": self.downsample}
        if self.width is not None:
            out["width"] = self.width
        if self.depth is not None:
            out["depth"] = self.depth
        return out


#: the study's rounds, in the order they run: each backbone at its default size on both latent grids;
#: then sizes around the leader on the better (1/8) grid, and Swin at the lower learning rate
#: Swin JSCCs are published with (1e-4), since it diverged at the shared one on the 1/16 grid
#: (round 3 first ran conv at width 128 on the 1/16 grid, kept as measured)
ROUNDS: dict[int, tuple[Candidate, ...]] = {
    1: (Candidate("conv"), Candidate("resconv"), Candidate("swin")),
    2: (Candidate("conv", downsample=8), Candidate("resconv", downsample=8), Candidate("swin", downsample=8)),
    3: (Candidate("conv", width=128), Candidate("resconv", width=32, downsample=8),
        Candidate("resconv", width=96, downsample=8), Candidate("swin", downsample=8, lr=1e-4)),
}


@dataclass(frozen=True)
class StudySettings:
    """What every candidate shares (equal treatment)."""

    cbr: float = 1 / 48
    snr_range: tuple[float, float] = (0.0, 20.0)
    eval_snr: float = 10.0
    batch: int = 16
    size: int = 128
    n_train: int = 1056
    n_val: int = 32
    lr: float = 5e-4
    amp: bool = True
    log_every: int = 10
    eval_limit: int | None = None
    eval_size: int | None = None
    #: a probe waits (at most ``probe_patience_s``) for the load average to fall below this
    probe_max_load: float = 1.5
    probe_patience_s: float = 900.0
    #: training and evaluation source instead of the links' own (``photos-image``); tests use a small one
    dataset: str | None = None


def wait_for_idle(max_load: float = 1.5, *, patience_s: float = 900.0, poll_s: float = 15.0) -> float:
    """Wait (up to ``patience_s``) until the 1-minute load average is below ``max_load``; the load then.

    A probe is a wall-clock measurement: taken while other work shares the cores it would plan
    too few steps.  (Process CPU time is no cure: with the cores oversubscribed it grows too.)"""
    import os

    deadline = time.monotonic() + patience_s
    load = os.getloadavg()[0]
    while load >= max_load and time.monotonic() < deadline:
        time.sleep(poll_s)
        load = os.getloadavg()[0]
    return load


def probe_seconds_per_step(cand: Candidate, s: StudySettings, *, steps: int = 4) -> float:
    """Median wall seconds of one training step of ``cand`` (after one warm-up step) on random frames."""
    import torch

    from semcom.channels.awgn import AWGN
    from semcom.codecs.deepjscc import DeepJSCC
    from semcom.sources.base import Batch

    torch.manual_seed(0)
    codec = DeepJSCC(cbr=s.cbr, source="sharp", backbone=cand.backbone, **cand.codec_params())
    opt = torch.optim.Adam(codec.parameters(), lr=1e-4)
    channel = AWGN()
    x = torch.rand(s.batch, 3, s.size, s.size)
    batch = Batch(blurry=x, sharp=x, events=None)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        snr = torch.rand(s.batch) * (s.snr_range[1] - s.snr_range[0]) + s.snr_range[0]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=s.amp):
            out = codec.transmit_train(batch, channel, snr_db=snr).reception.image
        loss = torch.nn.functional.mse_loss(out.float(), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def inference_ms(cand: Candidate, s: StudySettings, *, side: int = 256, repeats: int = 3) -> float:
    """Milliseconds to encode and decode one ``side x side`` frame (batch 1, no autograd)."""
    import torch

    from semcom.channels.awgn import AWGN
    from semcom.codecs.deepjscc import DeepJSCC
    from semcom.sources.base import Batch

    codec = DeepJSCC(cbr=s.cbr, source="sharp", backbone=cand.backbone, **cand.codec_params()).eval()
    x = torch.rand(1, 3, side, side)
    batch = Batch(blurry=x, sharp=x, events=None)
    snr = torch.tensor([s.eval_snr])
    times = []
    with torch.no_grad():
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            tx = codec.encode(batch, snr_db=snr)
            codec.decode(AWGN()(tx.symbols, snr_db=snr), tx, snr_db=snr)
            if i:
                times.append(time.perf_counter() - t0)
    return 1000 * sorted(times)[len(times) // 2]


def parameters(cand: Candidate, s: StudySettings) -> int:
    from semcom.codecs.deepjscc import DeepJSCC

    codec = DeepJSCC(cbr=s.cbr, source="sharp", backbone=cand.backbone, **cand.codec_params())
    return sum(p.numel() for p in codec.parameters())


def _plan(cand: Candidate, s: StudySettings, budget_s: float, state: Path) -> dict[str, Any]:
    """The candidate's plan (probe once, then read back): steps that fill ``budget_s``."""
    path = state / f"{cand.name}.plan.json"
    plan = read_json(path)
    if plan.get("budget_s") == budget_s and plan.get("settings") == _settings_dict(s):
        return plan
    if plan.get("settings") == _settings_dict(s):  # another budget: the step time was measured already
        sec, load = plan["probe_s_per_step"], plan["load_at_probe"]
    else:
        load = wait_for_idle(s.probe_max_load, patience_s=s.probe_patience_s)
        sec = probe_seconds_per_step(cand, s)
    plan = {"candidate": cand.name, "budget_s": budget_s, "probe_s_per_step": sec, "load_at_probe": load,
            "steps": max(20, int(budget_s / sec) // s.log_every * s.log_every), "settings": _settings_dict(s),
            "codec_params": cand.codec_params(), "backbone": cand.backbone, "link": cand.link}
    state.mkdir(parents=True, exist_ok=True)
    write_json(path, plan)
    return plan


def _settings_dict(s: StudySettings) -> dict[str, Any]:
    d = asdict(s)
    d["snr_range"] = list(s.snr_range)
    for key in ("probe_max_load", "probe_patience_s"):  # how a plan is made, not what it trains
        d.pop(key)
    return d


def run_candidate(cand: Candidate, s: StudySettings, *, budget_s: float, state: Path, out: Path,
                  progress: bool = True) -> dict[str, Any]:
    """Train (or resume, or find finished) one candidate and score it; its row of ``runs.csv``."""
    from semcom.train.trainer import train

    state.mkdir(parents=True, exist_ok=True)
    plan = _plan(cand, s, budget_s, state)
    tag = f"{cand.name}-b{int(budget_s)}"
    ckpt = state / f"{tag}.ckpt"
    done = state / f"{tag}.done.json"
    if not done.exists():
        val_every = max(s.log_every, plan["steps"] // 6 // s.log_every * s.log_every)
        t0 = time.perf_counter()
        train(cand.link, cbr=s.cbr, snr_range=s.snr_range, steps=plan["steps"], out=ckpt, batch_size=s.batch,
              lr=s.lr if cand.lr is None else cand.lr, size=s.size, n_train=s.n_train, n_val=s.n_val, val_every=val_every, amp=s.amp,
              log_every=s.log_every, checkpoint_every=max(s.log_every, plan["steps"] // 10),
              codec_params=cand.codec_params(), progress=progress, dataset=s.dataset,
              lam=1.0)  # train()'s default before TrainConfig: part of the checkpoints' identity, kept
        write_json(done, {"seconds": time.perf_counter() - t0})
    log = ckpt.with_suffix(".csv")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "logs" / f"{tag}.csv").write_text(log.read_text())
    score = evaluate(cand.link, s, checkpoint=ckpt, out=state / "evals")
    rows = read_rows(log)
    val = [(float(r["seconds"]), float(r["val_psnr"])) for r in rows if r.get("val_psnr")]
    last = val[-1][1] if val else math.nan
    slope = math.nan
    if len(val) >= 3:
        t_end = val[-1][0]
        early = [v for v in val if v[0] <= 0.75 * t_end]
        if early and t_end > early[-1][0]:
            slope = (val[-1][1] - early[-1][1]) / ((t_end - early[-1][0]) / 60)
    steps_done = int(rows[-1]["step"]) if rows else 0
    seconds = float(rows[-1]["seconds"]) if rows else math.nan
    return {"candidate": cand.name, "backbone": cand.backbone, "budget_s": budget_s,
            "width_depth_ds": json.dumps(cand.codec_params(), sort_keys=True), "params": parameters(cand, s),
            "probe_s_per_step": plan["probe_s_per_step"], "steps": steps_done,
            "s_per_step": seconds / max(1, steps_done), "samples": steps_done * s.batch, "train_seconds": seconds,
            "val_psnr": last, "val_slope_db_per_min": slope, "test_psnr": score["psnr"], "test_ssim": score["ssim"],
            "infer_ms_256": inference_ms(cand, s)}


def evaluate(link: str, s: StudySettings, *, checkpoint: Path | None, out: Path) -> dict[str, float]:
    """PSNR / SSIM of ``link`` on the held-out photographs at the evaluation SNR."""
    from semcom.bench.sweep import SweepConfig, run_sweep

    params = {"size": s.eval_size} if s.eval_size else {}
    cfg = SweepConfig(link=link, cbr=s.cbr, snr_db=(s.eval_snr,), checkpoint=None if checkpoint is None
                      else str(checkpoint), metrics=("psnr", "ssim"), limit=s.eval_limit, dataset=s.dataset,
                      dataset_params=params)
    row = read_rows(run_sweep(cfg, out_dir=out, progress=False, notice=lambda m: None))[-1]
    return {"psnr": float(row["psnr"]), "ssim": float(row["ssim"])}


def report(out: Path, rows: Sequence[dict[str, Any]], s: StudySettings, *, state: Path) -> None:
    """``runs.csv`` (with the bounds' rows) and ``curves.png`` from the finished candidates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bounds = {name: evaluate(name, s, checkpoint=None, out=state / "evals")
              for name in ("image-bpg-capacity", "image-bpg-ldpc")}
    table = [{**r, "gap_to_capacity_db": bounds["image-bpg-capacity"]["psnr"] - r["test_psnr"]} for r in rows]
    for name, b in bounds.items():
        table.append({"candidate": name, "test_psnr": b["psnr"], "test_ssim": b["ssim"]})
    out.mkdir(parents=True, exist_ok=True)
    write_table(out / "runs.csv", table)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for r in rows:
        tag = f"{r['candidate']}-b{int(r['budget_s'])}"
        log = read_rows(out / "logs" / f"{tag}.csv")
        pts = [(float(x["seconds"]) / 60, int(x["samples"]), float(x["val_psnr"])) for x in log if x.get("val_psnr")]
        if not pts:
            continue
        label = f"{r['candidate']} ({r['params'] / 1e6:.2f} M, {int(r['budget_s'] / 60)} min)"
        axes[0].plot([p[0] for p in pts], [p[2] for p in pts], label=label)
        axes[1].plot([p[1] for p in pts], [p[2] for p in pts], label=label)
    axes[0].set_xlabel("wall time on this CPU (min)")
    axes[1].set_xlabel("training samples")
    for ax in axes:
        ax.set_ylabel(f"validation PSNR (dB), SNR drawn in {s.snr_range[0]:g}-{s.snr_range[1]:g} dB")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"JSCC backbones on the image task at equal compute, CBR 1/{round(1 / s.cbr)} "
                 f"(capacity bound at {s.eval_snr:g} dB on the test photos: {bounds['image-bpg-capacity']['psnr']:.2f} dB)",
                 fontsize=10)
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)


def _finished_rows(out: Path) -> list[dict[str, Any]]:
    rows = []
    for r in read_rows(out / "runs.csv"):
        if r.get("backbone"):
            rows.append({k: (float(v) if k not in ("candidate", "backbone", "width_depth_ds") and v != "" else v)
                         for k, v in r.items() if k != "gap_to_capacity_db"})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m semcom.bench.backbones", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("run", "plan", "report", "list"))
    ap.add_argument("--round", type=int, action="append", help="rounds to run (default: all, in order)")
    ap.add_argument("--candidate", action="append", help="run only these candidate names")
    ap.add_argument("--budget-min", type=float, default=6.0)
    ap.add_argument("--state", type=Path, default=DEFAULT_STATE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    s = StudySettings()
    rounds = args.round or sorted(ROUNDS)
    cands = [c for r in rounds for c in ROUNDS[r] if not args.candidate or c.name in args.candidate]
    if args.command == "list":
        for c in cands:
            print(c.name, c.link, c.codec_params())
        return 0
    if args.command == "plan":  # probe every listed candidate now (while the machine is idle), train nothing
        for c in cands:
            plan = _plan(c, s, args.budget_min * 60, args.state)
            print(c.name, f"{plan['probe_s_per_step']:.3f} s/step", plan["steps"], "steps")
        return 0
    rows = _finished_rows(args.out)
    if args.command == "run":
        for c in cands:
            budget = args.budget_min * 60
            if any(r["candidate"] == c.name and r["budget_s"] == budget for r in rows):
                continue
            print(f"[study] {c.name}: {args.budget_min:g} min", file=sys.stderr, flush=True)
            row = run_candidate(c, s, budget_s=budget, state=args.state, out=args.out, progress=False)
            rows = [r for r in rows if not (r["candidate"] == c.name and r["budget_s"] == budget)] + [row]
            report(args.out, rows, s, state=args.state)
            print(f"[study] {c.name}: val {row['val_psnr']:.2f} dB, test {row['test_psnr']:.2f} dB at "
                  f"{s.eval_snr:g} dB, {row['steps']} steps", file=sys.stderr, flush=True)
    else:
        report(args.out, rows, s, state=args.state)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SemcomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
