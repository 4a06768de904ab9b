"""STRA's ablation table on synthetic video (exact inputs, equal training budget), like STRA's Tables 1-3.

Every learned back-end is trained here by ``semcom train``'s code on the same sequences of
``synth-blur-video`` (training split: ``--n-train`` sequences of 3 exposures at ``--size``, the last
``--val`` held out for validation), for the same steps, batch (``--batch`` sequences = 3x as many frames),
learning rate and seed:

* ``unet-xattn``: the single-frame U-Net with event cross attention (each frame and its own SCER);
* ``stra-frames``: STRA without events (three consecutive blurry frames);
* ``stra-notmb``: STRA without the Temporal Memory Block (three frames, the current frame's events);
* ``stra``: STRA full (three frames, three event sequences);
* ``stra-notmb-skips``, ``stra-skips``: the last two with the current event sequence's features also joined
  to the decoder at the finer scales (``event_skips``, ours).

They are scored on the test split (every frame of every sequence, 256x256) against the sharp frames, with
the blurry frame itself and EDI per frame (raw events, the camera's nominal contrast) as references.
Each row gives parameters and CPU throughput in frames/s at 180x320 (one sequence of 3 frames a pass,
``torch`` threads as set).  Writes ``results/stra/table.csv``, each model's training log and curve
under ``results/stra/training/`` (the shipped ``stra`` and ``stra-skips``: ``results/training/<checkpoint>.*``)
and the checkpoints under ``--ckpt`` (resumed if present).

    python benchmarks/stra.py [--steps 1500] [--n-train 352] [--val 32] [--out results/stra]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semcom.bench.results import write_table
from semcom.link import Link, find_link, receiver_takes_weights
from semcom.metrics.functional import psnr, ssim
from semcom.receivers.edi import EDI
from semcom.registry import SOURCES
from semcom.sources.base import Batch, collate
from semcom.train import train
from semcom.train.curves import plot_training_log
from semcom.zoo.store import load_checkpoint

HERE = Path(__file__).resolve().parent
MODELS = {  # row label -> link (name or file)
    "single-frame U-Net with events (unet-xattn)": "unet-xattn",
    "STRA frame-only (no events)": str(HERE / "links" / "stra-frames.toml"),
    "STRA without TMB": str(HERE / "links" / "stra-notmb.toml"),
    "STRA full": "stra",
    "STRA without TMB, event skips (ours)": str(HERE / "links" / "stra-notmb-skips.toml"),
    "STRA full, event skips (ours)": "stra-skips",
}
#: the models shipped as zoo checkpoints: their curves go where every shipped checkpoint's curve goes
SHIPPED = {"stra": "stra-cbr1-1-snr0", "stra-skips": "stra-skips-cbr1-1-snr0"}


def throughput(receiver: torch.nn.Module, *, reps: int = 5) -> float:
    """Frames per second of a back-end at 180x320, one sequence of three frames per pass (eval, no grad)."""
    g = torch.Generator().manual_seed(0)
    img, ev = torch.rand(3, 3, 180, 320, generator=g), torch.randn(3, 6, 180, 320, generator=g) * 4
    info = tuple({"sequence": 0, "exposure_index": k, "exposures": 3} for k in range(3))
    batch = Batch(sharp=img, blurry=img, events=ev, info=info)
    receiver.eval()
    with torch.no_grad():
        receiver(img, events=ev, batch=batch)  # warm-up
        t0 = time.perf_counter()
        for _ in range(reps):
            receiver(img, events=ev, batch=batch)
    return 3 * reps / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=8, help="sequences per step")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--n-train", type=int, default=352)
    ap.add_argument("--val", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="test sequences (default: the whole test split)")
    ap.add_argument("--only", default=None, help="comma-separated row labels' links to train (default: all)")
    ap.add_argument("--out", default="results/stra")
    ap.add_argument("--ckpt", default="ckpt/stra", help="where the trained checkpoints are kept")
    args = ap.parse_args()
    out_dir, ck_dir = Path(args.out), Path(args.ckpt)
    (out_dir / "training").mkdir(parents=True, exist_ok=True)
    ck_dir.mkdir(parents=True, exist_ok=True)

    test = SOURCES.build("synth-blur-video", split="test", limit=args.limit)
    from semcom.sources.video import SequenceFrames

    frames = SequenceFrames(test)
    batches = [collate([frames[i] for i in group]) for group in frames.sequence_batches(6)]
    sharp = torch.cat([b.sharp for b in batches])
    methods = {
        "blurry input": (lambda b: b.blurry, 0, None, None),
        "EDI per frame (raw events, nominal contrast)": (
            lambda b: EDI(source="raw", contrast="source")(b.blurry, batch=b), 0, None, None),
    }
    only = None if args.only is None else set(args.only.split(","))
    for label, link_name in MODELS.items():
        stem = Path(link_name).stem
        if only is not None and stem not in only:
            continue
        t0 = time.perf_counter()
        ck = ck_dir / f"{stem}.ckpt"
        train(link_name, cbr=1.0, snr_db=0.0, steps=args.steps, batch_size=args.batch, lr=args.lr,
                    dataset="synth-blur-video", size=args.size, n_train=args.n_train + args.val, n_val=args.val,
                    val_every=100, log_every=10, checkpoint_every=100, workers=args.workers, out=ck, progress=True)
        if ck.with_suffix(".csv").exists():  # the curve drawn from the copy: a shipped one is titled by its entry
            # a shipped model's curve lives with the other shipped checkpoints' curves (results/training/)
            curve = (out_dir.parent / "training" / f"{SHIPPED[stem]}.csv" if stem in SHIPPED
                     else out_dir / "training" / f"{stem}.csv")
            curve.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ck.with_suffix(".csv"), curve)
            plot_training_log(curve, curve.with_suffix(".png"))
        spec = find_link(link_name)
        if receiver_takes_weights(spec):  # STRA: the checkpoint goes to the back-end
            link = Link(spec, cbr=1.0, codec_overrides={"checkpoint": str(ck)}).eval()
        else:  # the U-Net takes no weights argument: load them by hand
            link = Link(spec, cbr=1.0).eval()
            link.receiver.load_state_dict(load_checkpoint(ck).receiver)
        receiver = link.receiver

        def run(b: Batch, receiver=receiver) -> torch.Tensor:
            with torch.no_grad():
                return receiver(b.blurry, batch=b).clamp(0, 1)

        trained = load_checkpoint(ck).meta.get("training", {})
        secs, val = trained.get("seconds"), trained.get("val_psnr")
        methods[label] = (run, sum(p.numel() for p in receiver.parameters()), throughput(receiver), secs)
        print(f"{label}: {secs} s of training (validation {val:.2f} dB; {time.perf_counter() - t0:.0f} s now)",
              flush=True)

    rows, base, values = [], None, {}
    for name, (fn, params, fps, secs) in methods.items():
        t0 = time.perf_counter()
        out = torch.cat([fn(b) for b in batches])
        p = psnr(out, sharp).double().numpy()
        s = ssim(out, sharp).double().numpy()
        values[name] = p
        base = p if base is None else base
        gain = p - base
        half = 1.96 * np.std(gain, ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else float("nan")
        rows.append({"method": name, "frames": len(p), "psnr": f"{np.mean(p):.3f}",
                     "psnr_ci95": f"{1.96 * np.std(p, ddof=1) / np.sqrt(len(p)):.3f}", "ssim": f"{np.mean(s):.4f}",
                     "gain_over_blurry_db": f"{np.mean(gain):.3f}", "gain_ci95": f"{half:.3f}",
                     "parameters": params, "fps_cpu_180x320": "" if fps is None else f"{fps:.2f}",
                     "train_steps": args.steps if params else 0, "train_seconds": "" if secs is None else secs,
                     "eval_seconds": f"{time.perf_counter() - t0:.1f}"})
        print(f"{name:<48} PSNR {np.mean(p):6.2f} dB  SSIM {np.mean(s):.4f}  gain {np.mean(gain):+.2f} dB", flush=True)
    write_table(out_dir / "table.csv", rows)
    # the paired differences the targets are about (same frames, so the noise of the test set cancels)
    unet, frames = "single-frame U-Net with events (unet-xattn)", "STRA frame-only (no events)"
    pairs = [("STRA full", unet, 0.5), ("STRA full", frames, 1.5), ("STRA full", "STRA without TMB", 0.0),
             ("STRA full, event skips (ours)", unet, 0.5), ("STRA full, event skips (ours)", frames, 1.5),
             ("STRA full, event skips (ours)", "STRA without TMB, event skips (ours)", 0.0)]
    diffs = []
    for a, b, target in pairs:
        if a in values and b in values:
            d = values[a] - values[b]
            diffs.append({"comparison": f"{a} - {b}", "psnr_diff_db": f"{np.mean(d):.3f}",
                          "ci95": f"{1.96 * np.std(d, ddof=1) / np.sqrt(len(d)):.3f}", "target_db": target,
                          "met": bool(np.mean(d) >= target if target else np.mean(d) > 0)})
            print(f"{a} - {b}: {np.mean(d):+.3f} dB (target {target:+.1f})", flush=True)
    if diffs:
        write_table(out_dir / "targets.csv", diffs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
